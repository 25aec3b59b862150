/* satchel: subcommand dispatch only. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void
usage(FILE *f)
{
	fputs("usage: satchel COMMAND [ARGS]\n"
	      "  serve [-c FILE] [--dev]        run the mail server\n"
	      "  config check [-c FILE]         check a configuration file\n"
	      "  user add|passwd|del|list ...   manage the passwd-file\n"
	      "  pw hash [--scheme S]           print a password hash\n"
	      "  index rebuild|check USER       rebuild or verify a user's index\n"
	      "  version                        print the version\n",
	      f);
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EX_USAGE_;
	}
	if (strcmp(argv[1], "serve") == 0)
		return cli_serve(argc - 2, argv + 2);
	if (strcmp(argv[1], "config") == 0)
		return cli_config(argc - 2, argv + 2);
	if (strcmp(argv[1], "user") == 0)
		return cli_user(argc - 2, argv + 2);
	if (strcmp(argv[1], "index") == 0)
		return cli_index(argc - 2, argv + 2);
	if (strcmp(argv[1], "pw") == 0)
		return cli_pw(argc - 2, argv + 2);
	if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
		puts("satchel 0.1.0");
		return 0;
	}
	if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "satchel: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return EX_USAGE_;
}
