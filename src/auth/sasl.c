/* sasl: server side of PLAIN (RFC 4616), LOGIN (draft-murchison-sasl-login)
 * and SCRAM-SHA-256 (RFC 5802, RFC 7677) on OpenSSL primitives.
 *
 * Each exchange is a small state machine with exactly one valid order of
 * steps; a step out of order, input past the mechanism's limit or a syntax
 * error ends it with SASL_MALFORMED.  Unknown users cost as much as known
 * ones where that is cheap to arrange: PLAIN/LOGIN verify against a dummy
 * hash, and SCRAM answers with a salt derived from a server secret and
 * fails only at the proof, so the exchange does not reveal which users
 * exist.  Users whose stored scheme can't give SCRAM keys are treated the
 * same way.
 *
 * Non-goals and limits: no channel binding (-PLUS isn't offered, so "p="
 * is refused), and SASLprep (RFC 4013) is applied only in the sense that
 * ASCII names and passwords are used as-is and control characters in names
 * are refused; non-ASCII input is passed through without normalisation, so
 * a client that normalises a non-ASCII password differently than the one
 * that produced the stored keys will fail (Dovecot behaves the same). */
#include "sasl.h"
#include "sasl-private.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base64.h"
#include "password.h"
#include "xalloc.h"

const char *const sasl_mechanisms[] = {
	"PLAIN", "LOGIN", "SCRAM-SHA-256", NULL,
};

enum sasl_mech {
	SASL_MECH_PLAIN,
	SASL_MECH_LOGIN,
	SASL_MECH_SCRAM_SHA256,
};

#define SCRAM_KEY_LEN 32

/* Verified instead of a real hash when the user doesn't exist, so PLAIN
 * and LOGIN take about as long for unknown users (SHA512-CRYPT, default
 * rounds: the cost most stored passwords have). */
static const char dummy_hash[] =
	"{SHA512-CRYPT}$6$saltsalt$rD9fW1BwIrjB90WCgCTdIQc3phTBhf04I6Iw/Xlg"
	"KD9E9aEbzqGZipjiFxGo/4wWXDA6jV6/vZO.kKdDSfUJb0";

struct sasl_server {
	enum sasl_mech mech;
	unsigned step;  /* mechanism-specific position in the exchange */
	bool finished;  /* a final status was returned */
	sasl_lookup_fn *lookup;
	void *lookup_ctx;
	bool allow_plain;
	unsigned char *secret; /* owned copy, wiped on free; may be NULL */
	size_t secret_len;
	char *user;            /* owned; the claimed authentication id */

	/* SCRAM state, all owned */
	char *test_nonce;          /* server nonce override (tests) */
	struct buf gs2_header;     /* "n,," / "y,,a=..." as sent */
	struct buf client_first_bare;
	struct buf server_first;
	char *nonce;               /* client nonce + server nonce */
	struct scram_keys keys;    /* wiped on free */
	bool user_ok;              /* keys are real; else fail at the end */
};

bool
sasl_mechanism_supported(const char *name)
{
	size_t i;

	if (name == NULL)
		return false;
	for (i = 0; sasl_mechanisms[i] != NULL; i++) {
		if (strcasecmp(name, sasl_mechanisms[i]) == 0)
			return true;
	}
	return false;
}

struct sasl_server *
sasl_server_new(const char *mech, const struct sasl_params *params)
{
	struct sasl_server *s;
	enum sasl_mech m;

	if (mech == NULL || params == NULL || params->lookup == NULL)
		return NULL;
	if (strcasecmp(mech, "PLAIN") == 0)
		m = SASL_MECH_PLAIN;
	else if (strcasecmp(mech, "LOGIN") == 0)
		m = SASL_MECH_LOGIN;
	else if (strcasecmp(mech, "SCRAM-SHA-256") == 0)
		m = SASL_MECH_SCRAM_SHA256;
	else
		return NULL;
	s = xmalloc(sizeof(*s));
	s->mech = m;
	s->lookup = params->lookup;
	s->lookup_ctx = params->lookup_ctx;
	s->allow_plain = params->allow_plain_scheme;
	if (params->secret != NULL && params->secret_len > 0) {
		s->secret = xmemdup(params->secret, params->secret_len);
		s->secret_len = params->secret_len;
	}
	buf_init(&s->gs2_header, SASL_SCRAM_MAX_LEN);
	buf_init(&s->client_first_bare, SASL_SCRAM_MAX_LEN);
	buf_init(&s->server_first, 2 * SASL_SCRAM_MAX_LEN);
	return s;
}

