/* Unit tests for throttle.c: delay doubling and cap, per-user limit, IP
 * refusal and window expiry (time passed explicitly), success clearing,
 * eviction bound, parameter changes and concurrent use. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <pthread.h>

#include <cmocka.h>

#include "throttle.h"

static const struct throttle_params base = {
	.delay_ms = 100,
	.max_delay_ms = 1600,
	.ip_limit = 0,
	.user_limit = 0,
	.window = 60,
	.max_entries = 1000,
};

static void
test_doubling(void **state)
{
	static const unsigned expect[] = {
		100, 200, 400, 800, 1600, 1600, 1600,
	};
	struct throttle *t = throttle_new(&base);
	size_t i;

	(void)state;
	assert_non_null(t);
	for (i = 0; i < sizeof(expect) / sizeof(expect[0]); i++)
		assert_int_equal(throttle_failure(t, "192.0.2.1", NULL,
						  1000 + (time_t)i), expect[i]);
	/* a different IP starts at the bottom */
	assert_int_equal(throttle_failure(t, "192.0.2.2", NULL, 1010), 100);
	/* many failures don't overflow */
	for (i = 0; i < 100; i++)
		assert_int_equal(throttle_failure(t, "192.0.2.3", NULL, 1010),
				 i == 0 ? 100 : i == 1 ? 200 : i == 2 ? 400 :
				 i == 3 ? 800 : 1600);
	throttle_free(&t);
	assert_null(t);
	throttle_free(&t);
}

static void
test_cap_below_delay(void **state)
{
	struct throttle_params p = base;
	struct throttle *t;

	(void)state;
	p.delay_ms = 5000;
	p.max_delay_ms = 3000;
	t = throttle_new(&p);
	assert_int_equal(throttle_failure(t, "a", "u", 1), 3000);
	throttle_free(&t);
	p.delay_ms = 0;
	t = throttle_new(&p);
	assert_int_equal(throttle_failure(t, "a", "u", 1), 0);
	assert_int_equal(throttle_failure(t, "a", "u", 1), 0);
	throttle_free(&t);
}

static void
test_user(void **state)
{
	struct throttle_params p = base;
	struct throttle *t;
	char ip[32];
	int i;

	(void)state;
	p.user_limit = 3;
	t = throttle_new(&p);
	/* one user attacked from many IPs: the user's count drives it */
	assert_int_equal(throttle_failure(t, "10.0.0.1", "bob", 100), 100);
	assert_int_equal(throttle_failure(t, "10.0.0.2", "bob", 101), 200);
	assert_int_equal(throttle_failure(t, "10.0.0.3", "bob", 102), 1600);
	for (i = 4; i < 20; i++) {
		snprintf(ip, sizeof(ip), "10.0.0.%d", i);
		assert_int_equal(throttle_failure(t, ip, "bob", 103), 1600);
		/* the user is never locked out, only slowed down */
		assert_true(throttle_ip_allowed(t, ip, 103));
	}
	/* the larger of IP and user delay: a fresh user from a busy IP */
	assert_int_equal(throttle_failure(t, "10.0.0.1", "carol", 104), 200);
	/* success clears the user, not the IP */
	throttle_success(t, "10.0.0.50", "bob");
	assert_int_equal(throttle_failure(t, "10.0.0.99", "bob", 105), 100);
	assert_int_equal(throttle_failure(t, "10.0.0.1", "bob", 106), 400);
	/* success for unknown names and NULLs is harmless */
	throttle_success(t, "x", "nobody");
	throttle_success(t, NULL, NULL);
	/* user names are case-sensitive keys */
	assert_int_equal(throttle_failure(t, "10.0.1.1", "BOB", 107), 100);
	throttle_free(&t);
}

static void
test_ip_limit(void **state)
{
	struct throttle_params p = base;
	struct throttle *t;
	int i;

	(void)state;
	p.ip_limit = 5;
	t = throttle_new(&p);
	for (i = 0; i < 4; i++) {
		throttle_failure(t, "198.51.100.7", NULL, 1000 + i);
		assert_true(throttle_ip_allowed(t, "198.51.100.7", 1000 + i));
	}
	throttle_failure(t, "198.51.100.7", NULL, 1004);
	assert_false(throttle_ip_allowed(t, "198.51.100.7", 1004));
	assert_false(throttle_ip_allowed(t, "198.51.100.7", 1004 + 59));
	assert_true(throttle_ip_allowed(t, "198.51.100.8", 1004));
	/* the window passes: allowed, and the count starts over */
	assert_true(throttle_ip_allowed(t, "198.51.100.7", 1004 + 60));
	assert_int_equal(throttle_failure(t, "198.51.100.7", NULL, 1004 + 60),
			 100);
	assert_true(throttle_ip_allowed(t, "198.51.100.7", 1004 + 60));
	/* a success doesn't lift an IP block */
	for (i = 0; i < 5; i++)
		throttle_failure(t, "203.0.113.1", "eve", 2000);
	assert_false(throttle_ip_allowed(t, "203.0.113.1", 2000));
	throttle_success(t, "203.0.113.1", "eve");
	assert_false(throttle_ip_allowed(t, "203.0.113.1", 2001));
	/* the clock stepping back doesn't unblock or crash */
	assert_false(throttle_ip_allowed(t, "203.0.113.1", 10));
	/* NULL IP: nothing to limit */
	assert_true(throttle_ip_allowed(t, NULL, 2000));
	assert_int_equal(throttle_failure(t, NULL, NULL, 2000), 0);
	assert_int_equal(throttle_failure(t, NULL, "zed", 2000), 100);
	throttle_free(&t);
}

