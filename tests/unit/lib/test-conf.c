/* Unit tests for src/lib/conf.c: defaults, every value type, every error
 * class with its exact FILE:LINE, several errors at once, suggestions,
 * relative paths, the shipped example file, and that a failed load leaves
 * the caller's pointer alone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "conf.h"

#ifndef SATCHEL_SOURCE_ROOT
#error "meson passes SATCHEL_SOURCE_ROOT"
#endif
#define EXAMPLE_CONF SATCHEL_SOURCE_ROOT "/satchel.conf.example"

/* Load `text`, expect success, return the struct. */
static struct conf *
load_ok(const char *text)
{
	struct conf *conf = NULL;
	char *errors = NULL;

	if (conf_load_string("/etc/satchel/satchel.conf", text, &conf,
			     &errors) < 0) {
		print_error("unexpected errors:\n%s", errors);
		free(errors);
		fail();
	}
	assert_non_null(conf);
	assert_null(errors);
	return conf;
}

/* Load `text`, expect failure with exactly `expected` as the report, and
 * check *conf_r was not touched. */
static void
load_fails(const char *text, const char *expected)
{
	struct conf sentinel_storage;
	struct conf *sentinel = &sentinel_storage, *conf = sentinel;
	char *errors = NULL;

	assert_int_equal(conf_load_string("t.conf", text, &conf, &errors), -1);
	assert_ptr_equal(conf, sentinel);
	assert_non_null(errors);
	if (strcmp(errors, expected) != 0) {
		print_error("expected:\n%sgot:\n%s", expected, errors);
		free(errors);
		fail();
	}
	free(errors);
}

static void
assert_defaults(const struct conf *c)
{
	assert_string_equal(c->user, "satchel");
	assert_string_equal(c->data_dir, "/var/lib/satchel");
	assert_int_equal(c->workers, 0);
	assert_false(c->log_syslog);
	assert_string_equal(c->log_level, "info");
	assert_int_equal(c->max_connections, 100000);

	assert_int_equal(c->imap_listen.count, 2);
	assert_string_equal(c->imap_listen.addrs[0], "0.0.0.0:143");
	assert_string_equal(c->imap_listen.addrs[1], "[::]:143");
	/* No certificate by default, so no implicit-TLS listener. */
	assert_int_equal(c->imaps_listen.count, 0);
	assert_int_equal(c->max_line_length, 65536);
	assert_true(c->max_literal_size == 52428800);
	assert_int_equal(c->max_command_size, 64 * 1024 * 1024);
	assert_true(c->max_literal_size <= c->max_command_size);
	assert_int_equal(c->max_list_depth, 32);
	assert_int_equal(c->max_args, 10000);
	assert_int_equal(c->max_pipelined, 32);
	assert_int_equal(c->timeout_preauth, 60);
	assert_int_equal(c->timeout_auth, 1800);
	assert_int_equal(c->output_high_water, 256 * 1024);

	assert_string_equal(c->tls_cert, "");
	assert_string_equal(c->tls_key, "");
	assert_string_equal(c->tls_min_version, "TLSv1.2");
	assert_string_equal(c->tls_ciphers, "");
	assert_string_equal(c->tls_ciphersuites, "");

	assert_string_equal(c->passwd_file, "/etc/satchel/passwd");
	assert_false(c->allow_plaintext);
	assert_false(c->allow_plain_scheme);
	assert_string_equal(c->default_scheme, "ARGON2ID");
	assert_string_equal(c->mechanisms, "PLAIN LOGIN SCRAM-SHA-256");
	assert_int_equal(c->failure_delay_ms, 2000);
	assert_int_equal(c->failure_delay_max_ms, 15000);
	assert_int_equal(c->ip_failure_limit, 20);
	assert_int_equal(c->user_failure_limit, 10);
	assert_int_equal(c->failure_window, 300);
	assert_int_equal(c->max_auth_attempts, 3);
	assert_null(c->warnings);
}

