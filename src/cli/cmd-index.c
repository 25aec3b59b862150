/* cmd-index: `satchel index rebuild|check USER [-c FILE]`.  Rebuild is
 * meant for a stopped server (the daemon keeps its index open). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "passdb.h"
#include "store.h"

int
cli_index(int argc, char **argv)
{
	const char *config = NULL, *name = NULL, *error, *perr;
	struct passdb *db;
	struct passdb_user *pu = NULL;
	struct conf *conf;
	enum store_error err;
	char home[4096], *report = NULL;
	int i, ret;

	if (argc < 1 || (strcmp(argv[0], "rebuild") != 0 &&
			 strcmp(argv[0], "check") != 0)) {
		fprintf(stderr, "usage: satchel index rebuild|check USER [-c FILE]\n");
		return EX_USAGE_;
	}
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			config = argv[++i];
		else if (argv[i][0] != '-' && name == NULL)
			name = argv[i];
		else {
			fprintf(stderr, "satchel: unexpected argument '%s'\n", argv[i]);
			return EX_USAGE_;
		}
	}
	if (name == NULL || !passdb_name_valid(name)) {
		fprintf(stderr, "satchel: a valid user name is required\n");
		return EX_USAGE_;
	}
	conf = cli_load_config(cli_config_path(config));
	if (conf == NULL)
		return EX_CONFIG_;
	db = passdb_new(conf->passwd_file, &perr);
	if (db != NULL && passdb_lookup(db, name, &pu) > 0 && pu->home[0] != '\0')
		snprintf(home, sizeof(home), "%s", pu->home);
	else
		snprintf(home, sizeof(home), "%s/users/%s", conf->data_dir, name);
	passdb_user_free(&pu);
	passdb_free(&db);
	if (strcmp(argv[0], "rebuild") == 0)
		ret = store_index_rebuild(name, home, &report, &err, &error);
	else
		ret = store_index_check(name, home, &report, &err, &error);
	store_shutdown(); /* background flag renames, if the open queued any */
	if (report != NULL)
		fputs(report, stdout);
	free(report);
	conf_free(&conf);
	if (ret < 0) {
		fprintf(stderr, "satchel: %s\n", error);
		return EX_SOFTWARE_;
	}
	return ret == 0 ? EX_OK_ : 1;
}
