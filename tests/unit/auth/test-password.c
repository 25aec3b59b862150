/* Unit tests for password.c: hash+verify round trips for every scheme,
 * wrong passwords, values produced by Dovecot's `doveadm pw` and by
 * `openssl passwd -6` (compatibility), malformed values, work-factor caps
 * and SCRAM key extraction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base64.h"
#include "buf.h"
#include "password.h"

/* `doveadm pw -s <scheme> -p pencil` (Dovecot 2.3.19) */
static const char dove_scram[] =
	"{SCRAM-SHA-256}4096,+TyG24HQd8RzIjvrJe1ApQ==,"
	"OSCbMA+zDgLGxMmKfu3hOL1sj7waiMZERcCnx/JMGlI=,"
	"icN+iQUG06qqiJwKVnFWD/PZiKdkkHhY2M9z+owxxr8=";
static const char dove_argon2id[] =
	"{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$Ufk3fy8rla6VFjFV/vK/pg$"
	"mEj5t5Ne+qSUC08BqSVpFXpQ4KN1HgTWw8JONhKPIu8";
static const char dove_blf[] =
	"{BLF-CRYPT}$2y$05$B7FiItoh6H1RcBLkXRqEFOcDK7zJVkzNLHakaLPIfUm4W2LemNL.u";
static const char dove_blf10[] =
	"{BLF-CRYPT}$2y$10$3j1bFndYFAOgopsveQebd.8RB0ekx1D0Pku6CXv5axJW/b4Tqw4C.";
static const char dove_sha512[] =
	"{SHA512-CRYPT}$6$5lOhrUmF9g8xjo9T$DXHSqg.FdI353N2Sg6BdiOlaJ1MVLcXOC39nni"
	"/Jhx4OPTUeNahU9j4.oq8DMrer5V3iAH2yumGjdi38QEGoY/";
/* `doveadm pw -s ARGON2ID -p 'pass word:x'` */
static const char dove_argon2id_colon[] =
	"{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$+j3HS696vFXZpPwjmVY22Q$"
	"fB8TNGKC5JuILru0R7iScXnedodxVcEBlzkJY4XEgWk";
/* `openssl passwd -6 -salt saltsalt pencil` */
static const char openssl_sha512[] =
	"$6$saltsalt$rD9fW1BwIrjB90WCgCTdIQc3phTBhf04I6Iw/XlgKD9E9aEbzqGZipjiF"
	"xGo/4wWXDA6jV6/vZO.kKdDSfUJb0";
/* RFC 7677's salt and password, keys computed independently (Python
 * hashlib.pbkdf2_hmac + hmac). */
static const char rfc7677_scram[] =
	"{SCRAM-SHA-256}4096,W22ZaJ0SNY7soEsUEjb6gQ==,"
	"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=,"
	"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";

static int
verify(const char *stored, const char *pw, bool allow_plain)
{
	const char *error = NULL;
	int ret = password_verify(stored, pw, strlen(pw), allow_plain, &error);

	if (ret < 0)
		assert_non_null(error);
	return ret;
}

static void
test_known_vectors(void **state)
{
	(void)state;
	assert_int_equal(verify(dove_scram, "pencil", false), 1);
	assert_int_equal(verify(dove_scram, "pencil2", false), 0);
	assert_int_equal(verify(dove_argon2id, "pencil", false), 1);
	assert_int_equal(verify(dove_argon2id, "Pencil", false), 0);
	assert_int_equal(verify(dove_argon2id_colon, "pass word:x", false), 1);
	assert_int_equal(verify(dove_blf, "pencil", false), 1);
	assert_int_equal(verify(dove_blf, "pencil ", false), 0);
	assert_int_equal(verify(dove_blf10, "pencil", false), 1);
	assert_int_equal(verify(dove_sha512, "pencil", false), 1);
	assert_int_equal(verify(dove_sha512, "", false), 0);
	assert_int_equal(verify(openssl_sha512, "pencil", false), 1);
	assert_int_equal(verify(openssl_sha512, "pencim", false), 0);
	assert_int_equal(verify(rfc7677_scram, "pencil", false), 1);
}

