/* Unit tests for base64.c: RFC 4648 section 10 vectors, strict rejection
 * of non-canonical input, and buffer limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base64.h"
#include "buf.h"

struct vector {
	const char *plain;
	const char *encoded;
};

/* RFC 4648 section 10 */
static const struct vector rfc_vectors[] = {
	{ "", "" },
	{ "f", "Zg==" },
	{ "fo", "Zm8=" },
	{ "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" },
	{ "fooba", "Zm9vYmE=" },
	{ "foobar", "Zm9vYmFy" },
};

static void
test_encode_rfc(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rfc_vectors) / sizeof(rfc_vectors[0]); i++) {
		struct buf b;

		buf_init(&b, 0);
		assert_int_equal(base64_encode(&b, rfc_vectors[i].plain,
					       strlen(rfc_vectors[i].plain)), 0);
		assert_string_equal(buf_cstr(&b), rfc_vectors[i].encoded);
		buf_deinit(&b);
	}
}

static void
test_decode_rfc(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rfc_vectors) / sizeof(rfc_vectors[0]); i++) {
		struct buf b;

		buf_init(&b, 0);
		assert_int_equal(base64_decode(&b, rfc_vectors[i].encoded,
					       strlen(rfc_vectors[i].encoded)),
				 0);
		assert_int_equal(b.len, strlen(rfc_vectors[i].plain));
		assert_memory_equal(buf_cstr(&b), rfc_vectors[i].plain, b.len);
		buf_deinit(&b);
	}
}

static void
test_binary_roundtrip(void **state)
{
	uint8_t data[1000];
	struct buf enc, dec;
	size_t len, i;

	(void)state;
	for (i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 3);
	/* lengths around the internal chunk sizes too */
	for (len = 0; len <= sizeof(data); len += (len < 300 ? 1 : 37)) {
		buf_init(&enc, 0);
		buf_init(&dec, 0);
		assert_int_equal(base64_encode(&enc, data, len), 0);
		assert_int_equal(enc.len, (len + 2) / 3 * 4);
		assert_int_equal(base64_decode(&dec, enc.data, enc.len), 0);
		assert_int_equal(dec.len, len);
		if (len > 0)
			assert_memory_equal(dec.data, data, len);
		buf_deinit(&enc);
		buf_deinit(&dec);
	}
}

static void
test_all_bytes(void **state)
{
	static const char expect[] =
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKiss"
		"LS4vMDEyMzQ1Njc4OTo7PD0+P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZ"
		"WltcXV5fYGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6e3x9fn+AgYKDhIWG"
		"h4iJiouMjY6PkJGSk5SVlpeYmZqbnJ2en6ChoqOkpaanqKmqq6ytrq+wsbKz"
		"tLW2t7i5uru8vb6/wMHCw8TFxsfIycrLzM3Oz9DR0tPU1dbX2Nna29zd3t/g"
		"4eLj5OXm5+jp6uvs7e7v8PHy8/T19vf4+fr7/P3+/w==";
	uint8_t data[256];
	struct buf b;
	size_t i;

	(void)state;
	for (i = 0; i < 256; i++)
		data[i] = (uint8_t)i;
	buf_init(&b, 0);
	assert_int_equal(base64_encode(&b, data, sizeof(data)), 0);
	assert_string_equal(buf_cstr(&b), expect);
	buf_deinit(&b);
}

static int
decode_str(const char *s)
{
	struct buf b;
	int ret;

	buf_init(&b, 0);
	ret = base64_decode(&b, s, strlen(s));
	buf_deinit(&b);
	return ret;
}

static void
test_reject(void **state)
{
	static const char *const bad[] = {
		"Z", "Zg", "Zg=", "Zm9", "Zm9vY",  /* length not a multiple of 4 */
		"Zg=a", "Z===", "====", "Zm==Zm9v", /* padding misplaced */
		"Zm9v====", "Zg==Zg==", "=Zm9",
		"Zh==",     /* non-zero trailing bits (1 byte) */
		"Zm9=",     /* non-zero trailing bits (2 bytes) */
		"Zm9v\n", "Zm9 v", " Zm9", "Zm9v\r\n", /* whitespace */
		"Zm9-", "Zm9_", "Zm9*", "Zm\x80v", "Zm9.",  /* bad characters */
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (decode_str(bad[i]) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
	}
	/* an embedded NUL */
	{
		struct buf b;

		buf_init(&b, 0);
		assert_int_equal(base64_decode(&b, "Zm\0v", 4), -1);
		buf_deinit(&b);
	}
	/* the accepted counterparts of the trailing-bit cases */
	assert_int_equal(decode_str("Zg=="), 0);
	assert_int_equal(decode_str("Zm8="), 0);
}

static void
test_limits(void **state)
{
	struct buf b;

	(void)state;
	/* encode: all or nothing */
	buf_init(&b, 7);
	assert_int_equal(base64_encode(&b, "foobar", 6), -1);
	assert_int_equal(b.len, 0);
	assert_int_equal(base64_encode(&b, "foo", 3), 0);
	assert_int_equal(base64_encode(&b, "foo", 3), -1);
	assert_string_equal(buf_cstr(&b), "Zm9v");
	buf_deinit(&b);

	buf_init(&b, 5);
	assert_int_equal(base64_decode(&b, "Zm9vYmFy", 8), -1);
	buf_deinit(&b);
	buf_init(&b, 6);
	assert_int_equal(base64_decode(&b, "Zm9vYmFy", 8), 0);
	assert_int_equal(b.len, 6);
	buf_deinit(&b);

	/* appends to what is there */
	buf_init(&b, 0);
	assert_int_equal(buf_append_str(&b, "x="), 0);
	assert_int_equal(base64_encode(&b, "f", 1), 0);
	assert_string_equal(buf_cstr(&b), "x=Zg==");
	buf_deinit(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_rfc),
		cmocka_unit_test(test_decode_rfc),
		cmocka_unit_test(test_binary_roundtrip),
		cmocka_unit_test(test_all_bytes),
		cmocka_unit_test(test_reject),
		cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
