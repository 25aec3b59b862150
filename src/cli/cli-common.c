/* cli-common: configuration lookup and password input for subcommands. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "xalloc.h"

#define CLI_PASSWORD_MAX 1024

const char *
cli_config_path(const char *given)
{
	const char *env;

	if (given != NULL)
		return given;
	env = getenv("SATCHEL_CONFIG");
	if (env != NULL && env[0] != '\0')
		return env;
	if (access("var/satchel.conf", F_OK) == 0)
		return "var/satchel.conf";
	return "/etc/satchel/satchel.conf";
}

struct conf *
cli_load_config(const char *path)
{
	struct conf *conf;
	char *errors = NULL;

	if (conf_load(path, &conf, &errors) < 0) {
		fprintf(stderr, "%s", errors != NULL ? errors : "invalid configuration\n");
		free(errors);
		return NULL;
	}
	return conf;
}

void
cli_wipe_free(char *secret)
{
	if (secret == NULL)
		return;
	OPENSSL_cleanse(secret, strlen(secret));
	free(secret);
}

/* One line from fd into a malloc'd string without its newline. */
static char *
read_line(FILE *f)
{
	char buf[CLI_PASSWORD_MAX + 2];
	size_t len;

	if (fgets(buf, sizeof(buf), f) == NULL)
		return NULL;
	len = strlen(buf);
	if (len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	else if (len > CLI_PASSWORD_MAX) {
		OPENSSL_cleanse(buf, sizeof(buf));
		return NULL;
	}
	if (len > 0 && buf[len - 1] == '\r')
		buf[--len] = '\0';
	{
		char *p = xstrdup(buf);

		OPENSSL_cleanse(buf, sizeof(buf));
		return p;
	}
}

static char *
prompt(const char *text)
{
	struct termios old, noecho;
	FILE *tty = fopen("/dev/tty", "r+e");
	char *line;

	if (tty == NULL)
		return NULL;
	fputs(text, tty);
	fflush(tty);
	tcgetattr(fileno(tty), &old);
	noecho = old;
	noecho.c_lflag &= ~(tcflag_t)ECHO;
	tcsetattr(fileno(tty), TCSAFLUSH, &noecho);
	line = read_line(tty);
	tcsetattr(fileno(tty), TCSAFLUSH, &old);
	fputs("\n", tty);
	fclose(tty);
	return line;
}

char *
cli_read_password(int lines)
{
	char *a, *b;
	bool interactive = isatty(STDIN_FILENO);

	a = interactive ? prompt("Password: ") : read_line(stdin);
	if (a == NULL) {
		fprintf(stderr, "satchel: no password given (or longer than %d bytes)\n",
			CLI_PASSWORD_MAX);
		return NULL;
	}
	if (a[0] == '\0') {
		fprintf(stderr, "satchel: empty password refused\n");
		cli_wipe_free(a);
		return NULL;
	}
	if (lines < 2 && !interactive)
		return a;
	b = interactive ? prompt("Retype password: ") : read_line(stdin);
	if (b == NULL || strcmp(a, b) != 0) {
		fprintf(stderr, "satchel: passwords do not match\n");
		cli_wipe_free(a);
		cli_wipe_free(b);
		return NULL;
	}
	cli_wipe_free(b);
	return a;
}