static void
test_scheme_of(void **state)
{
	(void)state;
	assert_string_equal(password_scheme_of(dove_scram), "SCRAM-SHA-256");
	assert_string_equal(password_scheme_of(dove_argon2id), "ARGON2ID");
	assert_string_equal(password_scheme_of(dove_blf), "BLF-CRYPT");
	assert_string_equal(password_scheme_of(dove_sha512), "SHA512-CRYPT");
	assert_string_equal(password_scheme_of(openssl_sha512),
			    "SHA512-CRYPT");
	assert_string_equal(password_scheme_of("$2b$05$abc"), "BLF-CRYPT");
	assert_string_equal(password_scheme_of("$argon2id$v=19$x"),
			    "ARGON2ID");
	assert_string_equal(password_scheme_of("{CRYPT}$6$abc$def"),
			    "SHA512-CRYPT");
	assert_string_equal(password_scheme_of("{plain}x"), "PLAIN");
	assert_string_equal(password_scheme_of("{PLAIN}"), "PLAIN");
	assert_null(password_scheme_of("{MD5-CRYPT}$1$abc"));
	assert_null(password_scheme_of("{SHA512-CRYPT}$2y$05$abc"));
	assert_null(password_scheme_of("secret"));
	assert_null(password_scheme_of("{PLAIN"));
	assert_null(password_scheme_of(""));
	assert_null(password_scheme_of("$1$abc$def"));
}

static void
roundtrip(const char *scheme, const char *prefix)
{
	static const char pw[] = "correct horse battery staple";
	const char *error = NULL;
	char *h, *h2;

	h = password_hash(scheme, pw, strlen(pw), &error);
	assert_non_null(h);
	assert_true(strncmp(h, prefix, strlen(prefix)) == 0);
	assert_null(strchr(h, ':'));
	assert_null(strchr(h, '\n'));
	assert_string_equal(password_scheme_of(h), scheme);
	assert_int_equal(verify(h, pw, true), 1);
	assert_int_equal(verify(h, "correct horse battery stapl", true), 0);
	assert_int_equal(verify(h, "", true), 0);
	/* fresh salt every time */
	h2 = password_hash(scheme, pw, strlen(pw), &error);
	assert_non_null(h2);
	if (strcmp(scheme, "PLAIN") != 0)
		assert_string_not_equal(h, h2);
	free(h);
	free(h2);
}

static void
test_roundtrip_sha512(void **state)
{
	(void)state;
	roundtrip("SHA512-CRYPT", "{SHA512-CRYPT}$6$");
}

static void
test_roundtrip_blf(void **state)
{
	(void)state;
	roundtrip("BLF-CRYPT", "{BLF-CRYPT}$2y$10$");
}

static void
test_roundtrip_argon2id(void **state)
{
	(void)state;
	roundtrip("ARGON2ID", "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$");
}

static void
test_roundtrip_scram(void **state)
{
	(void)state;
	roundtrip("SCRAM-SHA-256", "{SCRAM-SHA-256}4096,");
}

static void
test_roundtrip_plain(void **state)
{
	(void)state;
	roundtrip("PLAIN", "{PLAIN}correct horse");
}

static void
test_hash_errors(void **state)
{
	const char *error = NULL;
	char big[PASSWORD_MAX_LEN + 1];
	char *h;

	(void)state;
	assert_null(password_hash("MD5", "x", 1, &error));
	assert_non_null(error);
	error = NULL;
	assert_null(password_hash(NULL, "x", 1, &error));
	assert_non_null(error);
	assert_null(password_hash("SHA512-CRYPT", "a\0b", 3, &error));
	assert_null(password_hash("BLF-CRYPT", "a\0b", 3, &error));
	assert_null(password_hash("PLAIN", "a\nb", 3, &error));
	assert_null(password_hash("PLAIN", "a\rb", 3, &error));
	memset(big, 'x', sizeof(big));
	assert_null(password_hash("PLAIN", big, sizeof(big), &error));
	h = password_hash("plain", big, sizeof(big) - 1, &error);
	assert_non_null(h); /* exactly the maximum, case-insensitive name */
	free(h);
	/* binary passwords are fine where the scheme takes bytes */
	h = password_hash("SCRAM-SHA-256", "a\0b", 3, &error);
	assert_non_null(h);
	assert_int_equal(password_verify(h, "a\0b", 3, false, &error), 1);
	assert_int_equal(password_verify(h, "a", 1, false, &error), 0);
	free(h);
}

