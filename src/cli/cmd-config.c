/* cmd-config: `satchel config check [-c FILE]`. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

int
cli_config(int argc, char **argv)
{
	const char *path = NULL;
	struct conf *conf;
	int i;

	if (argc < 1 || strcmp(argv[0], "check") != 0) {
		fprintf(stderr, "usage: satchel config check [-c FILE]\n");
		return EX_USAGE_;
	}
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			path = argv[++i];
		} else {
			fprintf(stderr, "satchel: unexpected argument '%s'\n", argv[i]);
			return EX_USAGE_;
		}
	}
	path = cli_config_path(path);
	conf = cli_load_config(path);
	if (conf == NULL)
		return EX_CONFIG_;
	printf("%s: configuration OK\n", path);
	conf_free(&conf);
	return EX_OK_;
}
