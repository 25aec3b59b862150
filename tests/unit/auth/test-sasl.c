/* Unit tests for sasl.c: the RFC 7677 SCRAM-SHA-256 exchange byte for byte,
 * a SCRAM client run against each kind of stored value, unknown users
 * (stable fake salt, failure only at the end), SCRAM syntax errors, PLAIN
 * and LOGIN good/bad/malformed, limits and step order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "base64.h"
#include "buf.h"
#include "sasl.h"
#include "sasl-private.h"

/* RFC 7677's salt and password as a Dovecot SCRAM-SHA-256 value. */
static const char rfc7677_scram[] =
	"{SCRAM-SHA-256}4096,W22ZaJ0SNY7soEsUEjb6gQ==,"
	"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=,"
	"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";
/* `doveadm pw -s SCRAM-SHA-256 -p pencil` */
static const char dove_scram[] =
	"{SCRAM-SHA-256}4096,+TyG24HQd8RzIjvrJe1ApQ==,"
	"OSCbMA+zDgLGxMmKfu3hOL1sj7waiMZERcCnx/JMGlI=,"
	"icN+iQUG06qqiJwKVnFWD/PZiKdkkHhY2M9z+owxxr8=";
/* `openssl passwd -6 -salt saltsalt pencil` */
static const char sha512_pencil[] =
	"{SHA512-CRYPT}$6$saltsalt$rD9fW1BwIrjB90WCgCTdIQc3phTBhf04I6Iw/XlgKD9"
	"E9aEbzqGZipjiFxGo/4wWXDA6jV6/vZO.kKdDSfUJb0";

static const unsigned char secret[] = "0123456789abcdef-test-secret";

static int
lookup(void *ctx, const char *user, char **stored_r)
{
	unsigned *calls = ctx;
	const char *v = NULL;

	(*calls)++;
	if (strcmp(user, "user") == 0)
		v = rfc7677_scram;
	else if (strcmp(user, "dove") == 0)
		v = dove_scram;
	else if (strcmp(user, "plain") == 0 || strcmp(user, "a,b=c") == 0 ||
		 strcmp(user, "j\xc3\xb6rg") == 0)
		v = "{PLAIN}pencil";
	else if (strcmp(user, "sha") == 0)
		v = sha512_pencil;
	else if (strcmp(user, "error") == 0)
		return -1;
	if (v == NULL)
		return 0;
	*stored_r = strdup(v);
	return *stored_r == NULL ? -1 : 1;
}

static unsigned lookup_calls_dummy;

static struct sasl_params
params(bool allow_plain)
{
	struct sasl_params p = {
		.lookup = lookup,
		.lookup_ctx = &lookup_calls_dummy,
		.allow_plain_scheme = allow_plain,
		.secret = secret,
		.secret_len = sizeof(secret) - 1,
	};

	return p;
}

static enum sasl_status
step_str(struct sasl_server *s, const char *in, struct buf *out)
{
	buf_clear(out);
	if (in == NULL)
		return sasl_server_step(s, false, NULL, 0, out);
	return sasl_server_step(s, true, (const uint8_t *)in, strlen(in), out);
}

static enum sasl_status
step_mem(struct sasl_server *s, const void *in, size_t len, struct buf *out)
{
	buf_clear(out);
	return sasl_server_step(s, true, in, len, out);
}

/* ---- mechanisms ---- */

static void
test_mechanisms(void **state)
{
	struct sasl_params p = params(true);
	struct sasl_server *s;

	(void)state;
	assert_string_equal(sasl_mechanisms[0], "PLAIN");
	assert_string_equal(sasl_mechanisms[1], "LOGIN");
	assert_string_equal(sasl_mechanisms[2], "SCRAM-SHA-256");
	assert_null(sasl_mechanisms[3]);
	assert_true(sasl_mechanism_supported("plain"));
	assert_true(sasl_mechanism_supported("Scram-Sha-256"));
	assert_false(sasl_mechanism_supported("SCRAM-SHA-256-PLUS"));
	assert_false(sasl_mechanism_supported("CRAM-MD5"));
	assert_false(sasl_mechanism_supported(""));
	assert_false(sasl_mechanism_supported(NULL));
	assert_null(sasl_server_new("CRAM-MD5", &p));
	assert_null(sasl_server_new("SCRAM-SHA-1", &p));
	s = sasl_server_new("login", &p);
	assert_non_null(s);
	assert_null(sasl_server_user(s));
	sasl_server_free(&s);
	assert_null(s);
	sasl_server_free(&s); /* NULL is fine */
}