static void
wipe_buf(struct buf *b)
{
	if (b->data != NULL)
		OPENSSL_cleanse(b->data, b->cap);
	buf_deinit(b);
}

static void
wipe_str(char **s)
{
	if (*s != NULL) {
		OPENSSL_cleanse(*s, strlen(*s));
		free(*s);
		*s = NULL;
	}
}

void
sasl_server_free(struct sasl_server **sp)
{
	struct sasl_server *s = *sp;

	if (s == NULL)
		return;
	*sp = NULL;
	if (s->secret != NULL) {
		OPENSSL_cleanse(s->secret, s->secret_len);
		free(s->secret);
	}
	wipe_str(&s->user);
	wipe_str(&s->test_nonce);
	wipe_str(&s->nonce);
	wipe_buf(&s->gs2_header);
	wipe_buf(&s->client_first_bare);
	wipe_buf(&s->server_first);
	OPENSSL_cleanse(s, sizeof(*s));
	free(s);
}

void
sasl_server_set_test_nonce(struct sasl_server *s, const char *nonce)
{
	wipe_str(&s->test_nonce);
	s->test_nonce = xstrdup(nonce);
}

const char *
sasl_server_user(const struct sasl_server *s)
{
	return s->user;
}

/* ---- helpers ---- */

/* RFC 3629 section 4: well-formed UTF-8 (no overlongs, no surrogates,
 * nothing above U+10FFFF). */