static void
test_defaults(void **state)
{
	struct conf *c = conf_new_defaults();

	assert_null(c->path);
	assert_defaults(c);
	conf_free(&c);
	assert_null(c);
	conf_free(&c); /* NULL is fine */

	c = load_ok("");
	assert_string_equal(c->path, "/etc/satchel/satchel.conf");
	assert_defaults(c);
	conf_free(&c);

	c = load_ok("# only comments\n; and blank lines\n\n[server]\n[imap]\n");
	assert_defaults(c);
	conf_free(&c);
}

static void
test_all_types(void **state)
{
	struct conf *c = load_ok(
		"[server]\n"
		"user =\n"
		"data_dir = /srv/mail\n"
		"workers = 256\n"
		"log = SysLog\n"
		"log_level = DEBUG\n"
		"max_connections = 7\n"
		"[imap]\n"
		"listen = 127.0.0.1:0, [::1]:1143,*:143 localhost:65535\n"
		"listen_tls = 192.0.2.1:993\n"
		"max_line_length = 1k\n"
		"max_literal_size = 2G\n"
		"max_command_size = 3g\n"
		"max_list_depth = 1000\n"
		"max_args = 1\n"
		"max_pipelined = 10000\n"
		"timeout_preauth = 1\n"
		"timeout_auth = 604800\n"
		"output_high_water = 4096\n"
		"[tls]\n"
		"cert = /etc/ssl/c.pem\n"
		"key = /etc/ssl/k.pem ; inline comment\n"
		"min_version = tlsv1.3\n"
		"ciphers = HIGH:!aNULL\n"
		"ciphersuites = TLS_AES_256_GCM_SHA384\n"
		"[auth]\n"
		"passwd_file = /p\n"
		"allow_plaintext = yes\n"
		"allow_plain_scheme = TRUE\n"
		"default_scheme = scram-sha-256\n"
		"mechanisms = scram-sha-256, plain\n"
		"failure_delay_ms = 0\n"
		"failure_delay_max_ms = 0\n"
		"ip_failure_limit = 1\n"
		"user_failure_limit = 1000000\n"
		"failure_window = 86400\n"
		"max_auth_attempts = 100\n");

	assert_string_equal(c->user, "");
	assert_string_equal(c->data_dir, "/srv/mail");
	assert_int_equal(c->workers, 256);
	assert_true(c->log_syslog);
	assert_string_equal(c->log_level, "debug");
	assert_int_equal(c->max_connections, 7);
	assert_int_equal(c->imap_listen.count, 4);
	assert_string_equal(c->imap_listen.addrs[0], "127.0.0.1:0");
	assert_string_equal(c->imap_listen.addrs[1], "[::1]:1143");
	assert_string_equal(c->imap_listen.addrs[2], "*:143");
	assert_string_equal(c->imap_listen.addrs[3], "localhost:65535");
	assert_int_equal(c->imaps_listen.count, 1);
	assert_string_equal(c->imaps_listen.addrs[0], "192.0.2.1:993");
	assert_int_equal(c->max_line_length, 1024);
	assert_true(c->max_literal_size == 2ULL << 30);
	assert_true(c->max_command_size == 3ULL << 30);
	assert_int_equal(c->max_list_depth, 1000);
	assert_int_equal(c->max_args, 1);
	assert_int_equal(c->max_pipelined, 10000);
	assert_int_equal(c->timeout_preauth, 1);
	assert_int_equal(c->timeout_auth, 604800);
	assert_int_equal(c->output_high_water, 4096);
	assert_string_equal(c->tls_cert, "/etc/ssl/c.pem");
	assert_string_equal(c->tls_key, "/etc/ssl/k.pem");
	assert_string_equal(c->tls_min_version, "TLSv1.3");
	assert_string_equal(c->tls_ciphers, "HIGH:!aNULL");
	assert_string_equal(c->tls_ciphersuites, "TLS_AES_256_GCM_SHA384");
	assert_string_equal(c->passwd_file, "/p");
	assert_true(c->allow_plaintext);
	assert_true(c->allow_plain_scheme);
	assert_string_equal(c->default_scheme, "SCRAM-SHA-256");
	assert_string_equal(c->mechanisms, "SCRAM-SHA-256 PLAIN");
	assert_int_equal(c->failure_delay_ms, 0);
	assert_int_equal(c->failure_delay_max_ms, 0);
	assert_int_equal(c->ip_failure_limit, 1);
	assert_int_equal(c->user_failure_limit, 1000000);
	assert_int_equal(c->failure_window, 86400);
	assert_int_equal(c->max_auth_attempts, 100);
	assert_null(c->warnings);
	conf_free(&c);
}

