/* scoutd: parse the command line, then check the config or run the agent. */
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loop/agent.h"
#include "loop/secret.h"

static void usage(FILE *out)
{
	fprintf(out, "Usage: scoutd [-c FILE] [--check-config]\n"
		     "\n"
		     "The scout secure-print agent.\n"
		     "\n"
		     "  -c, --config FILE   run on FILE (default: the embedded configuration,\n"
		     "                      state under ./var, socket ./var/scoutd.sock)\n"
		     "      --check-config  validate the configuration, print FILE:LINE: problems,\n"
		     "                      exit 0 when it is good and 1 when it is not\n"
		     "      --print-default print the embedded configuration and exit\n"
		     "      --config-reference  print every section and key as Markdown and exit\n"
		     "  -V, --version       print the version and exit\n"
		     "  -h, --help          print this help and exit\n"
		     "\n"
		     "Signals: SIGHUP reloads the configuration, SIGTERM and SIGINT stop.\n");
}

int main(int argc, char **argv)
{
	enum { OPT_CHECK = 256, OPT_PRINT_DEFAULT, OPT_REFERENCE };
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"check-config", no_argument, NULL, OPT_CHECK},
		{"print-default", no_argument, NULL, OPT_PRINT_DEFAULT},
		{"config-reference", no_argument, NULL, OPT_REFERENCE},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *config = NULL;
	int check = 0, c;

	scout_json_wipe_frees();
	/* A big print job crosses the bus in 256 KiB pieces, each copied a few
	 * times: above glibc's default 128 KiB threshold every copy would be a
	 * fresh mmap, faulted in page by page and unmapped when freed (a fifth
	 * of a 50 MB job's intake time). From the heap they are reused; freed
	 * memory above 8 MiB still goes back to the system. */
	mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
	mallopt(M_TRIM_THRESHOLD, 8 * 1024 * 1024);

	while ((c = getopt_long(argc, argv, "c:Vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case OPT_CHECK:
			check = 1;
			break;
		case OPT_PRINT_DEFAULT:
			fputs(scout_default_config, stdout);
			return 0;
		case OPT_REFERENCE:
			scout_agent_config_reference(stdout);
			return 0;
		case 'V':
			printf("scoutd %s\n", SCOUT_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "scoutd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (check)
		return scout_agent_check(config, stdout);
	return scout_agent_run(config);
}