static void
test_window_expiry(void **state)
{
	struct throttle *t = throttle_new(&base);

	(void)state;
	assert_int_equal(throttle_failure(t, "a", "u", 0), 100);
	assert_int_equal(throttle_failure(t, "a", "u", 30), 200);
	/* the window counts from the last failure */
	assert_int_equal(throttle_failure(t, "a", "u", 89), 400);
	assert_int_equal(throttle_failure(t, "a", "u", 149), 100);
	throttle_free(&t);
}

static void
test_eviction(void **state)
{
	struct throttle_params p = base;
	struct throttle *t;
	char ip[32];
	int i;

	(void)state;
	p.ip_limit = 1;
	p.max_entries = 8;
	t = throttle_new(&p);
	for (i = 0; i < 1000; i++) {
		snprintf(ip, sizeof(ip), "10.1.%d.%d", i / 256, i % 256);
		throttle_failure(t, ip, NULL, 100);
		assert_false(throttle_ip_allowed(t, ip, 100));
	}
	/* only the 8 most recent survive */
	for (i = 0; i < 1000; i++) {
		snprintf(ip, sizeof(ip), "10.1.%d.%d", i / 256, i % 256);
		assert_int_equal(throttle_ip_allowed(t, ip, 100), i < 992);
	}
	/* touching an old entry keeps it over newer ones */
	throttle_failure(t, "10.1.3.224", NULL, 101); /* i = 992 */
	for (i = 0; i < 7; i++) {
		snprintf(ip, sizeof(ip), "10.2.0.%d", i);
		throttle_failure(t, ip, NULL, 102);
	}
	assert_false(throttle_ip_allowed(t, "10.1.3.224", 102));
	assert_true(throttle_ip_allowed(t, "10.1.3.225", 102));

	/* shrinking the table evicts at once; growing works too */
	p.max_entries = 2;
	throttle_set_params(t, &p);
	assert_false(throttle_ip_allowed(t, "10.2.0.6", 102));
	assert_false(throttle_ip_allowed(t, "10.2.0.5", 102));
	assert_true(throttle_ip_allowed(t, "10.2.0.4", 102));
	p.max_entries = 5000;
	throttle_set_params(t, &p);
	for (i = 0; i < 3000; i++) {
		snprintf(ip, sizeof(ip), "10.3.%d.%d", i / 256, i % 256);
		throttle_failure(t, ip, NULL, 103);
	}
	for (i = 0; i < 3000; i++) {
		snprintf(ip, sizeof(ip), "10.3.%d.%d", i / 256, i % 256);
		assert_false(throttle_ip_allowed(t, ip, 103));
	}
	assert_false(throttle_ip_allowed(t, "10.2.0.6", 103));
	/* params changed, counts kept: raising the limit unblocks */
	p.ip_limit = 2;
	throttle_set_params(t, &p);
	assert_true(throttle_ip_allowed(t, "10.2.0.6", 103));
	throttle_free(&t);
}

static void
test_long_keys(void **state)
{
	struct throttle *t = throttle_new(&base);
	char a[600], b[600];

	(void)state;
	memset(a, 'a', sizeof(a) - 1);
	a[sizeof(a) - 1] = '\0';
	memcpy(b, a, sizeof(a));
	b[500] = 'b'; /* differs only past the key limit: same entry */
	assert_int_equal(throttle_failure(t, "ip", a, 1), 100);
	assert_int_equal(throttle_failure(t, "ip2", b, 1), 200);
	/* IP and user namespaces are separate */
	assert_int_equal(throttle_failure(t, "same", "same", 1), 100);
	throttle_free(&t);
}

struct thread_arg {
	struct throttle *t;
	int id;
};

static void *
worker(void *p)
{
	struct thread_arg *arg = p;
	char ip[32];
	int i;

	for (i = 0; i < 5000; i++) {
		snprintf(ip, sizeof(ip), "10.%d.%d.%d", arg->id, i / 256 % 4,
			 i % 256);
		(void)throttle_ip_allowed(arg->t, ip, 5);
		(void)throttle_failure(arg->t, ip, i % 3 ? "shared" : NULL, 5);
		if (i % 7 == 0)
			throttle_success(arg->t, ip, "shared");
	}
	return NULL;
}

static void
test_threads(void **state)
{
	struct throttle_params p = base;
	struct thread_arg args[4];
	pthread_t th[4];
	struct throttle *t;
	int i;

	(void)state;
	p.max_entries = 100;
	p.ip_limit = 3;
	t = throttle_new(&p);
	for (i = 0; i < 4; i++) {
		args[i].t = t;
		args[i].id = i;
		assert_int_equal(pthread_create(&th[i], NULL, worker, &args[i]),
				 0);
	}
	for (i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	throttle_free(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_doubling),
		cmocka_unit_test(test_cap_below_delay),
		cmocka_unit_test(test_user),
		cmocka_unit_test(test_ip_limit),
		cmocka_unit_test(test_window_expiry),
		cmocka_unit_test(test_eviction),
		cmocka_unit_test(test_long_keys),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