static void
test_bool_spellings(void **state)
{
	static const char *const yes[] = { "yes", "Yes", "true", "on", "1" };
	static const char *const no[] = { "no", "NO", "false", "off", "0" };
	char text[128];
	struct conf *c;
	size_t i;

	for (i = 0; i < 5; i++) {
		snprintf(text, sizeof(text), "[auth]\nallow_plaintext = %s\n",
			 yes[i]);
		c = load_ok(text);
		assert_true(c->allow_plaintext);
		conf_free(&c);
		snprintf(text, sizeof(text), "[auth]\nallow_plaintext = %s\n",
			 no[i]);
		c = load_ok(text);
		assert_false(c->allow_plaintext);
		conf_free(&c);
	}
}

static void
test_listen(void **state)
{
	struct conf *c;

	/* Empty value: no listener. */
	c = load_ok("[imap]\nlisten =\n");
	assert_int_equal(c->imap_listen.count, 0);
	conf_free(&c);

	/* Lists continue on indented lines. */
	c = load_ok("[imap]\nlisten = 127.0.0.1:143,\n  [::1]:143\n"
		    "\t127.0.0.2:143\nmax_args = 5\n");
	assert_int_equal(c->imap_listen.count, 3);
	assert_string_equal(c->imap_listen.addrs[2], "127.0.0.2:143");
	assert_int_equal(c->max_args, 5);
	conf_free(&c);

	/* With a certificate the implicit-TLS default appears. */
	c = load_ok("[tls]\ncert = c.pem\nkey = k.pem\n");
	assert_int_equal(c->imaps_listen.count, 2);
	assert_string_equal(c->imaps_listen.addrs[0], "0.0.0.0:993");
	assert_string_equal(c->imaps_listen.addrs[1], "[::]:993");
	conf_free(&c);

	/* ... unless the file turns it off. */
	c = load_ok("[imap]\nlisten_tls =\n[tls]\ncert = c.pem\nkey = k.pem\n");
	assert_int_equal(c->imaps_listen.count, 0);
	conf_free(&c);

	/* Exactly CONF_MAX_LISTEN is fine. */
	c = load_ok("[imap]\nlisten = 127.0.0.1:1, 127.0.0.1:2, 127.0.0.1:3, "
		    "127.0.0.1:4, 127.0.0.1:5, 127.0.0.1:6, 127.0.0.1:7, "
		    "127.0.0.1:8\n");
	assert_int_equal(c->imap_listen.count, CONF_MAX_LISTEN);
	conf_free(&c);
}

static void
test_syntax_forms(void **state)
{
	struct conf *c;

	/* UTF-8 BOM, CRLF line ends, "key: value", indented key right after
	 * a section header (not a continuation), comments of both kinds. */
	c = load_ok("\xEF\xBB\xBF# bom\r\n[imap]\r\n  max_args: 77\r\n"
		    "; semi\r\nmax_pipelined = 9 ; trailing\r\n");
	assert_int_equal(c->max_args, 77);
	assert_int_equal(c->max_pipelined, 9);
	conf_free(&c);

	/* A key of the same name in two [imap] blocks is still a duplicate,
	 * but repeating a section header is fine. */
	c = load_ok("[imap]\nmax_args = 2\n[auth]\n[imap]\nmax_pipelined = 3\n");
	assert_int_equal(c->max_args, 2);
	assert_int_equal(c->max_pipelined, 3);
	conf_free(&c);
}