static void
test_nul_in_password(void **state)
{
	const char *error;

	(void)state;
	/* "pencil\0junk" must not match a crypt hash of "pencil" */
	assert_int_equal(password_verify(dove_sha512, "pencil\0junk", 11,
					 false, &error), 0);
	assert_int_equal(password_verify(dove_blf, "pencil\0", 7, false,
					 &error), 0);
	assert_int_equal(password_verify("{PLAIN}pencil", "pencil\0", 7, true,
					 &error), 0);
}

static void
test_plain(void **state)
{
	const char *error = NULL;

	(void)state;
	assert_int_equal(verify("{PLAIN}pencil", "pencil", true), 1);
	assert_int_equal(verify("{plain}pencil", "pencil", true), 1);
	assert_int_equal(verify("{PLAIN}pencil", "pencil1", true), 0);
	assert_int_equal(verify("{PLAIN}pencil", "pencil", false), -1);
	assert_int_equal(password_verify("{PLAIN}pencil", "pencil", 6, false,
					 &error), -1);
	assert_non_null(error);
	/* an empty stored PLAIN secret matches only the empty password */
	assert_int_equal(verify("{PLAIN}", "", true), 1);
	assert_int_equal(verify("{PLAIN}", "x", true), 0);
}

static void
test_malformed(void **state)
{
	static const char *const bad[] = {
		"",
		"pencil",                   /* no scheme */
		"{MD5-CRYPT}$1$abc$def",    /* unsupported scheme */
		"{SHA512-CRYPT}pencil",     /* scheme/body mismatch */
		"{SHA512-CRYPT}$6$",        /* truncated */
		"{BLF-CRYPT}$2y$05$short",
		"{BLF-CRYPT}$2y$5$B7FiItoh6H1RcBLkXRqEFOcDK7zJVkzNLHakaLPIfUm4W2LemNL.u",
		"{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$Ufk3fy8rla6VFjFV/vK/pg",
		"{ARGON2ID}$argon2id$v=19$m=65536,t=3$Ufk3$abc",
		"{ARGON2ID}$argon2id$v=19$m=x,t=3,p=1$Ufk3$abc",
		"{SCRAM-SHA-256}",
		"{SCRAM-SHA-256}4096",
		"{SCRAM-SHA-256}4096,W22ZaJ0SNY7soEsUEjb6gQ==",
		"{SCRAM-SHA-256}0,W22ZaJ0SNY7soEsUEjb6gQ==,"
			"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=,"
			"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"{SCRAM-SHA-256}-1,W22ZaJ0SNY7soEsUEjb6gQ==,"
			"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=,"
			"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"{SCRAM-SHA-256}4096,W22ZaJ0SNY7soEsUEjb6gQ=,"   /* bad b64 */
			"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=,"
			"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"{SCRAM-SHA-256}4096,W22ZaJ0SNY7soEsUEjb6gQ==,"  /* short key */
			"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4g==,"
			"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"{SCRAM-SHA-256}4096,W22ZaJ0SNY7soEsUEjb6gQ==,"  /* extra field */
			"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=,"
			"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=,x",
		"{SCRAM-SHA-256}4096,,"
			"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=,"
			"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *error = NULL;

		if (password_verify(bad[i], "pencil", 6, true, &error) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_non_null(error);
	}
}

static void
test_work_factor_caps(void **state)
{
	(void)state;
	/* refused before any hashing happens, so these return at once */
	assert_int_equal(verify("{SHA512-CRYPT}$6$rounds=999999999$salt$abc",
				"pencil", false), -1);
	assert_int_equal(verify("{BLF-CRYPT}$2y$31$B7FiItoh6H1RcBLkXRqEFOcDK7"
				"zJVkzNLHakaLPIfUm4W2LemNL.u", "pencil", false),
			 -1);
	assert_int_equal(verify("{ARGON2ID}$argon2id$v=19$m=4194304,t=3,p=1$"
				"Ufk3fy8rla6VFjFV/vK/pg$mEj5t5Ne+qSUC08BqSVpFXp"
				"Q4KN1HgTWw8JONhKPIu8", "pencil", false), -1);
	assert_int_equal(verify("{SCRAM-SHA-256}99999999,W22ZaJ0SNY7soEsUEjb6"
				"gQ==,WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4"
				"qY=,wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
				"pencil", false), -1);
	/* explicit rounds within the cap work (Python crypt.crypt) */
	assert_int_equal(verify("$6$rounds=1000$saltsalt$bbY.T.ZpN43KapLdmlSbP"
				"6MmxBlkMSbhrh.Y1rmY0fYaRO/t.4sKqUiU.Z8byKf8Oa1"
				"yagMn/0fncuHSYrb9h.", "pencil", false), 1);
	assert_int_equal(verify("$6$rounds=1000$saltsalt$bbY.T.ZpN43KapLdmlSbP"
				"6MmxBlkMSbhrh.Y1rmY0fYaRO/t.4sKqUiU.Z8byKf8Oa1"
				"yagMn/0fncuHSYrb9h.", "pencils", false), 0);
}

static void
test_long_password(void **state)
{
	char big[PASSWORD_MAX_LEN + 10];
	const char *error;

	(void)state;
	memset(big, 'p', sizeof(big));
	assert_int_equal(password_verify(dove_sha512, big, sizeof(big), false,
					 &error), 0);
	assert_int_equal(password_verify("{PLAIN}pp", big, sizeof(big), true,
					 &error), 0);
	/* disabled or unknown still report the stored value's problem */
	assert_int_equal(password_verify("{PLAIN}pp", big, sizeof(big), false,
					 &error), -1);
}

static void
test_scram_keys(void **state)
{
	struct scram_keys keys, keys2;
	struct buf b;

	(void)state;
	memset(&keys, 0, sizeof(keys));
	assert_int_equal(password_scram_keys(rfc7677_scram, false, &keys), 0);
	assert_int_equal(keys.iterations, 4096);
	assert_int_equal(keys.salt_len, 16);
	buf_init(&b, 0);
	assert_int_equal(base64_encode(&b, keys.stored_key, 32), 0);
	assert_string_equal(buf_cstr(&b),
			    "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=");
	buf_deinit(&b);

	/* {PLAIN} derives the same keys from the given salt/iterations */
	memset(&keys2, 0, sizeof(keys2));
	keys2.iterations = keys.iterations;
	memcpy(keys2.salt, keys.salt, keys.salt_len);
	keys2.salt_len = keys.salt_len;
	assert_int_equal(password_scram_keys("{PLAIN}pencil", false, &keys2),
			 -1);
	assert_int_equal(password_scram_keys("{PLAIN}pencil", true, &keys2),
			 0);
	assert_memory_equal(keys2.stored_key, keys.stored_key, 32);
	assert_memory_equal(keys2.server_key, keys.server_key, 32);
	/* no salt given */
	memset(&keys2, 0, sizeof(keys2));
	keys2.iterations = 4096;
	assert_int_equal(password_scram_keys("{PLAIN}pencil", true, &keys2),
			 -1);
	/* schemes that can't give SCRAM keys */
	assert_int_equal(password_scram_keys(dove_sha512, true, &keys), -1);
	assert_int_equal(password_scram_keys(dove_argon2id, true, &keys), -1);
	assert_int_equal(password_scram_keys("", true, &keys), -1);
	assert_int_equal(password_scram_keys("{SCRAM-SHA-256}1,2", true,
					     &keys), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_vectors),
		cmocka_unit_test(test_scheme_of),
		cmocka_unit_test(test_roundtrip_sha512),
		cmocka_unit_test(test_roundtrip_blf),
		cmocka_unit_test(test_roundtrip_argon2id),
		cmocka_unit_test(test_roundtrip_scram),
		cmocka_unit_test(test_roundtrip_plain),
		cmocka_unit_test(test_hash_errors),
		cmocka_unit_test(test_nul_in_password),
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_work_factor_caps),
		cmocka_unit_test(test_long_password),
		cmocka_unit_test(test_scram_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
