/* cmd-user: `satchel user add|passwd|del|list` and `satchel pw hash`.
 * Passwords come from a prompt or stdin, never from argv (argv is visible
 * to every local user in ps). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "passdb.h"
#include "password.h"

struct user_args {
	const char *config;
	const char *scheme;
	const char *name;
};

static int
parse_args(int argc, char **argv, struct user_args *a, bool want_name)
{
	int i;

	memset(a, 0, sizeof(*a));
	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			a->config = argv[++i];
		else if (strcmp(argv[i], "--scheme") == 0 && i + 1 < argc)
			a->scheme = argv[++i];
		else if (argv[i][0] != '-' && a->name == NULL && want_name)
			a->name = argv[i];
		else {
			fprintf(stderr, "satchel: unexpected argument '%s'\n", argv[i]);
			return -1;
		}
	}
	if (want_name && a->name == NULL) {
		fprintf(stderr, "satchel: a user name is required\n");
		return -1;
	}
	return 0;
}

static char *
new_hash(const struct conf *conf, const char *scheme)
{
	const char *error;
	char *pw, *hash;

	pw = cli_read_password(2);
	if (pw == NULL)
		return NULL;
	hash = password_hash(scheme != NULL ? scheme : conf->default_scheme, pw,
			     strlen(pw), &error);
	cli_wipe_free(pw);
	if (hash == NULL)
		fprintf(stderr, "satchel: %s\n", error);
	return hash;
}

static void
list_one(const struct passdb_user *u, void *ctx)
{
	printf("%s\n", u->name);
}

int
cli_user(int argc, char **argv)
{
	struct user_args a;
	struct conf *conf;
	const char *error, *verb;
	char *hash;
	int ret;

	if (argc < 1) {
		fprintf(stderr, "usage: satchel user add|passwd|del|list [NAME] [-c FILE] [--scheme S]\n");
		return EX_USAGE_;
	}
	verb = argv[0];
	if (parse_args(argc - 1, argv + 1, &a, strcmp(verb, "list") != 0) < 0)
		return EX_USAGE_;
	conf = cli_load_config(cli_config_path(a.config));
	if (conf == NULL)
		return EX_CONFIG_;
	if (a.name != NULL && !passdb_name_valid(a.name)) {
		fprintf(stderr, "satchel: invalid user name '%s' (1-64 of A-Z a-z 0-9 . _ @ + -)\n",
			a.name);
		conf_free(&conf);
		return EX_DATAERR_;
	}
	ret = EX_OK_;
	if (strcmp(verb, "add") == 0 || strcmp(verb, "passwd") == 0) {
		hash = new_hash(conf, a.scheme);
		if (hash == NULL) {
			ret = EX_DATAERR_;
		} else {
			if ((strcmp(verb, "add") == 0 ?
			     passdb_file_add(conf->passwd_file, a.name, hash, &error) :
			     passdb_file_set_password(conf->passwd_file, a.name, hash,
						      &error)) < 0) {
				fprintf(stderr, "satchel: %s: %s\n", conf->passwd_file,
					error);
				ret = EX_CANTCREAT_;
			} else {
				printf("%s %s in %s\n", a.name,
				       strcmp(verb, "add") == 0 ? "added" :
				       "password changed", conf->passwd_file);
			}
			cli_wipe_free(hash);
		}
	} else if (strcmp(verb, "del") == 0) {
		if (passdb_file_del(conf->passwd_file, a.name, &error) < 0) {
			fprintf(stderr, "satchel: %s: %s\n", conf->passwd_file, error);
			ret = EX_DATAERR_;
		} else {
			printf("%s deleted from %s\n", a.name, conf->passwd_file);
		}
	} else if (strcmp(verb, "list") == 0) {
		if (passdb_file_list(conf->passwd_file, list_one, NULL, &error) < 0) {
			fprintf(stderr, "satchel: %s: %s\n", conf->passwd_file, error);
			ret = EX_DATAERR_;
		}
	} else {
		fprintf(stderr, "satchel: unknown user command '%s'\n", verb);
		ret = EX_USAGE_;
	}
	conf_free(&conf);
	return ret;
}

int
cli_pw(int argc, char **argv)
{
	const char *scheme = "ARGON2ID", *error;
	char *pw, *hash;
	int i;

	if (argc < 1 || strcmp(argv[0], "hash") != 0) {
		fprintf(stderr, "usage: satchel pw hash [--scheme S]\n");
		return EX_USAGE_;
	}
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--scheme") == 0 && i + 1 < argc) {
			scheme = argv[++i];
		} else {
			fprintf(stderr, "satchel: unexpected argument '%s'\n", argv[i]);
			return EX_USAGE_;
		}
	}
	pw = cli_read_password(1);
	if (pw == NULL)
		return EX_DATAERR_;
	hash = password_hash(scheme, pw, strlen(pw), &error);
	cli_wipe_free(pw);
	if (hash == NULL) {
		fprintf(stderr, "satchel: %s (schemes: SHA512-CRYPT BLF-CRYPT ARGON2ID SCRAM-SHA-256 PLAIN)\n",
			error);
		return EX_USAGE_;
	}
	printf("%s\n", hash);
	cli_wipe_free(hash);
	return EX_OK_;
}