static void
test_syntax_errors(void **state)
{
	load_fails("[imap]\nmax_args 5\n",
		   "t.conf:2: syntax error: expected 'key = value', "
		   "'[section]' or a '#' comment\n");
	load_fails("[imap\nmax_args = 5\n",
		   "t.conf:1: syntax error: section header without closing "
		   "']'\n");
	/* Every syntax error is reported, not only inih's first one. */
	load_fails("oops\n[imap]\nmax_args = 5\nbad line\n[auth\n",
		   "t.conf:1: syntax error: expected 'key = value', "
		   "'[section]' or a '#' comment\n"
		   "t.conf:4: syntax error: expected 'key = value', "
		   "'[section]' or a '#' comment\n"
		   "t.conf:5: syntax error: section header without closing "
		   "']'\n");
}

static void
test_long_line(void **state)
{
	struct buf b;

	buf_init(&b, 0);
	buf_append_str(&b, "[tls]\nciphers = ");
	while (b.len < 300)
		buf_append_str(&b, "AES:");
	buf_append_str(&b, "\nmin_version = x\n");
	load_fails(buf_cstr(&b),
		   "t.conf:2: line too long (over 197 bytes); list values may "
		   "continue on indented lines\n"
		   "t.conf:3: tls.min_version: 'x' is not one of: TLSv1.2, "
		   "TLSv1.3\n");
	buf_deinit(&b);
}

static void
test_unknown_keys(void **state)
{
	load_fails("[imap]\nmax_line_lenght = 5000\n",
		   "t.conf:2: imap.max_line_lenght: unknown key; did you mean "
		   "'imap.max_line_length'?\n");
	/* Right key, wrong section. */
	load_fails("[server]\nlisten = *:143\n",
		   "t.conf:2: server.listen: unknown key; did you mean "
		   "'imap.listen'?\n");
	load_fails("max_line_length = 5000\n",
		   "t.conf:1: max_line_length: key outside any [section]; did "
		   "you mean 'imap.max_line_length'?\n");
	load_fails("[imap]\nfrobnicate = 1\n",
		   "t.conf:2: imap.frobnicate: unknown key\n");
	load_fails("[imap]\n = 1\n",
		   "t.conf:2: syntax error: no key name before '='\n");
	load_fails("[imap]\nmax args = 1\n",
		   "t.conf:2: imap.max args: key names have no spaces "
		   "(missing '='?)\n");
	/* An unknown section is reported once, at its header; its keys are
	 * not reported again. */
	load_fails("[imap4]\nlisten = *:143\nmax_args = 1\n",
		   "t.conf:1: [imap4]: unknown section; did you mean [imap]?\n");
	load_fails("[global]\n",
		   "t.conf:1: [global]: unknown section (known: [server], "
		   "[imap], [tls], [auth])\n");
}

static void
test_duplicate(void **state)
{
	load_fails("[imap]\nmax_args = 1\n\n[imap]\nmax_args = 2\n",
		   "t.conf:5: imap.max_args: duplicate key (first set on "
		   "line 2)\n");
}

