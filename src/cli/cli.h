/* cli: the satchel subcommands.  Each takes the arguments after its own
 * name and returns the process exit status (sysexits-style codes). */
#ifndef CLI_H
#define CLI_H

#include "conf.h"

int cli_serve(int argc, char **argv);
int cli_config(int argc, char **argv);
int cli_user(int argc, char **argv);
int cli_pw(int argc, char **argv);
int cli_index(int argc, char **argv);

/* Shared helpers (cli-common.c). */
/* -c FILE, else $SATCHEL_CONFIG, else ./var/satchel.conf if present (a
 * --dev server's directory), else /etc/satchel/satchel.conf. */
const char *cli_config_path(const char *given);
/* Load and report every problem on stderr; NULL on failure. */
struct conf *cli_load_config(const char *path);
/* Read a password: prompt twice without echo on a terminal, else read
 * `lines` lines from stdin that must match.  malloc'd, NULL on error
 * (message printed).  Caller wipes and frees. */
char *cli_read_password(int lines);
void cli_wipe_free(char *secret);

#define EX_OK_ 0
#define EX_USAGE_ 64
#define EX_DATAERR_ 65
#define EX_SOFTWARE_ 70
#define EX_CANTCREAT_ 73
#define EX_CONFIG_ 78

#endif