static bool
utf8_valid(const uint8_t *p, size_t len)
{
	size_t i = 0, n, k;
	uint32_t cp, min;

	while (i < len) {
		uint8_t c = p[i];

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1; cp = c & 0x1f; min = 0x80;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2; cp = c & 0x0f; min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3; cp = c & 0x07; min = 0x10000;
		} else {
			return false;
		}
		if (len - i - 1 < n)
			return false;
		for (k = 1; k <= n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

/* An authentication or authorization identity: 1..SASL_USER_MAX_LEN
 * bytes of UTF-8 without control characters (SASLprep prohibits them,
 * and they have no business in a user name or a log line). */
static bool
identity_valid(const uint8_t *p, size_t len)
{
	size_t i;

	if (len == 0 || len > SASL_USER_MAX_LEN)
		return false;
	for (i = 0; i < len; i++) {
		if (p[i] < 0x20 || p[i] == 0x7f)
			return false;
	}
	return utf8_valid(p, len);
}

static void
set_user(struct sasl_server *s, const uint8_t *p, size_t len)
{
	wipe_str(&s->user);
	s->user = xstrndup((const char *)p, len);
}

/* Looks the user up and checks the password: SASL_OK or SASL_FAIL. */
static enum sasl_status
check_password(struct sasl_server *s, const uint8_t *pw, size_t pwlen)
{
	const char *error;
	char *stored = NULL;
	int ret;

	ret = s->lookup(s->lookup_ctx, s->user, &stored);
	if (ret < 0) {
		wipe_str(&stored);
		return SASL_FAIL;
	}
	if (ret == 0 || stored == NULL) {
		/* Burn the time a real user would cost. */
		(void)password_verify(dummy_hash, pw, pwlen, false, &error);
		wipe_str(&stored);
		return SASL_FAIL;
	}
	ret = password_verify(stored, pw, pwlen, s->allow_plain, &error);
	wipe_str(&stored);
	return ret == 1 ? SASL_OK : SASL_FAIL;
}

/* ---- PLAIN (RFC 4616) ----
 *   message = [authzid] UTF8NUL authcid UTF8NUL passwd */
static enum sasl_status
plain_step(struct sasl_server *s, bool has_input, const uint8_t *in,
	   size_t inlen)
{
	const uint8_t *nul1, *nul2, *authcid, *pw;
	size_t zlen, clen, pwlen;

	if (s->step == 0 && !has_input) {
		s->step = 1; /* send an empty challenge */
		return SASL_CONTINUE;
	}
	if (!has_input || inlen > SASL_PLAIN_MAX_LEN)
		return SASL_MALFORMED;
	nul1 = memchr(in, '\0', inlen);
	if (nul1 == NULL)
		return SASL_MALFORMED;
	zlen = (size_t)(nul1 - in);
	authcid = nul1 + 1;
	nul2 = memchr(authcid, '\0', inlen - zlen - 1);
	if (nul2 == NULL)
		return SASL_MALFORMED;
	clen = (size_t)(nul2 - authcid);
	pw = nul2 + 1;
	pwlen = inlen - zlen - clen - 2;
	/* passwd = 1*SAFE; SAFE excludes NUL */
	if (pwlen == 0 || memchr(pw, '\0', pwlen) != NULL)
		return SASL_MALFORMED;
	if (!identity_valid(authcid, clen) ||
	    (zlen > 0 && !identity_valid(in, zlen)))
		return SASL_MALFORMED;
	set_user(s, authcid, clen);
	/* We don't support acting as another user. */
	if (zlen > 0 && (zlen != clen || memcmp(in, authcid, clen) != 0))
		return SASL_FAIL;
	return check_password(s, pw, pwlen);
}

/* ---- LOGIN (draft-murchison-sasl-login-00) ----
 * S: "Username:"  C: name  S: "Password:"  C: password.  A client may send
 * the name as initial response (SASL-IR), as Dovecot accepts. */
static enum sasl_status
login_username(struct sasl_server *s, const uint8_t *in, size_t inlen,
	       struct buf *out)
{
	if (inlen > SASL_LOGIN_MAX_LEN || !identity_valid(in, inlen))
		return SASL_MALFORMED;
	set_user(s, in, inlen);
	s->step = 2;
	return buf_append_str(out, "Password:") < 0 ?
		SASL_FAIL : SASL_CONTINUE;
}

static enum sasl_status
login_step(struct sasl_server *s, bool has_input, const uint8_t *in,
	   size_t inlen, struct buf *out)
{
	switch (s->step) {
	case 0:
		if (has_input) /* the initial response is the user name */
			return login_username(s, in, inlen, out);
		s->step = 1;
		return buf_append_str(out, "Username:") < 0 ?
			SASL_FAIL : SASL_CONTINUE;
	case 1:
		if (!has_input)
			return SASL_MALFORMED;
		return login_username(s, in, inlen, out);
	case 2:
		if (!has_input || inlen > SASL_LOGIN_MAX_LEN ||
		    memchr(in, '\0', inlen) != NULL)
			return SASL_MALFORMED;
		s->step = 3;
		return check_password(s, in, inlen);
	default:
		return SASL_MALFORMED;
	}
}

/* ---- SCRAM-SHA-256 (RFC 5802 section 7, RFC 7677) ---- */

/* saslname = 1*(value-safe-char / "=2C" / "=3D"); value-safe-char is any
 * UTF8-char except NUL, "=" and ",".  Returns a malloc'd decoded name or
 * NULL when malformed. */
static char *
saslname_decode(const uint8_t *p, size_t len)
{
	char *out;
	size_t i, n = 0;

	if (len == 0)
		return NULL;
	out = xmalloc(len + 1);
	for (i = 0; i < len; i++) {
		if (p[i] == '=') {
			if (len - i < 3)
				goto bad;
			if (p[i + 1] == '2' && p[i + 2] == 'C')
				out[n++] = ',';
			else if (p[i + 1] == '3' && p[i + 2] == 'D')
				out[n++] = '=';
			else
				goto bad;
			i += 2;
		} else if (p[i] == ',' || p[i] == '\0') {
			goto bad;
		} else {
			out[n++] = (char)p[i];
		}
	}
	if (!identity_valid((const uint8_t *)out, n))
		goto bad;
	out[n] = '\0';
	return out;
bad:
	free(out);
	return NULL;
}

/* Splits off the next ','-separated field of in[*pos..len). */
static void
next_field(const uint8_t *in, size_t len, size_t *pos,
	   const uint8_t **field_r, size_t *flen_r)
{
	const uint8_t *start = in + *pos;
	const uint8_t *comma = memchr(start, ',', len - *pos);

	*field_r = start;
	if (comma == NULL) {
		*flen_r = len - *pos;
		*pos = len;
	} else {
		*flen_r = (size_t)(comma - start);
		*pos += *flen_r + 1;
	}
}

/* True when a ',' followed the field just split off (so another field,
 * possibly empty, comes next). */
static bool
field_has_more(const uint8_t *in, size_t inlen, const uint8_t *f,
	       size_t flen)
{
	return (size_t)(f - in) + flen < inlen;
}

/* attr-val = ALPHA "=" value */
static bool
attr_valid(const uint8_t *f, size_t flen)
{
	return flen >= 2 && f[1] == '=' &&
		((f[0] >= 'a' && f[0] <= 'z') || (f[0] >= 'A' && f[0] <= 'Z'));
}

/* printable = %x21-2B / %x2D-7E  ;; printable ASCII except "," */
static bool
nonce_valid(const uint8_t *p, size_t len)
{
	size_t i;

	if (len == 0 || len > SASL_SCRAM_NONCE_MAX_LEN)
		return false;
	for (i = 0; i < len; i++) {
		if (p[i] < 0x21 || p[i] > 0x7e || p[i] == ',')
			return false;
	}
	return true;
}

/* Fake salt for a user without SCRAM keys: stable per user (so repeated
 * probes see the same salt, as for a real user) and unpredictable without
 * the server secret. */
static int
scram_fake_salt(struct sasl_server *s, unsigned char *salt)
{
	unsigned char md[EVP_MAX_MD_SIZE], key[32];
	unsigned int mdlen = 0;
	const unsigned char *k = s->secret;
	size_t klen = s->secret_len;

	if (s->secret == NULL || s->secret_len < 16) {
		/* Misconfigured: no stable secret.  Salts then differ on
		 * every try, which hides keys but can reveal non-users. */
		if (RAND_bytes(key, sizeof(key)) != 1)
			return -1;
		k = key;
		klen = sizeof(key);
	}
	if (HMAC(EVP_sha256(), k, (int)klen, (const unsigned char *)s->user,
		 strlen(s->user), md, &mdlen) == NULL || mdlen < 16) {
		OPENSSL_cleanse(key, sizeof(key));
		return -1;
	}
	memcpy(salt, md, SASL_SCRAM_FAKE_SALT_LEN);
	OPENSSL_cleanse(md, sizeof(md));
	OPENSSL_cleanse(key, sizeof(key));
	return 0;
}

/* Fills s->keys for s->user: real ones when the stored value gives them,
 * otherwise a fake salt and random keys that no proof will match. */
static int
scram_load_keys(struct sasl_server *s)
{
	unsigned char fake_salt[SASL_SCRAM_FAKE_SALT_LEN];
	char *stored = NULL;
	int ret;

	ret = s->lookup(s->lookup_ctx, s->user, &stored);
	if (ret < 0) {
		wipe_str(&stored);
		return -1;
	}
	if (scram_fake_salt(s, fake_salt) < 0) {
		wipe_str(&stored);
		return -1;
	}
	memset(&s->keys, 0, sizeof(s->keys));
	/* Inputs for {PLAIN}: the same salt an unknown user would get. */
	s->keys.iterations = SASL_SCRAM_DEFAULT_ITERATIONS;
	memcpy(s->keys.salt, fake_salt, sizeof(fake_salt));
	s->keys.salt_len = sizeof(fake_salt);
	s->user_ok = ret == 1 && stored != NULL &&
		password_scram_keys(stored, s->allow_plain, &s->keys) == 0;
	wipe_str(&stored);
	if (!s->user_ok) {
		OPENSSL_cleanse(&s->keys, sizeof(s->keys));
		s->keys.iterations = SASL_SCRAM_DEFAULT_ITERATIONS;
		memcpy(s->keys.salt, fake_salt, sizeof(fake_salt));
		s->keys.salt_len = sizeof(fake_salt);
		if (RAND_bytes(s->keys.stored_key, SCRAM_KEY_LEN) != 1 ||
		    RAND_bytes(s->keys.server_key, SCRAM_KEY_LEN) != 1)
			return -1;
	}
	OPENSSL_cleanse(fake_salt, sizeof(fake_salt));
	return 0;
}

/* client-first-message = gs2-header client-first-message-bare
 *   gs2-header = gs2-cbind-flag "," [ authzid ] ","
 *   gs2-cbind-flag = ("p=" cb-name) / "n" / "y"
 *   client-first-message-bare = [reserved-mext ","]
 *                               username "," nonce ["," extensions] */
static enum sasl_status
scram_client_first(struct sasl_server *s, const uint8_t *in, size_t inlen,
		   struct buf *out)
{
	unsigned char rnd[SASL_SCRAM_SERVER_NONCE_BYTES];
	const uint8_t *f, *cnonce;
	size_t flen, cnonce_len, pos = 0, bare_start;
	char *authzid = NULL;
	struct buf nonce;
	enum sasl_status ret = SASL_MALFORMED;
	bool more;

	if (inlen > SASL_SCRAM_MAX_LEN || memchr(in, '\0', inlen) != NULL)
		return SASL_MALFORMED;
	/* gs2-cbind-flag: we offer no -PLUS, so "p=" is a client error;
	 * "y" means the client could bind but thinks we can't: fine. */
	next_field(in, inlen, &pos, &f, &flen);
	if (flen != 1 || (f[0] != 'n' && f[0] != 'y') || pos >= inlen)
		return SASL_MALFORMED;
	next_field(in, inlen, &pos, &f, &flen);
	if (flen > 0) {
		if (flen < 2 || f[0] != 'a' || f[1] != '=')
			return SASL_MALFORMED;
		authzid = saslname_decode(f + 2, flen - 2);
		if (authzid == NULL)
			return SASL_MALFORMED;
	}
	if (pos >= inlen || in[pos - 1] != ',')
		goto out;
	bare_start = pos;

	/* reserved-mext "m=": mandatory extensions we don't know */
	next_field(in, inlen, &pos, &f, &flen);
	if (flen < 2 || f[0] != 'n' || f[1] != '=')
		goto out;
	wipe_str(&s->user);
	s->user = saslname_decode(f + 2, flen - 2);
	if (s->user == NULL)
		goto out;
	next_field(in, inlen, &pos, &f, &flen);
	if (flen < 2 || f[0] != 'r' || f[1] != '=' ||
	    !nonce_valid(f + 2, flen - 2))
		goto out;
	cnonce = f + 2;
	cnonce_len = flen - 2;
	/* Optional extensions follow; unknown ones are ignored (RFC 5802
	 * section 5.1), but each must at least look like attr=value. */
	more = field_has_more(in, inlen, f, flen);
	while (more) {
		next_field(in, inlen, &pos, &f, &flen);
		more = field_has_more(in, inlen, f, flen);
		if (!attr_valid(f, flen))
			goto out;
	}

	if (authzid != NULL && strcmp(authzid, s->user) != 0) {
		ret = SASL_FAIL; /* no proxy authorization */
		goto out;
	}
	if (scram_load_keys(s) < 0) {
		ret = SASL_FAIL;
		goto out;
	}

	buf_clear(&s->gs2_header);
	buf_clear(&s->client_first_bare);
	if (buf_append(&s->gs2_header, in, bare_start) < 0 ||
	    buf_append(&s->client_first_bare, in + bare_start,
		       inlen - bare_start) < 0)
		goto out;

	/* nonce = client nonce + our fresh one */
	buf_init(&nonce, SASL_SCRAM_MAX_LEN);
	if (buf_append(&nonce, cnonce, cnonce_len) < 0)
		goto nonce_fail;
	if (s->test_nonce != NULL) {
		if (buf_append_str(&nonce, s->test_nonce) < 0)
			goto nonce_fail;
	} else {
		if (RAND_bytes(rnd, sizeof(rnd)) != 1 ||
		    base64_encode(&nonce, rnd, sizeof(rnd)) < 0)
			goto nonce_fail;
	}
	wipe_str(&s->nonce);
	s->nonce = xstrdup(buf_cstr(&nonce));
	buf_deinit(&nonce);

	/* server-first-message = [reserved-mext ","] nonce "," salt ","
	 *                        iteration-count ["," extensions] */
	buf_clear(&s->server_first);
	if (buf_printf(&s->server_first, "r=%s,s=", s->nonce) < 0 ||
	    base64_encode(&s->server_first, s->keys.salt,
			  s->keys.salt_len) < 0 ||
	    buf_printf(&s->server_first, ",i=%u", s->keys.iterations) < 0 ||
	    buf_append(out, s->server_first.data, s->server_first.len) < 0) {
		ret = SASL_FAIL;
		goto out;
	}
	s->step = 2;
	ret = SASL_CONTINUE;
	goto out;
nonce_fail:
	buf_deinit(&nonce);
	ret = SASL_FAIL;
out:
	wipe_str(&authzid);
	OPENSSL_cleanse(rnd, sizeof(rnd));
	return ret;
}

/* client-final-message = client-final-message-without-proof "," proof
 *   client-final-message-without-proof = channel-binding "," nonce
 *                                        ["," extensions]
 *   channel-binding = "c=" base64 (of the gs2-header, no cbind-data)
 *   proof = "p=" base64 */
static enum sasl_status
scram_client_final(struct sasl_server *s, const uint8_t *in, size_t inlen,
		   struct buf *out)
{
	unsigned char proof[SCRAM_KEY_LEN], sig[EVP_MAX_MD_SIZE];
	unsigned char client_key[SCRAM_KEY_LEN], check[SHA256_DIGEST_LENGTH];
	unsigned char server_sig[EVP_MAX_MD_SIZE];
	unsigned int siglen = 0;
	const uint8_t *f, *proof_attr = NULL;
	size_t flen = 0, pos = 0, i, without_proof_len;
	struct buf cb, pbuf, auth_msg;
	enum sasl_status ret = SASL_MALFORMED;
	bool match, more;

	if (inlen > SASL_SCRAM_MAX_LEN || memchr(in, '\0', inlen) != NULL)
		return SASL_MALFORMED;
	buf_init(&cb, SASL_SCRAM_MAX_LEN);
	buf_init(&pbuf, SCRAM_KEY_LEN);
	buf_init(&auth_msg, 4 * SASL_SCRAM_MAX_LEN);

	next_field(in, inlen, &pos, &f, &flen);
	if (flen < 2 || f[0] != 'c' || f[1] != '=' ||
	    base64_decode(&cb, f + 2, flen - 2) < 0 ||
	    cb.len != s->gs2_header.len ||
	    memcmp(cb.data, s->gs2_header.data, cb.len) != 0)
		goto out;
	next_field(in, inlen, &pos, &f, &flen);
	if (flen < 2 || f[0] != 'r' || f[1] != '=' ||
	    flen - 2 != strlen(s->nonce) ||
	    memcmp(f + 2, s->nonce, flen - 2) != 0)
		goto out;
	/* Skip extensions; the proof is the last attribute. */
	more = field_has_more(in, inlen, f, flen);
	while (more) {
		next_field(in, inlen, &pos, &f, &flen);
		more = field_has_more(in, inlen, f, flen);
		if (!attr_valid(f, flen))
			goto out;
		if (f[0] == 'p') {
			proof_attr = f;
			break;
		}
	}
	if (proof_attr == NULL || more ||
	    base64_decode(&pbuf, proof_attr + 2, flen - 2) < 0 ||
	    pbuf.len != SCRAM_KEY_LEN)
		goto out;
	memcpy(proof, pbuf.data, SCRAM_KEY_LEN);
	/* the ',' before "p=" isn't part of the message without proof */
	without_proof_len = (size_t)(proof_attr - in) - 1;

	/* AuthMessage := client-first-message-bare + "," +
	 *                server-first-message + "," +
	 *                client-final-message-without-proof */
	if (buf_append(&auth_msg, s->client_first_bare.data,
		       s->client_first_bare.len) < 0 ||
	    buf_append_byte(&auth_msg, ',') < 0 ||
	    buf_append(&auth_msg, s->server_first.data,
		       s->server_first.len) < 0 ||
	    buf_append_byte(&auth_msg, ',') < 0 ||
	    buf_append(&auth_msg, in, without_proof_len) < 0) {
		ret = SASL_FAIL;
		goto out;
	}
	/* ClientSignature := HMAC(StoredKey, AuthMessage)
	 * ClientKey := ClientProof XOR ClientSignature
	 * and H(ClientKey) must be StoredKey. */
	ret = SASL_FAIL;
	if (HMAC(EVP_sha256(), s->keys.stored_key, SCRAM_KEY_LEN,
		 auth_msg.data, auth_msg.len, sig, &siglen) == NULL ||
	    siglen != SCRAM_KEY_LEN)
		goto out;
	for (i = 0; i < SCRAM_KEY_LEN; i++)
		client_key[i] = proof[i] ^ sig[i];
	if (SHA256(client_key, sizeof(client_key), check) == NULL)
		goto out;
	match = CRYPTO_memcmp(check, s->keys.stored_key, SCRAM_KEY_LEN) == 0;
	if (!match || !s->user_ok)
		goto out;
	/* ServerSignature := HMAC(ServerKey, AuthMessage) */
	if (HMAC(EVP_sha256(), s->keys.server_key, SCRAM_KEY_LEN,
		 auth_msg.data, auth_msg.len, server_sig, &siglen) == NULL ||
	    siglen != SCRAM_KEY_LEN)
		goto out;
	if (buf_append_str(out, "v=") < 0 ||
	    base64_encode(out, server_sig, SCRAM_KEY_LEN) < 0)
		goto out;
	ret = SASL_OK;
out:
	OPENSSL_cleanse(proof, sizeof(proof));
	OPENSSL_cleanse(sig, sizeof(sig));
	OPENSSL_cleanse(client_key, sizeof(client_key));
	OPENSSL_cleanse(check, sizeof(check));
	OPENSSL_cleanse(server_sig, sizeof(server_sig));
	wipe_buf(&cb);
	wipe_buf(&pbuf);
	wipe_buf(&auth_msg);
	return ret;
}

static enum sasl_status
scram_step(struct sasl_server *s, bool has_input, const uint8_t *in,
	   size_t inlen, struct buf *out)
{
	switch (s->step) {
	case 0:
		if (!has_input) {
			s->step = 1; /* empty challenge, then client-first */
			return SASL_CONTINUE;
		}
		return scram_client_first(s, in, inlen, out);
	case 1:
		if (!has_input)
			return SASL_MALFORMED;
		return scram_client_first(s, in, inlen, out);
	case 2:
		if (!has_input)
			return SASL_MALFORMED;
		s->step = 3;
		return scram_client_final(s, in, inlen, out);
	default:
		return SASL_MALFORMED;
	}
}

enum sasl_status
sasl_server_step(struct sasl_server *s, bool has_input, const uint8_t *in,
		 size_t inlen, struct buf *out)
{
	enum sasl_status ret;

	if (s->finished)
		return SASL_MALFORMED;
	if (has_input && in == NULL && inlen > 0) {
		s->finished = true;
		return SASL_MALFORMED;
	}
	if (in == NULL)
		in = (const uint8_t *)"";
	switch (s->mech) {
	case SASL_MECH_PLAIN:
		ret = plain_step(s, has_input, in, inlen);
		break;
	case SASL_MECH_LOGIN:
		ret = login_step(s, has_input, in, inlen, out);
		break;
	case SASL_MECH_SCRAM_SHA256:
		ret = scram_step(s, has_input, in, inlen, out);
		break;
	default:
		ret = SASL_MALFORMED;
		break;
	}
	if (ret != SASL_CONTINUE)
		s->finished = true;
	return ret;
}