static void
test_value_errors(void **state)
{
	load_fails("[server]\nworkers = 257\n",
		   "t.conf:2: server.workers: '257' is not a number in "
		   "0..256\n");
	load_fails("[server]\nworkers = -1\n",
		   "t.conf:2: server.workers: '-1' is not a number in "
		   "0..256\n");
	load_fails("[server]\nworkers = 99999999999999999999999\n",
		   "t.conf:2: server.workers: '99999999999999999999999' is not "
		   "a number in 0..256\n");
	load_fails("[imap]\ntimeout_preauth = 0\n",
		   "t.conf:2: imap.timeout_preauth: '0' is not a number in "
		   "1..86400\n");
	load_fails("[imap]\nmax_line_length = 1023\n",
		   "t.conf:2: imap.max_line_length: '1023' is not a size in "
		   "1k..16M (bytes; suffixes k, M, G are 1024-based)\n");
	load_fails("[imap]\nmax_line_length = 64kb\n",
		   "t.conf:2: imap.max_line_length: '64kb' is not a size in "
		   "1k..16M (bytes; suffixes k, M, G are 1024-based)\n");
	load_fails("[imap]\nmax_literal_size = 99999999999999999G\n",
		   "t.conf:2: imap.max_literal_size: '99999999999999999G' is "
		   "not a size in 1..1024G (bytes; suffixes k, M, G are "
		   "1024-based)\n");
	load_fails("[auth]\nallow_plaintext = maybe\n",
		   "t.conf:2: auth.allow_plaintext: 'maybe' is not a boolean "
		   "(yes, no, true, false, on, off, 1, 0)\n");
	load_fails("[server]\nlog = journald\n",
		   "t.conf:2: server.log: 'journald' is not one of: stderr, "
		   "syslog\n");
	load_fails("[server]\nlog_level = trace\n",
		   "t.conf:2: server.log_level: 'trace' is not one of: debug, "
		   "info, warn, error\n");
	load_fails("[auth]\ndefault_scheme = MD5\n",
		   "t.conf:2: auth.default_scheme: 'MD5' is not one of: "
		   "SHA512-CRYPT, BLF-CRYPT, ARGON2ID, SCRAM-SHA-256, PLAIN\n");
	load_fails("[auth]\nmechanisms = PLAIN CRAM-MD5 plain\n",
		   "t.conf:2: auth.mechanisms: unknown mechanism 'CRAM-MD5' "
		   "(allowed: PLAIN, LOGIN, SCRAM-SHA-256)\n"
		   "t.conf:2: auth.mechanisms: 'PLAIN' is listed twice\n");
	load_fails("[auth]\nmechanisms =\n",
		   "t.conf:2: auth.mechanisms: at least one mechanism is "
		   "needed (PLAIN, LOGIN, SCRAM-SHA-256)\n");
	load_fails("[server]\ndata_dir =\n",
		   "t.conf:2: server.data_dir: must not be empty\n");
	load_fails("[server]\nuser = mail user\n",
		   "t.conf:2: server.user: 'mail user' is not a valid user "
		   "name (letters, digits, '.', '_', '-'; \"\" = stay root)\n");
	/* Control bytes are not echoed. */
	load_fails("[server]\nlog = \x1b[31m\n",
		   "t.conf:2: server.log: '?[31m' is not one of: stderr, "
		   "syslog\n");
	/* Only lists may continue on indented lines. */
	load_fails("[imap]\nmax_args = 5\n  6\n",
		   "t.conf:3: imap.max_args: indented line continues the "
		   "value, but only lists may span lines\n");
}

static void
test_listen_errors(void **state)
{
	load_fails("[imap]\nlisten = 127.0.0.1:65536\n",
		   "t.conf:2: imap.listen: '127.0.0.1:65536': port must be a "
		   "number 0..65535\n");
	load_fails("[imap]\nlisten = 127.0.0.1\n",
		   "t.conf:2: imap.listen: '127.0.0.1': expected HOST:PORT\n");
	load_fails("[imap]\nlisten = 256.0.0.1:143\n",
		   "t.conf:2: imap.listen: '256.0.0.1:143': host must be an "
		   "IPv4 address, [IPv6], * or localhost\n");
	load_fails("[imap]\nlisten = example.org:143\n",
		   "t.conf:2: imap.listen: 'example.org:143': host must be an "
		   "IPv4 address, [IPv6], * or localhost\n");
	load_fails("[imap]\nlisten = ::1:143\n",
		   "t.conf:2: imap.listen: '::1:143': host must be an IPv4 "
		   "address, [IPv6], * or localhost\n");
	load_fails("[imap]\nlisten = [::g]:143\n",
		   "t.conf:2: imap.listen: '[::g]:143': invalid IPv6 address\n");
	load_fails("[imap]\nlisten = [::1]143\n",
		   "t.conf:2: imap.listen: '[::1]143': expected [IPv6]:PORT\n");
	load_fails("[imap]\nlisten = [::1:143\n",
		   "t.conf:2: imap.listen: '[::1:143': missing ']' after the "
		   "IPv6 address\n");
	load_fails("[imap]\nlisten = *:143,,*:144\n",
		   "t.conf:2: imap.listen: empty address in the list\n");
	load_fails("[imap]\nlisten = *:143,\n",
		   "t.conf:2: imap.listen: empty address in the list\n");
	load_fails("[imap]\nlisten = *:143, *:143\n",
		   "t.conf:2: imap.listen: '*:143' is listed twice\n");
	load_fails("[imap]\nlisten = *:1 *:2 *:3 *:4 *:5 *:6 *:7 *:8 *:9\n",
		   "t.conf:2: imap.listen: more than 8 addresses\n");
}