/* ---- SCRAM ---- */

/* RFC 7677 section 3, exactly. */
static void
test_scram_rfc7677(void **state)
{
	struct sasl_params p = params(false);
	struct sasl_server *s;
	struct buf out;
	int initial;

	(void)state;
	buf_init(&out, 0);
	for (initial = 0; initial < 2; initial++) {
		s = sasl_server_new("SCRAM-SHA-256", &p);
		assert_non_null(s);
		sasl_server_set_test_nonce(s, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
		if (!initial) {
			/* no initial response: an empty challenge first */
			assert_int_equal(step_str(s, NULL, &out),
					 SASL_CONTINUE);
			assert_int_equal(out.len, 0);
		}
		assert_int_equal(step_str(s, "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
					  &out), SASL_CONTINUE);
		assert_string_equal(buf_cstr(&out),
			"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
			"s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
		assert_int_equal(step_str(s,
			"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)"
			"hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
			&out), SASL_OK);
		assert_string_equal(buf_cstr(&out),
			"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
		assert_string_equal(sasl_server_user(s), "user");
		/* nothing more is accepted */
		assert_int_equal(step_str(s, "", &out), SASL_MALFORMED);
		assert_int_equal(step_str(s, NULL, &out), SASL_MALFORMED);
		sasl_server_free(&s);
	}
	buf_deinit(&out);
}

/* The RFC exchange with one byte of the proof changed. */
static void
test_scram_rfc7677_bad_proof(void **state)
{
	struct sasl_params p = params(false);
	struct sasl_server *s;
	struct buf out;

	(void)state;
	buf_init(&out, 0);
	s = sasl_server_new("SCRAM-SHA-256", &p);
	sasl_server_set_test_nonce(s, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
	assert_int_equal(step_str(s, "n,,n=user,r=rOprNGfwEbeRWgbNEkqO", &out),
			 SASL_CONTINUE);
	assert_int_equal(step_str(s,
		"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)"
		"hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVA=",
		&out), SASL_FAIL);
	assert_int_equal(out.len, 0);
	assert_string_equal(sasl_server_user(s), "user");
	sasl_server_free(&s);
	buf_deinit(&out);
}

struct scram_client {
	const char *gs2;       /* "n,," etc. */
	const char *username;  /* already saslname-escaped */
	const char *password;
	const char *cnonce;
	const char *extra_final; /* inserted before ",p=" */
	/* results */
	char salt_b64[128];
	unsigned iterations;
	char snonce[256];
	bool server_sig_ok;
};

static void
b64(const void *data, size_t len, struct buf *out)
{
	assert_int_equal(base64_encode(out, data, len), 0);
}

/* Runs a whole exchange as a client; returns the final status. */
static enum sasl_status
scram_run(const struct sasl_params *p, struct scram_client *c)
{
	unsigned char salted[32], ckey[32], skey[32], stored[32], sig[32];
	unsigned char server_key[32], proof[32];
	unsigned int len;
	struct buf out, first, final, auth, salt, tmp;
	const char *sf, *r, *sv, *iv;
	struct sasl_server *s;
	enum sasl_status ret;
	size_t i;

	c->server_sig_ok = false;
	s = sasl_server_new("SCRAM-SHA-256", p);
	assert_non_null(s);
	buf_init(&out, 0);
	buf_init(&first, 0);
	buf_init(&final, 0);
	buf_init(&auth, 0);
	buf_init(&salt, 0);
	buf_init(&tmp, 0);
	buf_printf(&first, "%sn=%s,r=%s", c->gs2, c->username, c->cnonce);
	ret = step_str(s, buf_cstr(&first), &out);
	if (ret != SASL_CONTINUE)
		goto done;
	/* server-first: r=...,s=...,i=... */
	sf = buf_cstr(&out);
	r = strstr(sf, "r=");
	sv = strstr(sf, ",s=");
	iv = strstr(sf, ",i=");
	assert_true(r == sf && sv != NULL && iv != NULL && sv < iv);
	assert_true(strncmp(r + 2, c->cnonce, strlen(c->cnonce)) == 0);
	snprintf(c->snonce, sizeof(c->snonce), "%.*s", (int)(sv - r - 2), r + 2);
	snprintf(c->salt_b64, sizeof(c->salt_b64), "%.*s", (int)(iv - sv - 3),
		 sv + 3);
	c->iterations = (unsigned)strtoul(iv + 3, NULL, 10);
	assert_int_equal(base64_decode(&salt, c->salt_b64, strlen(c->salt_b64)),
			 0);

	assert_int_equal(PKCS5_PBKDF2_HMAC(c->password, (int)strlen(c->password),
					   salt.data, (int)salt.len,
					   (int)c->iterations, EVP_sha256(), 32,
					   salted), 1);
	HMAC(EVP_sha256(), salted, 32, (const unsigned char *)"Client Key", 10,
	     ckey, &len);
	HMAC(EVP_sha256(), salted, 32, (const unsigned char *)"Server Key", 10,
	     server_key, &len);
	SHA256(ckey, 32, stored);

	buf_append_str(&final, "c=");
	b64(c->gs2, strlen(c->gs2), &final);
	buf_printf(&final, ",r=%s%s", c->snonce, c->extra_final);
	/* AuthMessage */
	buf_append_str(&auth, buf_cstr(&first) + strlen(c->gs2));
	buf_printf(&auth, ",%s,%s", sf, buf_cstr(&final));
	HMAC(EVP_sha256(), stored, 32, auth.data, auth.len, sig, &len);
	for (i = 0; i < 32; i++)
		proof[i] = ckey[i] ^ sig[i];
	buf_append_str(&final, ",p=");
	b64(proof, 32, &final);
	ret = step_str(s, buf_cstr(&final), &out);
	if (ret == SASL_OK) {
		HMAC(EVP_sha256(), server_key, 32, auth.data, auth.len, skey,
		     &len);
		buf_append_str(&tmp, "v=");
		b64(skey, 32, &tmp);
		c->server_sig_ok = strcmp(buf_cstr(&tmp), buf_cstr(&out)) == 0;
	}
done:
	sasl_server_free(&s);
	buf_deinit(&out);
	buf_deinit(&first);
	buf_deinit(&final);
	buf_deinit(&auth);
	buf_deinit(&salt);
	buf_deinit(&tmp);
	return ret;
}

static void
client_init(struct scram_client *c, const char *user, const char *pw)
{
	memset(c, 0, sizeof(*c));
	c->gs2 = "n,,";
	c->username = user;
	c->password = pw;
	c->cnonce = "fyko+d2lbbFgONRv9qkxdawL";
	c->extra_final = "";
}

static void
test_scram_clients(void **state)
{
	struct sasl_params p = params(true);
	struct sasl_params np = params(false);
	struct scram_client c, c2;

	(void)state;
	/* Dovecot-generated stored keys */
	client_init(&c, "dove", "pencil");
	assert_int_equal(scram_run(&p, &c), SASL_OK);
	assert_true(c.server_sig_ok);
	assert_string_equal(c.salt_b64, "+TyG24HQd8RzIjvrJe1ApQ==");
	assert_int_equal(c.iterations, 4096);
	/* server nonce: client's + at least 18 random bytes of base64 */
	assert_true(strlen(c.snonce) >= strlen(c.cnonce) + 24);
	client_init(&c2, "dove", "pencil");
	assert_int_equal(scram_run(&p, &c2), SASL_OK);
	assert_string_not_equal(c.snonce, c2.snonce);

	client_init(&c, "dove", "pencil2");
	assert_int_equal(scram_run(&p, &c), SASL_FAIL);

	/* "y,," is accepted; its channel binding is base64("y,,") */
	client_init(&c, "dove", "pencil");
	c.gs2 = "y,,";
	assert_int_equal(scram_run(&p, &c), SASL_OK);
	/* authzid equal to the user */
	c.gs2 = "n,a=dove,";
	assert_int_equal(scram_run(&p, &c), SASL_OK);
	/* unknown extensions in client-final are ignored */
	client_init(&c, "dove", "pencil");
	c.extra_final = ",x=whatever,y=";
	assert_int_equal(scram_run(&p, &c), SASL_OK);
	assert_true(c.server_sig_ok);

	/* {PLAIN} stored value, when allowed */
	client_init(&c, "plain", "pencil");
	assert_int_equal(scram_run(&p, &c), SASL_OK);
	assert_true(c.server_sig_ok);
	client_init(&c, "plain", "wrong");
	assert_int_equal(scram_run(&p, &c), SASL_FAIL);
	client_init(&c, "plain", "pencil");
	assert_int_equal(scram_run(&np, &c), SASL_FAIL);

	/* escaped user name "a,b=c" */
	client_init(&c, "a=2Cb=3Dc", "pencil");
	assert_int_equal(scram_run(&p, &c), SASL_OK);
	/* non-ASCII name passed through */
	client_init(&c, "j\xc3\xb6rg", "pencil");
	assert_int_equal(scram_run(&p, &c), SASL_OK);

	/* a scheme without SCRAM keys: looks like any user, fails at the
	 * end even with the right password */
	client_init(&c, "sha", "pencil");
	assert_int_equal(scram_run(&p, &c), SASL_FAIL);
	assert_int_equal(c.iterations, 4096);
}

static void
test_scram_unknown_user(void **state)
{
	struct sasl_params p = params(true);
	struct scram_client c, c2;
	unsigned char md[32];
	unsigned int len;
	struct buf expect;

	(void)state;
	client_init(&c, "nobody", "pencil");
	assert_int_equal(scram_run(&p, &c), SASL_FAIL);
	assert_int_equal(c.iterations, 4096);
	/* the salt is HMAC-SHA256(secret, user) cut to 16 bytes ... */
	HMAC(EVP_sha256(), secret, sizeof(secret) - 1,
	     (const unsigned char *)"nobody", 6, md, &len);
	buf_init(&expect, 0);
	b64(md, 16, &expect);
	assert_string_equal(c.salt_b64, buf_cstr(&expect));
	buf_deinit(&expect);
	/* ... so it is stable across attempts */
	client_init(&c2, "nobody", "other");
	assert_int_equal(scram_run(&p, &c2), SASL_FAIL);
	assert_string_equal(c.salt_b64, c2.salt_b64);
	/* and differs per user */
	client_init(&c2, "nobody2", "pencil");
	assert_int_equal(scram_run(&p, &c2), SASL_FAIL);
	assert_string_not_equal(c.salt_b64, c2.salt_b64);
	/* a {PLAIN} user gets the same kind of salt */
	client_init(&c2, "plain", "pencil");
	assert_int_equal(scram_run(&p, &c2), SASL_OK);
	HMAC(EVP_sha256(), secret, sizeof(secret) - 1,
	     (const unsigned char *)"plain", 5, md, &len);
	buf_init(&expect, 0);
	b64(md, 16, &expect);
	assert_string_equal(c2.salt_b64, buf_cstr(&expect));
	buf_deinit(&expect);
}

static void
test_scram_lookup_error(void **state)
{
	struct sasl_params p = params(true);
	struct scram_client c;

	(void)state;
	client_init(&c, "error", "pencil");
	assert_int_equal(scram_run(&p, &c), SASL_FAIL);
}

static void
test_scram_authzid_mismatch(void **state)
{
	struct sasl_params p = params(true);
	struct scram_client c;

	(void)state;
	client_init(&c, "dove", "pencil");
	c.gs2 = "n,a=admin,";
	assert_int_equal(scram_run(&p, &c), SASL_FAIL);
}

/* client-first messages that must be refused as MALFORMED */
static void
test_scram_first_malformed(void **state)
{
	static const char *const bad[] = {
		"",
		"n",
		"n,",
		"n,,",
		"p=tls-unique,,n=user,r=abc",   /* channel binding */
		"p,,n=user,r=abc",
		"x,,n=user,r=abc",
		"nn,,n=user,r=abc",
		"n,,m=ext,n=user,r=abc",         /* mandatory extension */
		"n,,n=user",
		"n,,n=user,",
		"n,,n=user,r=",
		"n,,n=user,r=ab,c",             /* junk extension */
		"n,,n=user,r=abc,",
		"n,,r=abc,n=user",
		"n,,n=,r=abc",
		"n,,n=us=2Xer,r=abc",           /* bad escape */
		"n,,n=us=2,r=abc",
		"n,,n=user=,r=abc",
		"n,,n=us\x01r,r=abc",           /* control character */
		"n,,n=us\xffr,r=abc",           /* not UTF-8 */
		"n,,n=user,r=ab\x7f",          /* nonce not printable */
		"n,,n=user,r=a b",
		"n,a=,n=user,r=abc",
		"n,b=user,n=user,r=abc",
		"n,a=user",
		"N,,n=user,r=abc",
		" n,,n=user,r=abc",
	};
	struct sasl_params p = params(true);
	struct sasl_server *s;
	struct buf out;
	size_t i;

	(void)state;
	buf_init(&out, 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		enum sasl_status ret;

		s = sasl_server_new("SCRAM-SHA-256", &p);
		ret = step_str(s, bad[i], &out);
		if (ret != SASL_MALFORMED)
			fail_msg("\"%s\" gave %d", bad[i], ret);
		assert_int_equal(step_str(s, bad[i], &out), SASL_MALFORMED);
		sasl_server_free(&s);
	}
	/* a NUL byte inside */
	s = sasl_server_new("SCRAM-SHA-256", &p);
	assert_int_equal(step_mem(s, "n,,n=us\0r,r=abc", 15, &out),
			 SASL_MALFORMED);
	sasl_server_free(&s);
	/* extensions after the nonce are fine */
	s = sasl_server_new("SCRAM-SHA-256", &p);
	assert_int_equal(step_str(s, "n,,n=dove,r=abc,x=1,Y=", &out),
			 SASL_CONTINUE);
	sasl_server_free(&s);
	buf_deinit(&out);
}

static void
test_scram_limits(void **state)
{
	struct sasl_params p = params(true);
	struct sasl_server *s;
	struct buf out, msg;

	(void)state;
	buf_init(&out, 0);
	buf_init(&msg, 0);
	/* a nonce making the message longer than the limit */
	buf_append_str(&msg, "n,,n=dove,r=");
	while (msg.len < SASL_SCRAM_MAX_LEN + 1)
		buf_append_byte(&msg, 'x');
	s = sasl_server_new("SCRAM-SHA-256", &p);
	assert_int_equal(step_mem(s, msg.data, msg.len, &out), SASL_MALFORMED);
	sasl_server_free(&s);
	/* a nonce over its own limit */
	buf_clear(&msg);
	buf_append_str(&msg, "n,,n=dove,r=");
	while (msg.len < 12 + SASL_SCRAM_NONCE_MAX_LEN + 1)
		buf_append_byte(&msg, 'x');
	s = sasl_server_new("SCRAM-SHA-256", &p);
	assert_int_equal(step_mem(s, msg.data, msg.len, &out), SASL_MALFORMED);
	sasl_server_free(&s);
	/* a user name over its limit */
	buf_clear(&msg);
	buf_append_str(&msg, "n,,n=");
	while (msg.len < 5 + SASL_USER_MAX_LEN + 1)
		buf_append_byte(&msg, 'u');
	buf_append_str(&msg, ",r=abc");
	s = sasl_server_new("SCRAM-SHA-256", &p);
	assert_int_equal(step_mem(s, msg.data, msg.len, &out), SASL_MALFORMED);
	sasl_server_free(&s);
	buf_deinit(&msg);
	buf_deinit(&out);
}

/* client-final messages that must be refused */
static void
test_scram_final_malformed(void **state)
{
	static const char *const bad[] = {
		"",
		"c=biws",
		"c=biws,r=NONCE",                       /* no proof */
		"c=biws,r=NONCE,",
		"c=eSws,r=NONCE,p=AAAA",                /* wrong binding */
		"c=biw,r=NONCE,p=AAAA",                 /* bad base64 */
		"c=,r=NONCE,p=AAAA",
		"r=NONCE,c=biws,p=AAAA",
		"c=biws,r=NONCEx,p=AAAA",               /* wrong nonce */
		"c=biws,r=NONC,p=AAAA",
		"c=biws,r=,p=AAAA",
		"c=biws,r=NONCE,p=AAAA",                /* proof too short */
		"c=biws,r=NONCE,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ",
		"c=biws,r=NONCE,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=,"
			"x=1",                          /* proof not last */
		"c=biws,r=NONCE,1=2,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7A"
			"ndVQ=",                        /* bad extension */
		"c=biws,r=NONCE,,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndV"
			"Q=",
	};
	static const char nonce[] = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj"
		")hNlF$k0";
	struct sasl_params p = params(false);
	struct sasl_server *s;
	struct buf out, msg;
	size_t i;

	(void)state;
	buf_init(&out, 0);
	buf_init(&msg, 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *nv = strstr(bad[i], "NONCE");
		enum sasl_status ret;

		buf_clear(&msg);
		if (nv != NULL) {
			buf_append(&msg, bad[i], (size_t)(nv - bad[i]));
			buf_append_str(&msg, nonce);
			buf_append_str(&msg, nv + 5);
		} else {
			buf_append_str(&msg, bad[i]);
		}
		s = sasl_server_new("SCRAM-SHA-256", &p);
		sasl_server_set_test_nonce(s, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
		assert_int_equal(step_str(s, "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
					  &out), SASL_CONTINUE);
		ret = step_str(s, buf_cstr(&msg), &out);
		if (ret != SASL_MALFORMED)
			fail_msg("\"%s\" gave %d", buf_cstr(&msg), ret);
		sasl_server_free(&s);
	}
	/* no input where client-final is due */
	s = sasl_server_new("SCRAM-SHA-256", &p);
	assert_int_equal(step_str(s, "n,,n=user,r=abc", &out), SASL_CONTINUE);
	assert_int_equal(step_str(s, NULL, &out), SASL_MALFORMED);
	sasl_server_free(&s);
	/* no input twice at the start */
	s = sasl_server_new("SCRAM-SHA-256", &p);
	assert_int_equal(step_str(s, NULL, &out), SASL_CONTINUE);
	assert_int_equal(step_str(s, NULL, &out), SASL_MALFORMED);
	sasl_server_free(&s);
	buf_deinit(&msg);
	buf_deinit(&out);
}

/* ---- PLAIN ---- */

static enum sasl_status
plain_once(bool allow_plain, const void *msg, size_t len, char **user_r)
{
	struct sasl_params p = params(allow_plain);
	struct sasl_server *s = sasl_server_new("PLAIN", &p);
	enum sasl_status ret;
	struct buf out;

	assert_non_null(s);
	buf_init(&out, 0);
	ret = step_mem(s, msg, len, &out);
	assert_int_equal(out.len, 0);
	/* any further step is a protocol error */
	if (ret != SASL_CONTINUE)
		assert_int_equal(step_mem(s, msg, len, &out), SASL_MALFORMED);
	if (user_r != NULL)
		*user_r = sasl_server_user(s) == NULL ? NULL :
			strdup(sasl_server_user(s));
	sasl_server_free(&s);
	buf_deinit(&out);
	return ret;
}

#define PLAIN(allow, lit) plain_once(allow, lit, sizeof(lit) - 1, NULL)

static void
test_plain(void **state)
{
	char *user = NULL;
	char big[SASL_PLAIN_MAX_LEN + 1];

	(void)state;
	assert_int_equal(PLAIN(true, "\0plain\0pencil"), SASL_OK);
	assert_int_equal(plain_once(true, "\0plain\0pencil", 13, &user),
			 SASL_OK);
	assert_string_equal(user, "plain");
	free(user);
	assert_int_equal(PLAIN(true, "plain\0plain\0pencil"), SASL_OK);
	assert_int_equal(PLAIN(false, "\0dove\0pencil"), SASL_OK);
	assert_int_equal(PLAIN(false, "\0user\0pencil"), SASL_OK);
	assert_int_equal(PLAIN(false, "\0sha\0pencil"), SASL_OK);

	/* wrong credentials */
	assert_int_equal(PLAIN(true, "\0plain\0pencil2"), SASL_FAIL);
	assert_int_equal(PLAIN(true, "\0plain\0Pencil"), SASL_FAIL);
	assert_int_equal(PLAIN(false, "\0plain\0pencil"), SASL_FAIL);
	assert_int_equal(PLAIN(true, "\0nobody\0pencil"), SASL_FAIL);
	assert_int_equal(PLAIN(true, "\0error\0pencil"), SASL_FAIL);
	/* authzid must be empty or the same user */
	assert_int_equal(plain_once(true, "admin\0plain\0pencil", 18, &user),
			 SASL_FAIL);
	assert_string_equal(user, "plain");
	free(user);
	assert_int_equal(PLAIN(true, "plai\0plain\0pencil"), SASL_FAIL);

	/* malformed */
	assert_int_equal(PLAIN(true, ""), SASL_MALFORMED);
	assert_int_equal(PLAIN(true, "plain"), SASL_MALFORMED);
	assert_int_equal(PLAIN(true, "plain\0pencil"), SASL_MALFORMED);
	assert_int_equal(PLAIN(true, "\0plainpencil"), SASL_MALFORMED);
	assert_int_equal(PLAIN(true, "\0\0pencil"), SASL_MALFORMED);
	assert_int_equal(PLAIN(true, "\0plain\0"), SASL_MALFORMED);
	assert_int_equal(PLAIN(true, "\0plain\0pen\0cil"), SASL_MALFORMED);
	assert_int_equal(PLAIN(true, "\0plain\0pencil\0"), SASL_MALFORMED);
	assert_int_equal(PLAIN(true, "\0pl\xffin\0pencil"), SASL_MALFORMED);
	assert_int_equal(PLAIN(true, "\xc0\xafz\0plain\0pencil"),
			 SASL_MALFORMED);
	assert_int_equal(PLAIN(true, "\0pl\nin\0pencil"), SASL_MALFORMED);

	/* size limit: a long password is fine up to the limit */
	memset(big, 'x', sizeof(big));
	big[0] = '\0';
	memcpy(big + 1, "plain", 5);
	big[6] = '\0';
	assert_int_equal(plain_once(true, big, SASL_PLAIN_MAX_LEN, NULL),
			 SASL_FAIL);
	assert_int_equal(plain_once(true, big, sizeof(big), NULL),
			 SASL_MALFORMED);
}

static void
test_plain_no_initial(void **state)
{
	struct sasl_params p = params(true);
	struct sasl_server *s;
	struct buf out;

	(void)state;
	buf_init(&out, 0);
	s = sasl_server_new("PLAIN", &p);
	assert_int_equal(step_str(s, NULL, &out), SASL_CONTINUE);
	assert_int_equal(out.len, 0);
	assert_int_equal(step_mem(s, "\0plain\0pencil", 13, &out), SASL_OK);
	assert_string_equal(sasl_server_user(s), "plain");
	assert_int_equal(step_mem(s, "\0plain\0pencil", 13, &out),
			 SASL_MALFORMED);
	sasl_server_free(&s);

	s = sasl_server_new("PLAIN", &p);
	assert_int_equal(step_str(s, NULL, &out), SASL_CONTINUE);
	assert_int_equal(step_str(s, NULL, &out), SASL_MALFORMED);
	assert_null(sasl_server_user(s));
	sasl_server_free(&s);
	buf_deinit(&out);
}

/* ---- LOGIN ---- */

static void
test_login(void **state)
{
	struct sasl_params p = params(true);
	struct sasl_server *s;
	struct buf out;
	char big[SASL_LOGIN_MAX_LEN + 1];

	(void)state;
	buf_init(&out, 0);
	s = sasl_server_new("LOGIN", &p);
	assert_int_equal(step_str(s, NULL, &out), SASL_CONTINUE);
	assert_string_equal(buf_cstr(&out), "Username:");
	assert_int_equal(step_str(s, "plain", &out), SASL_CONTINUE);
	assert_string_equal(buf_cstr(&out), "Password:");
	assert_int_equal(step_str(s, "pencil", &out), SASL_OK);
	assert_int_equal(out.len, 0);
	assert_string_equal(sasl_server_user(s), "plain");
	assert_int_equal(step_str(s, "pencil", &out), SASL_MALFORMED);
	sasl_server_free(&s);

	/* the user name as initial response */
	s = sasl_server_new("LOGIN", &p);
	assert_int_equal(step_str(s, "dove", &out), SASL_CONTINUE);
	assert_string_equal(buf_cstr(&out), "Password:");
	assert_int_equal(step_str(s, "pencil", &out), SASL_OK);
	sasl_server_free(&s);

	/* wrong password, unknown user */
	s = sasl_server_new("LOGIN", &p);
	assert_int_equal(step_str(s, "dove", &out), SASL_CONTINUE);
	assert_int_equal(step_str(s, "pencil2", &out), SASL_FAIL);
	assert_string_equal(sasl_server_user(s), "dove");
	sasl_server_free(&s);
	s = sasl_server_new("LOGIN", &p);
	assert_int_equal(step_str(s, "nobody", &out), SASL_CONTINUE);
	assert_int_equal(step_str(s, "pencil", &out), SASL_FAIL);
	sasl_server_free(&s);
	/* empty password */
	s = sasl_server_new("LOGIN", &p);
	assert_int_equal(step_str(s, "dove", &out), SASL_CONTINUE);
	assert_int_equal(step_str(s, "", &out), SASL_FAIL);
	sasl_server_free(&s);

	/* malformed: missing responses, empty or bad names, NULs, size */
	s = sasl_server_new("LOGIN", &p);
	assert_int_equal(step_str(s, NULL, &out), SASL_CONTINUE);
	assert_int_equal(step_str(s, NULL, &out), SASL_MALFORMED);
	sasl_server_free(&s);
	s = sasl_server_new("LOGIN", &p);
	assert_int_equal(step_str(s, "dove", &out), SASL_CONTINUE);
	assert_int_equal(step_str(s, NULL, &out), SASL_MALFORMED);
	sasl_server_free(&s);
	s = sasl_server_new("LOGIN", &p);
	assert_int_equal(step_str(s, "", &out), SASL_MALFORMED);
	sasl_server_free(&s);
	s = sasl_server_new("LOGIN", &p);
	assert_int_equal(step_mem(s, "do\0ve", 5, &out), SASL_MALFORMED);
	sasl_server_free(&s);
	s = sasl_server_new("LOGIN", &p);
	assert_int_equal(step_str(s, "dove", &out), SASL_CONTINUE);
	assert_int_equal(step_mem(s, "pencil\0", 7, &out), SASL_MALFORMED);
	sasl_server_free(&s);
	memset(big, 'x', sizeof(big));
	s = sasl_server_new("LOGIN", &p);
	assert_int_equal(step_mem(s, big, sizeof(big), &out), SASL_MALFORMED);
	sasl_server_free(&s);
	s = sasl_server_new("LOGIN", &p);
	assert_int_equal(step_str(s, "dove", &out), SASL_CONTINUE);
	assert_int_equal(step_mem(s, big, sizeof(big), &out), SASL_MALFORMED);
	sasl_server_free(&s);
	s = sasl_server_new("LOGIN", &p);
	assert_int_equal(step_str(s, "dove", &out), SASL_CONTINUE);
	assert_int_equal(step_mem(s, big, sizeof(big) - 1, &out), SASL_FAIL);
	sasl_server_free(&s);
	buf_deinit(&out);
}

/* An output buffer too small for the challenge fails cleanly. */
static void
test_small_out(void **state)
{
	struct sasl_params p = params(true);
	struct sasl_server *s;
	struct buf out;

	(void)state;
	buf_init(&out, 4);
	s = sasl_server_new("LOGIN", &p);
	assert_int_equal(step_str(s, NULL, &out), SASL_FAIL);
	sasl_server_free(&s);
	s = sasl_server_new("SCRAM-SHA-256", &p);
	assert_int_equal(step_str(s, "n,,n=dove,r=abc", &out), SASL_FAIL);
	sasl_server_free(&s);
	buf_deinit(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mechanisms),
		cmocka_unit_test(test_scram_rfc7677),
		cmocka_unit_test(test_scram_rfc7677_bad_proof),
		cmocka_unit_test(test_scram_clients),
		cmocka_unit_test(test_scram_unknown_user),
		cmocka_unit_test(test_scram_lookup_error),
		cmocka_unit_test(test_scram_authzid_mismatch),
		cmocka_unit_test(test_scram_first_malformed),
		cmocka_unit_test(test_scram_limits),
		cmocka_unit_test(test_scram_final_malformed),
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_plain_no_initial),
		cmocka_unit_test(test_login),
		cmocka_unit_test(test_small_out),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
