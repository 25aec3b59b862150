/* libFuzzer target for conf_load_string(): any text must give either a
 * complete struct or a non-empty error report, never both, never a crash,
 * and everything must be freed (LeakSanitizer checks). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "xalloc.h"

/* Settings files are small; bigger inputs only slow the fuzzer down. */
#define FUZZ_MAX_INPUT (64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf *conf = NULL;
	char *errors = NULL, *text;
	size_t i;

	if (size > FUZZ_MAX_INPUT)
		return 0;
	text = xstrndup((const char *)data, size);
	if (conf_load_string("/fuzz/satchel.conf", text, &conf, &errors) == 0) {
		if (conf == NULL || errors != NULL)
			abort();
		if (conf->imap_listen.count > CONF_MAX_LISTEN ||
		    conf->imaps_listen.count > CONF_MAX_LISTEN ||
		    conf->max_literal_size > conf->max_command_size ||
		    conf->max_line_length > conf->max_command_size ||
		    conf->failure_delay_ms > conf->failure_delay_max_ms)
			abort();
		for (i = 0; i < conf->imap_listen.count; i++) {
			if (conf->imap_listen.addrs[i] == NULL)
				abort();
		}
		if (conf->imaps_listen.count > 0 &&
		    (conf->tls_cert[0] == '\0' || conf->tls_key[0] == '\0'))
			abort();
		conf_free(&conf);
	} else {
		if (conf != NULL || errors == NULL || errors[0] == '\0' ||
		    errors[strlen(errors) - 1] != '\n')
			abort();
		free(errors);
	}
	free(text);
	return 0;
}