static void
test_cross_field(void **state)
{
	load_fails("[imap]\nlisten_tls = *:993\n",
		   "t.conf:2: imap.listen_tls: needs tls.cert and tls.key (or "
		   "set listen_tls empty)\n");
	load_fails("[imap]\nlisten_tls =\n[tls]\ncert = c.pem\n",
		   "t.conf:4: tls.cert: set without tls.key (both are "
		   "needed)\n");
	load_fails("[tls]\nkey = k.pem\n",
		   "t.conf:2: tls.key: set without tls.cert (both are "
		   "needed)\n");
	load_fails("[imap]\nmax_literal_size = 65M\n",
		   "t.conf:2: imap.max_literal_size: max_literal_size "
		   "(68157440) exceeds max_command_size (67108864)\n");
	load_fails("[imap]\nmax_command_size = 1M\n",
		   "t.conf:2: imap.max_command_size: max_literal_size "
		   "(52428800) exceeds max_command_size (1048576)\n");
	load_fails("[imap]\nmax_line_length = 2M\nmax_literal_size = 1M\n"
		   "max_command_size = 1M\n",
		   "t.conf:2: imap.max_line_length: max_line_length (2097152) "
		   "exceeds max_command_size (1048576)\n");
	load_fails("[auth]\nfailure_delay_max_ms = 100\n",
		   "t.conf:2: auth.failure_delay_max_ms: failure_delay_ms "
		   "(2000) exceeds failure_delay_max_ms (100)\n");
	load_fails("[imap]\nlisten = *:143\nlisten_tls = *:143\n"
		   "[tls]\ncert = c\nkey = k\n",
		   "t.conf:3: imap.listen_tls: '*:143' is in both imap.listen "
		   "and imap.listen_tls\n");
	/* A value that failed to parse does not also trip the cross check. */
	load_fails("[imap]\nmax_command_size = x\n",
		   "t.conf:2: imap.max_command_size: 'x' is not a size in "
		   "1k..1024G (bytes; suffixes k, M, G are 1024-based)\n");
}

static void
test_many_errors(void **state)
{
	struct buf b;
	int i;

	/* All classes in one file, reported in line order. */
	load_fails("[imap]\n"                 /* 1 */
		   "max_args = none\n"        /* 2 */
		   "listen_tls = *:993\n"     /* 3 */
		   "nonsense\n"               /* 4 */
		   "[auth]\n"                 /* 5 */
		   "mechanism = PLAIN\n"      /* 6 */
		   "max_auth_attempts = 0\n"  /* 7 */
		   "max_auth_attempts = 1\n"  /* 8 */
		   "[imap]\n"                 /* 9 */
		   "max_pipelined = 0\n",     /* 10 */
		   "t.conf:2: imap.max_args: 'none' is not a number in "
		   "1..1000000\n"
		   "t.conf:3: imap.listen_tls: needs tls.cert and tls.key (or "
		   "set listen_tls empty)\n"
		   "t.conf:4: syntax error: expected 'key = value', "
		   "'[section]' or a '#' comment\n"
		   "t.conf:6: auth.mechanism: unknown key; did you mean "
		   "'auth.mechanisms'?\n"
		   "t.conf:7: auth.max_auth_attempts: '0' is not a number in "
		   "1..100\n"
		   "t.conf:8: auth.max_auth_attempts: duplicate key (first set "
		   "on line 7)\n"
		   "t.conf:10: imap.max_pipelined: '0' is not a number in "
		   "1..10000\n");

	/* The report is capped. */
	buf_init(&b, 0);
	for (i = 0; i < 150; i++)
		buf_append_str(&b, "x\n");
	{
		struct conf *conf = NULL;
		char *errors = NULL;
		size_t lines = 0;
		const char *p;

		assert_int_equal(conf_load_string("t.conf", buf_cstr(&b),
						  &conf, &errors), -1);
		assert_null(conf);
		for (p = errors; *p != '\0'; p++)
			lines += *p == '\n';
		assert_int_equal(lines, 101);
		assert_non_null(strstr(errors, "t.conf: 50 more not shown\n"));
		free(errors);
	}
	buf_deinit(&b);
}

