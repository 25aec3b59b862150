/* libFuzzer target for imap-utf7: decode the input as modified UTF-7; if
 * that succeeds, encoding the result must give the input back (strictness:
 * one spelling per name).  Then the other way: encode the input as UTF-8;
 * if that succeeds, decoding must give the input back.  On failure the
 * output buffer must be unchanged. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap-utf7.h"

#define FUZZ_MAX_INPUT 16384

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf a, b;

	if (size > FUZZ_MAX_INPUT)
		return 0;
	buf_init(&a, 0);
	buf_init(&b, 0);

	if (imap_utf7_to_utf8(&a, (const char *)data, size) == 0) {
		if (memchr(a.data == NULL ? (const uint8_t *)"" : a.data, '\0',
			   a.len) != NULL)
			abort();
		if (imap_utf8_to_utf7(&b, buf_cstr(&a), a.len) < 0)
			abort();
		if (b.len != size || (size > 0 && memcmp(b.data, data, size) != 0))
			abort();
	} else if (a.len != 0) {
		abort();
	}

	buf_clear(&a);
	buf_clear(&b);
	if (imap_utf8_to_utf7(&a, (const char *)data, size) == 0) {
		if (imap_utf7_to_utf8(&b, buf_cstr(&a), a.len) < 0)
			abort();
		if (b.len != size || (size > 0 && memcmp(b.data, data, size) != 0))
			abort();
	} else if (a.len != 0) {
		abort();
	}
	buf_deinit(&a);
	buf_deinit(&b);
	return 0;
}
