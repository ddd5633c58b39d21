/* libFuzzer target for what printers send back to the deliverer: an IPP
 * response decoded (codec.c) and read the way probe.c and deliver.c read
 * it: the capabilities of a Get-Printer-Attributes answer
 * (ipp_caps_from_response, then format negotiation), the job-id and
 * job-state of a Print-Job or Get-Job-Attributes answer, and its
 * status-message.
 *
 * Whatever the printer says: at most 32 formats, each a NUL-terminated
 * string inside its field; make-and-model, uuid, serial and status-message
 * NUL-terminated inside their buffers and free of control characters (they
 * reach logs and scoutctl); copies_max never negative; job-id -1 or
 * positive; job-state -1 or 3..9; a chosen format is one the printer
 * listed. */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "modules/ipp/codec.h"
#include "modules/ipp/deliver.h"
#include "modules/ipp/ippc.h"

static void check_text(const char *s, size_t size)
{
	size_t n = strnlen(s, size);

	CHECK(n < size);
	for (size_t i = 0; i < n; i++)
		CHECK((unsigned char)s[i] >= 0x20 && s[i] != 0x7f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[IPP_ERR_LEN], msg[200];
	struct ipp_msg m;
	struct ipp_caps caps;

	if (ipp_decode(data, size, &m, err, sizeof(err)) < 0)
		return 0;
	ippc_status_message(&m, msg, sizeof(msg));
	check_text(msg, sizeof(msg));
	int32_t id = ippc_job_id(&m), state = ippc_job_state(&m);
	CHECK(id == -1 || id > 0);
	CHECK(state == -1 || (state >= IPPC_JOB_PENDING && state <= IPPC_JOB_COMPLETED));
	int r = ipp_caps_from_response(&m, &caps);
	CHECK(r == 0 || r == -EBADMSG);
	if (r == 0) {
		CHECK(caps.nformats <= 32);
		for (unsigned i = 0; i < caps.nformats; i++) {
			CHECK(strnlen(caps.formats[i], sizeof(caps.formats[i])) < sizeof(caps.formats[i]));
			CHECK(caps.formats[i][0] != 0);
			const char *f = ipp_format_choose(&caps, caps.formats[i]);
			CHECK(f && strcmp(f, caps.formats[i]) == 0);
		}
		CHECK(caps.copies_max >= 0);
		check_text(caps.make_model, sizeof(caps.make_model));
		check_text(caps.uuid, sizeof(caps.uuid));
		check_text(caps.serial, sizeof(caps.serial));
		CHECK(ipp_format_choose(&caps, "application/x-not-a-printer-format") == NULL || caps.nformats > 0);
	}
	ipp_msg_free(&m);
	return 0;
}