static void
test_warning(void **state)
{
	struct conf *c = load_ok("[imap]\n\ntimeout_auth = 60\n");

	assert_int_equal(c->timeout_auth, 60);
	assert_non_null(c->warnings);
	assert_string_equal(c->warnings, "/etc/satchel/satchel.conf:3: "
			    "imap.timeout_auth: 60 seconds is below the 30 "
			    "minutes RFC 9051 section 5.4 requires; idle "
			    "clients will be logged out early\n");
	conf_free(&c);
}

static void
test_relative_paths(void **state)
{
	char dir[] = "/tmp/test-conf-XXXXXX";
	char path[256], cwd[4096], expect[512];
	struct conf *c;
	char *errors = NULL;
	FILE *f;

	/* conf_load_string: relative to the name's directory. */
	c = load_ok("[server]\ndata_dir = data\n[tls]\ncert = ./tls/c.pem\n"
		    "key = ../k.pem\n[auth]\npasswd_file = /abs/passwd\n");
	assert_string_equal(c->data_dir, "/etc/satchel/data");
	assert_string_equal(c->tls_cert, "/etc/satchel/tls/c.pem");
	assert_string_equal(c->tls_key, "/etc/satchel/../k.pem");
	assert_string_equal(c->passwd_file, "/abs/passwd");
	conf_free(&c);

	/* No directory in the name: kept as written. */
	assert_int_equal(conf_load_string("x", "[auth]\npasswd_file = pw\n",
					  &c, &errors), 0);
	assert_string_equal(c->passwd_file, "pw");
	conf_free(&c);

	/* conf_load: a real file, by absolute and by relative name. */
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/satchel.conf", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("[auth]\npasswd_file = passwd\n", f);
	fclose(f);

	assert_int_equal(conf_load(path, &c, &errors), 0);
	snprintf(expect, sizeof(expect), "%s/passwd", dir);
	assert_string_equal(c->passwd_file, expect);
	assert_string_equal(c->path, path);
	conf_free(&c);

	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(dir), 0);
	assert_int_equal(conf_load("satchel.conf", &c, &errors), 0);
	assert_int_equal(chdir(cwd), 0);
	assert_string_equal(c->passwd_file, expect);
	conf_free(&c);

	assert_int_equal(chdir("/tmp"), 0);
	assert_int_equal(conf_load(path + strlen("/tmp/"), &c, &errors), 0);
	assert_int_equal(chdir(cwd), 0);
	assert_string_equal(c->passwd_file, expect);
	conf_free(&c);

	unlink(path);
	rmdir(dir);
}

