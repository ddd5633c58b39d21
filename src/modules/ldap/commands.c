/* The ldap module's status-socket commands, for operators:
 *
 *   scoutctl auth test USER   a password (asked at the terminal, never a
 *                             command-line word) checked by the same
 *                             path a printer login takes
 *   scoutctl user USER        what the directory says of a user (or of a
 *   scoutctl user --card N    badge), from the cache or the directory */
#include <errno.h>
#include <string.h>

#include "ldap.h"
#include "loop/status.h"

static void cmd_auth_test(struct scout_mod *m, struct scout_status_req *req, json_t *request)
{
	struct ldap *l = scout_mod_priv(m);
	json_t *user = json_object_get(request, "user"), *pw = json_object_get(request, "password");
	struct ldap_req *q;
	int r;

	if (!json_is_string(user) || !json_is_string(pw) || json_string_length(pw) == 0 ||
	    json_string_length(pw) > LDAP_MAX_PASSWORD) {
		scout_status_error(req, "bad_request", "auth test needs a user name and a password (1 to %d bytes)",
				   LDAP_MAX_PASSWORD);
		return;
	}
	if ((r = ldap_req_new(l, LDAP_REQ_AUTH, &q)) < 0) {
		scout_status_error(req, "unavailable", "ldap: %s",
				   r == -EAGAIN ? "too many requests at once" : strerror(-r));
		return;
	}
	q->sreq = req;
	snprintf(q->source, sizeof(q->source), "scoutctl");
	/* the request's copy of the password is wiped by the host once this
	 * returns; the request keeps its own */
	if ((r = ldap_auth_start(l, q, json_string_value(user), json_string_length(user), json_string_value(pw),
				 json_string_length(pw))) < 0) {
		ldap_req_free(q);
		scout_status_error(req, "bad_request",
				   "auth test needs a user name and a password (1 to %d bytes, no NUL)",
				   LDAP_MAX_PASSWORD);
	}
}

static void cmd_user(struct scout_mod *m, struct scout_status_req *req, json_t *request)
{
	struct ldap *l = scout_mod_priv(m);
	json_t *user = json_object_get(request, "user");
	bool card = json_is_true(json_object_get(request, "card"));
	struct ldap_req *q;
	int r;

	if (!json_is_string(user)) {
		scout_status_error(req, "bad_request", "user needs a user name (or a card number with --card)");
		return;
	}
	if ((r = ldap_req_new(l, LDAP_REQ_LOOKUP, &q)) < 0) {
		scout_status_error(req, "unavailable", "ldap: %s",
				   r == -EAGAIN ? "too many requests at once" : strerror(-r));
		return;
	}
	q->sreq = req;
	(void)ldap_lookup_start(l, q, json_string_value(user), json_string_length(user), card);
}

static const struct scout_arg auth_test_args[] = {
	{"user", SCOUT_ARG_STRING, true, "the user's name (alice, alice@example.com, EXAMPLE\\alice)"},
	{"password", SCOUT_ARG_SECRET, true, "password"},
	{0},
};
static const char *const auth_test_text[] = {"{user}: {result}", NULL};

static const struct scout_arg user_args[] = {
	{"user", SCOUT_ARG_STRING, true, "the user's name, or a card number with --card"},
	{"card", SCOUT_ARG_FLAG, false, "look up by card number (card_attribute)"},
	{0},
};

const struct scout_command ldap_commands[] = {
	{"auth test", cmd_auth_test,
	 "checks a password against the directory, as a printer login would (the password is asked for)",
	 auth_test_args, NULL, auth_test_text},
	/* no text line: every attribute is shown as a key: value line */
	{"user", cmd_user, "a user's attributes and groups, from the cache or the directory", user_args, NULL, NULL},
	{0},
};
