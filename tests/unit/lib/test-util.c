/* Unit tests for the small lib pieces: buf, arena, strnum, log_sanitize,
 * net_parse_addr. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "arena.h"
#include "buf.h"
#include "log.h"
#include "net.h"
#include "strnum.h"

static void
test_buf_max(void **state)
{
	struct buf b;

	buf_init(&b, 8);
	assert_int_equal(buf_append_str(&b, "abcd"), 0);
	assert_int_equal(buf_append_str(&b, "efgh"), 0);
	assert_int_equal(b.len, 8);
	/* past the maximum: refused, contents unchanged */
	assert_int_equal(buf_append_byte(&b, 'x'), -1);
	assert_int_equal(b.len, 8);
	assert_string_equal(buf_cstr(&b), "abcdefgh");
	assert_int_equal(buf_printf(&b, "%d", 1), -1);
	buf_consume(&b, 3);
	assert_string_equal(buf_cstr(&b), "defgh");
	assert_int_equal(buf_printf(&b, "%s", "123"), 0);
	assert_string_equal(buf_cstr(&b), "defgh123");
	buf_reset(&b);
	assert_null(b.data);
	assert_int_equal(b.max, 8);
	assert_string_equal(buf_cstr(&b), "");
	buf_deinit(&b);
}

static void
test_buf_binary(void **state)
{
	struct buf b;
	static const uint8_t bin[] = { 0, 1, 0, 255 };

	buf_init(&b, 0);
	assert_int_equal(buf_append(&b, bin, sizeof(bin)), 0);
	assert_int_equal(b.len, 4);
	assert_memory_equal(b.data, bin, 4);
	assert_int_equal(b.data[4], 0);
	for (int i = 0; i < 10000; i++)
		assert_int_equal(buf_append_byte(&b, 'z'), 0);
	assert_int_equal(b.len, 10004);
	buf_deinit(&b);
}

static void
test_arena(void **state)
{
	struct arena a;
	char *s, *big;
	int *arr;

	arena_init(&a);
	s = arena_strdup(&a, "hello");
	assert_string_equal(s, "hello");
	assert_int_equal((uintptr_t)s % 16, 0);
	big = arena_alloc(&a, 100000);
	memset(big, 'x', 100000);
	arr = arena_allocarray(&a, 10, sizeof(int));
	for (int i = 0; i < 10; i++)
		assert_int_equal(arr[i], 0);
	assert_string_equal(arena_printf(&a, "%d-%s", 42, "x"), "42-x");
	assert_string_equal(arena_strndup(&a, "abcdef", 3), "abc");
	assert_string_equal(s, "hello");
	arena_reset(&a);
	assert_null(a.head);
	arena_reset(&a);
}

static void
test_strnum(void **state)
{
	uint64_t v;
	uint32_t v32;

	assert_true(str_to_u64z("0", 10, &v));
	assert_int_equal(v, 0);
	assert_true(str_to_u64z("0010", 10, &v));
	assert_int_equal(v, 10);
	assert_false(str_to_u64z("11", 10, &v));
	assert_false(str_to_u64z("", 10, &v));
	assert_false(str_to_u64z("-1", UINT64_MAX, &v));
	assert_false(str_to_u64z("+1", UINT64_MAX, &v));
	assert_false(str_to_u64z(" 1", UINT64_MAX, &v));
	assert_false(str_to_u64z("1 ", UINT64_MAX, &v));
	assert_true(str_to_u64z("18446744073709551615", UINT64_MAX, &v));
	assert_true(v == UINT64_MAX);
	assert_false(str_to_u64z("18446744073709551616", UINT64_MAX, &v));
	assert_true(str_to_u32("4294967295", 10, &v32));
	assert_true(v32 == UINT32_MAX);
	assert_false(str_to_u32("4294967296", 10, &v32));
	assert_false(str_to_u32("12", 1, &v32) && v32 != 1);
}

static void
test_log_sanitize(void **state)
{
	char out[16];

	assert_string_equal(log_sanitize(out, sizeof(out), "ab c\r\n", 6), "ab?c??");
	assert_string_equal(log_sanitize(out, sizeof(out), "a=\"b\\", 5), "a??b?");
	assert_string_equal(log_sanitize(out, sizeof(out), "0123456789abcdefghij", 20),
			    "0123456789ab...");
	assert_string_equal(log_sanitize(out, sizeof(out), "x\0y", 3), "x?y");
	assert_string_equal(log_sanitize(out, sizeof(out), "", 0), "");
}

static void
test_net_parse_addr(void **state)
{
	struct sockaddr_storage ss;
	socklen_t len;
	const char *err;
	char text[64];

	assert_int_equal(net_parse_addr("127.0.0.1:143", &ss, &len, &err), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(net_get_port(&ss), 143);
	assert_true(net_is_loopback((struct sockaddr *)&ss));
	net_addr_port_str((struct sockaddr *)&ss, text, sizeof(text));
	assert_string_equal(text, "127.0.0.1:143");
	assert_int_equal(net_parse_addr("[::1]:993", &ss, &len, &err), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_true(net_is_loopback((struct sockaddr *)&ss));
	net_addr_port_str((struct sockaddr *)&ss, text, sizeof(text));
	assert_string_equal(text, "[::1]:993");
	assert_int_equal(net_parse_addr("*:0", &ss, &len, &err), 0);
	assert_false(net_is_loopback((struct sockaddr *)&ss));
	assert_int_equal(net_parse_addr("localhost:1", &ss, &len, &err), 0);
	assert_true(net_is_loopback((struct sockaddr *)&ss));
	assert_int_equal(net_parse_addr("10.0.0.1:70000", &ss, &len, &err), -1);
	assert_int_equal(net_parse_addr("10.0.0.1", &ss, &len, &err), -1);
	assert_int_equal(net_parse_addr("[::1:993", &ss, &len, &err), -1);
	assert_int_equal(net_parse_addr("300.1.1.1:1", &ss, &len, &err), -1);
	assert_int_equal(net_parse_addr("[zz]:1", &ss, &len, &err), -1);
	assert_int_equal(net_parse_addr("1.2.3.4:-1", &ss, &len, &err), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_max),
		cmocka_unit_test(test_buf_binary),
		cmocka_unit_test(test_arena),
		cmocka_unit_test(test_strnum),
		cmocka_unit_test(test_log_sanitize),
		cmocka_unit_test(test_net_parse_addr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