static void
test_load_file_errors(void **state)
{
	char dir[] = "/tmp/test-conf-XXXXXX";
	char path[256];
	struct conf sentinel_storage;
	struct conf *sentinel = &sentinel_storage, *c = sentinel;
	char *errors = NULL;
	FILE *f;

	assert_int_equal(conf_load("/nonexistent/satchel.conf", &c, &errors),
			 -1);
	assert_ptr_equal(c, sentinel);
	assert_string_equal(errors, "/nonexistent/satchel.conf: open: No such "
			    "file or directory\n");
	free(errors);

	assert_non_null(mkdtemp(dir));
	assert_int_equal(conf_load(dir, &c, &errors), -1);
	assert_ptr_equal(c, sentinel);
	assert_non_null(strstr(errors, "not a regular file"));
	free(errors);

	snprintf(path, sizeof(path), "%s/bin.conf", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fwrite("[imap]\n\nx\0y\n", 1, 12, f);
	fclose(f);
	assert_int_equal(conf_load(path, &c, &errors), -1);
	assert_ptr_equal(c, sentinel);
	assert_non_null(strstr(errors, "bin.conf:3: NUL byte"));
	free(errors);

	/* Errors from a file name the file. */
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("[imap]\nmax_args = 0\n", f);
	fclose(f);
	assert_int_equal(conf_load(path, &c, &errors), -1);
	assert_ptr_equal(c, sentinel);
	assert_non_null(strstr(errors, "bin.conf:2: imap.max_args: "));
	assert_ptr_equal(strstr(errors, path), errors);
	free(errors);

	unlink(path);
	rmdir(dir);
}

static char *
read_all(const char *path)
{
	struct buf b;
	char chunk[4096];
	size_t n;
	FILE *f = fopen(path, "r");
	char *ret;

	assert_non_null(f);
	buf_init(&b, 0);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(&b, chunk, n);
	fclose(f);
	ret = strdup(buf_cstr(&b));
	buf_deinit(&b);
	return ret;
}

static void
test_example_file(void **state)
{
	struct conf *c = NULL;
	char *errors = NULL, *text, *line, *next;
	struct buf b;
	size_t settings = 0;

	/* As shipped: every setting commented out, so the defaults. */
	if (conf_load(EXAMPLE_CONF, &c, &errors) < 0) {
		print_error("%s", errors);
		fail();
	}
	assert_defaults(c);
	conf_free(&c);

	/* With every "#key = value" line uncommented, the documented values
	 * are the real defaults.  listen_tls documents its value with a
	 * certificate, so supply one. */
	text = read_all(EXAMPLE_CONF);
	buf_init(&b, 0);
	for (line = text; *line != '\0'; line = next) {
		next = strchr(line, '\n');
		next = next != NULL ? next + 1 : line + strlen(line);
		if (line[0] == '#' && line[1] >= 'a' && line[1] <= 'z' &&
		    strstr(line, " =") != NULL && strstr(line, " =") < next) {
			line++;
			settings++;
		}
		buf_append(&b, line, (size_t)(next - line));
	}
	free(text);
	assert_int_equal(settings, 35); /* every key is documented */
	if (conf_load_string("/x/example", buf_cstr(&b), &c, &errors) == 0) {
		print_error("uncommented example loaded without a cert\n");
		fail();
	}
	assert_non_null(strstr(errors, "imap.listen_tls: needs tls.cert"));
	free(errors);
	/* Replace the empty cert/key lines' values in place. */
	{
		char *s = strdup(buf_cstr(&b));
		struct buf b2;
		char *p;

		buf_init(&b2, 0);
		for (line = s; *line != '\0'; line = next) {
			next = strchr(line, '\n');
			next = next != NULL ? next + 1 : line + strlen(line);
			p = line;
			if (strncmp(p, "cert =\n", 7) == 0)
				buf_append_str(&b2, "cert = /c.pem\n");
			else if (strncmp(p, "key =\n", 6) == 0)
				buf_append_str(&b2, "key = /k.pem\n");
			else
				buf_append(&b2, line, (size_t)(next - line));
		}
		free(s);
		if (conf_load_string("/x/example", buf_cstr(&b2), &c,
				     &errors) < 0) {
			print_error("%s", errors);
			fail();
		}
		buf_deinit(&b2);
	}
	assert_string_equal(c->tls_cert, "/c.pem");
	assert_int_equal(c->imaps_listen.count, 2);
	assert_string_equal(c->imaps_listen.addrs[0], "0.0.0.0:993");
	free(c->tls_cert);
	free(c->tls_key);
	c->tls_cert = strdup("");
	c->tls_key = strdup("");
	free(c->imaps_listen.addrs[0]);
	free(c->imaps_listen.addrs[1]);
	c->imaps_listen.count = 0;
	assert_defaults(c);
	conf_free(&c);
	buf_deinit(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_all_types),
		cmocka_unit_test(test_bool_spellings),
		cmocka_unit_test(test_listen),
		cmocka_unit_test(test_syntax_forms),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_unknown_keys),
		cmocka_unit_test(test_duplicate),
		cmocka_unit_test(test_value_errors),
		cmocka_unit_test(test_listen_errors),
		cmocka_unit_test(test_cross_field),
		cmocka_unit_test(test_many_errors),
		cmocka_unit_test(test_warning),
		cmocka_unit_test(test_relative_paths),
		cmocka_unit_test(test_load_file_errors),
		cmocka_unit_test(test_example_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
