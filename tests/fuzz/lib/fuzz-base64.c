/* libFuzzer target for base64.c.  Invariants: decoding never overruns;
 * whatever decodes re-encodes to exactly the input (the decoder accepts
 * only the canonical form); and any bytes encode and decode back to
 * themselves. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "buf.h"

#define MAX_INPUT 65536

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf dec, enc, small;

	if (size > MAX_INPUT)
		return 0;
	buf_init(&dec, 0);
	buf_init(&enc, 0);
	if (base64_decode(&dec, data, size) == 0) {
		if (dec.len != size / 4 * 3 - (size > 0 && data[size - 1] == '=') -
		    (size > 1 && data[size - 2] == '='))
			abort();
		if (base64_encode(&enc, dec.data, dec.len) != 0 ||
		    enc.len != size || (size > 0 && memcmp(enc.data, data, size) != 0))
			abort();
	}
	buf_clear(&dec);
	buf_clear(&enc);
	if (base64_encode(&enc, data, size) != 0 ||
	    base64_decode(&dec, enc.data, enc.len) != 0 || dec.len != size ||
	    (size > 0 && memcmp(dec.data, data, size) != 0))
		abort();
	/* a capped output buffer fails cleanly */
	buf_init(&small, size / 2);
	if (size >= 8 && base64_encode(&small, data, size) == 0)
		abort();
	(void)base64_decode(&small, data, size);
	buf_deinit(&small);
	buf_deinit(&dec);
	buf_deinit(&enc);
	return 0;
}
