/* password: hashing and verification of stored passwords in Dovecot's
 * "{SCHEME}data" notation, so a Dovecot passwd-file works unchanged.
 *
 * Crypt-style schemes go through libxcrypt (crypt_rn, crypt_gensalt_rn with
 * the library's own entropy), ARGON2ID through libargon2, SCRAM-SHA-256 and
 * PLAIN through OpenSSL.  Every comparison is constant-time.  Work factors
 * read from stored values are bounded (password.h) because a passwd-file
 * line with "rounds=999999999" would otherwise stall a worker.  Non-goals:
 * the legacy schemes (MD5-CRYPT, SSHA, CRAM-MD5 ...) and Dovecot's ".b64"/
 * ".hex" scheme suffixes. */
#include "password.h"

#include <argon2.h>
#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base64.h"
#include "buf.h"
#include "strnum.h"
#include "xalloc.h"

enum scheme {
	SCHEME_UNKNOWN,
	SCHEME_SHA512_CRYPT,
	SCHEME_BLF_CRYPT,
	SCHEME_ARGON2ID,
	SCHEME_SCRAM_SHA256,
	SCHEME_PLAIN,
	SCHEME_CRYPT, /* Dovecot's {CRYPT}: the data's prefix says which */
};

struct scheme_name {
	const char *name;
	enum scheme scheme;
};

static const struct scheme_name scheme_names[] = {
	{ "SHA512-CRYPT", SCHEME_SHA512_CRYPT },
	{ "BLF-CRYPT", SCHEME_BLF_CRYPT },
	{ "ARGON2ID", SCHEME_ARGON2ID },
	{ "SCRAM-SHA-256", SCHEME_SCRAM_SHA256 },
	{ "PLAIN", SCHEME_PLAIN },
	{ "CRYPT", SCHEME_CRYPT },
};

const char *const password_schemes[] = {
	"SHA512-CRYPT", "BLF-CRYPT", "ARGON2ID", "SCRAM-SHA-256", "PLAIN", NULL,
};

#define SALT_BYTES 16
#define SCRAM_KEY_LEN 32

static bool
has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool
is_blf_prefix(const char *s)
{
	return has_prefix(s, "$2y$") || has_prefix(s, "$2b$") ||
		has_prefix(s, "$2a$");
}

/* Scheme of a value's crypt-style data, from its prefix. */
static enum scheme
scheme_of_data(const char *data)
{
	if (has_prefix(data, "$6$"))
		return SCHEME_SHA512_CRYPT;
	if (is_blf_prefix(data))
		return SCHEME_BLF_CRYPT;
	if (has_prefix(data, "$argon2id$"))
		return SCHEME_ARGON2ID;
	return SCHEME_UNKNOWN;
}

/* Splits "{NAME}data" (or a bare crypt string) into scheme and data. */
static enum scheme
parse_stored(const char *stored, const char **data_r)
{
	const char *end;
	size_t i, len;

	*data_r = stored;
	if (stored[0] != '{')
		return scheme_of_data(stored);
	end = strchr(stored, '}');
	if (end == NULL)
		return SCHEME_UNKNOWN;
	len = (size_t)(end - stored - 1);
	*data_r = end + 1;
	for (i = 0; i < sizeof(scheme_names) / sizeof(scheme_names[0]); i++) {
		const struct scheme_name *sn = &scheme_names[i];

		if (strlen(sn->name) != len ||
		    strncasecmp(sn->name, stored + 1, len) != 0)
			continue;
		if (sn->scheme == SCHEME_CRYPT)
			return scheme_of_data(end + 1);
		/* The explicit scheme must agree with a crypt-style body. */
		if (sn->scheme == SCHEME_SHA512_CRYPT ||
		    sn->scheme == SCHEME_BLF_CRYPT ||
		    sn->scheme == SCHEME_ARGON2ID) {
			if (scheme_of_data(end + 1) != sn->scheme)
				return SCHEME_UNKNOWN;
		}
		return sn->scheme;
	}
	return SCHEME_UNKNOWN;
}

const char *
password_scheme_of(const char *stored)
{
	const char *data;

	switch (parse_stored(stored, &data)) {
	case SCHEME_SHA512_CRYPT:
		return "SHA512-CRYPT";
	case SCHEME_BLF_CRYPT:
		return "BLF-CRYPT";
	case SCHEME_ARGON2ID:
		return "ARGON2ID";
	case SCHEME_SCRAM_SHA256:
		return "SCRAM-SHA-256";
	case SCHEME_PLAIN:
		return "PLAIN";
	case SCHEME_CRYPT:
	case SCHEME_UNKNOWN:
		break;
	}
	return NULL;
}

/* ---- work-factor checks for crypt-style strings ---- */

/* "$6$rounds=N$salt$hash": N must be within bounds (default 5000). */
static int
sha512_rounds_ok(const char *data)
{
	const char *p = data + 3, *end;
	uint64_t rounds;

	if (!has_prefix(p, "rounds="))
		return 0;
	p += 7;
	end = strchr(p, '$');
	if (end == NULL ||
	    !str_to_u64(p, (size_t)(end - p), PASSWORD_MAX_SHA512_ROUNDS,
			&rounds))
		return -1;
	return 0;
}

/* "$2y$NN$...": two-digit cost. */
static int
blf_cost_ok(const char *data)
{
	uint64_t cost;

	if (strlen(data) < 7 || data[6] != '$' ||
	    !str_to_u64(data + 4, 2, PASSWORD_MAX_BLF_COST, &cost))
		return -1;
	return 0;
}

/* Reads "<key>=<digits>" at *p, stops at the next char. */
static int
argon2_param(const char **p, const char *key, uint64_t max,
	     uint64_t *value_r)
{
	const char *s = *p;
	size_t klen = strlen(key), n = 0;

	if (strncmp(s, key, klen) != 0 || s[klen] != '=')
		return -1;
	s += klen + 1;
	while (s[n] >= '0' && s[n] <= '9')
		n++;
	if (!str_to_u64(s, n, max, value_r))
		return -1;
	*p = s + n;
	return 0;
}

/* "$argon2id$[v=19$]m=..,t=..,p=..$salt$hash" */
static int
argon2_params_ok(const char *data)
{
	const char *p = data + strlen("$argon2id$");
	uint64_t v, m, t, par;

	if (has_prefix(p, "v=")) {
		if (argon2_param(&p, "v", 0xff, &v) < 0 || *p++ != '$')
			return -1;
	}
	if (argon2_param(&p, "m", PASSWORD_MAX_ARGON2_M_KIB, &m) < 0 ||
	    *p++ != ',' ||
	    argon2_param(&p, "t", PASSWORD_MAX_ARGON2_T, &t) < 0 ||
	    *p++ != ',' ||
	    argon2_param(&p, "p", PASSWORD_MAX_ARGON2_P, &par) < 0 ||
	    *p != '$')
		return -1;
	return 0;
}

/* ---- crypt(3) ---- */

/* 1 match, 0 mismatch, -1 malformed setting. */
static int
crypt_verify(const char *hash, const void *password, size_t pwlen)
{
	struct crypt_data *cd;
	char *phrase;
	const char *out;
	int ret;

	/* crypt() takes a C string: a password with a NUL in it can't be
	 * what was hashed, and truncating it would accept a prefix. */
	if (memchr(password, '\0', pwlen) != NULL)
		return 0;
	phrase = xmalloc(pwlen + 1);
	memcpy(phrase, password, pwlen);
	cd = xmalloc(sizeof(*cd));
	out = crypt_rn(phrase, hash, cd, sizeof(*cd));
	/* A complete stored value comes back at its own length whatever
	 * the password; any other length means it was truncated. */
	if (out == NULL || out[0] == '*' || strlen(out) != strlen(hash))
		ret = -1;
	else
		ret = CRYPTO_memcmp(out, hash, strlen(hash)) == 0 ? 1 : 0;
	OPENSSL_cleanse(phrase, pwlen + 1);
	OPENSSL_cleanse(cd, sizeof(*cd));
	free(phrase);
	free(cd);
	return ret;
}

static char *
crypt_hash(const char *scheme_name, const char *prefix, unsigned long cost,
	   const void *password, size_t pwlen, const char **error_r)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd;
	char *phrase, *result = NULL;
	const char *out;
	struct buf b;

	if (memchr(password, '\0', pwlen) != NULL) {
		*error_r = "password contains a NUL byte";
		return NULL;
	}
	/* NULL rbytes: libxcrypt draws the salt from the OS's CSPRNG. */
	if (crypt_gensalt_rn(prefix, cost, NULL, 0, setting,
			     sizeof(setting)) == NULL) {
		*error_r = "crypt_gensalt failed";
		return NULL;
	}
	phrase = xmalloc(pwlen + 1);
	memcpy(phrase, password, pwlen);
	cd = xmalloc(sizeof(*cd));
	out = crypt_rn(phrase, setting, cd, sizeof(*cd));
	if (out == NULL || out[0] == '*') {
		*error_r = "crypt failed";
	} else {
		buf_init(&b, 0);
		if (buf_printf(&b, "{%s}%s", scheme_name, out) == 0)
			result = xstrdup(buf_cstr(&b));
		else
			*error_r = "out of buffer space";
		buf_deinit(&b);
	}
	OPENSSL_cleanse(phrase, pwlen + 1);
	OPENSSL_cleanse(cd, sizeof(*cd));
	free(phrase);
	free(cd);
	return result;
}

/* ---- ARGON2ID ---- */

static int
argon2_verify_data(const char *data, const void *password, size_t pwlen)
{
	int ret = argon2id_verify(data, password, pwlen);

	if (ret == ARGON2_OK)
		return 1;
	if (ret == ARGON2_VERIFY_MISMATCH)
		return 0;
	return -1;
}

static char *
argon2id_new_hash(const void *password, size_t pwlen, const char **error_r)
{
	unsigned char salt[SALT_BYTES];
	size_t enclen;
	char *enc, *result;
	int ret;

	if (RAND_bytes(salt, sizeof(salt)) != 1) {
		*error_r = "RAND_bytes failed";
		return NULL;
	}
	enclen = argon2_encodedlen(PASSWORD_ARGON2_T, PASSWORD_ARGON2_M_KIB,
				   PASSWORD_ARGON2_P, sizeof(salt),
				   SCRAM_KEY_LEN, Argon2_id);
	enc = xmalloc(enclen);
	ret = argon2id_hash_encoded(PASSWORD_ARGON2_T, PASSWORD_ARGON2_M_KIB,
				    PASSWORD_ARGON2_P, password, pwlen,
				    salt, sizeof(salt), SCRAM_KEY_LEN,
				    enc, enclen);
	if (ret != ARGON2_OK) {
		free(enc);
		*error_r = "argon2id hashing failed";
		return NULL;
	}
	result = xmalloc(strlen("{ARGON2ID}") + strlen(enc) + 1);
	memcpy(result, "{ARGON2ID}", strlen("{ARGON2ID}"));
	memcpy(result + strlen("{ARGON2ID}"), enc, strlen(enc) + 1);
	free(enc);
	return result;
}

/* ---- SCRAM-SHA-256 (RFC 5802 section 3) ---- */

/* StoredKey and ServerKey from a password. */
static int
scram_derive(const void *password, size_t pwlen, const unsigned char *salt,
	     size_t salt_len, unsigned iterations,
	     unsigned char stored_key_r[SCRAM_KEY_LEN],
	     unsigned char server_key_r[SCRAM_KEY_LEN])
{
	unsigned char salted[SCRAM_KEY_LEN], client_key[SCRAM_KEY_LEN];
	unsigned int mdlen = 0;
	int ret = -1;

	if (pwlen > PASSWORD_MAX_LEN || iterations == 0 ||
	    iterations > PASSWORD_MAX_SCRAM_ITERATIONS || salt_len > 64)
		return -1;
	/* SaltedPassword := Hi(Normalize(password), salt, i) */
	if (PKCS5_PBKDF2_HMAC(pwlen == 0 ? "" : password, (int)pwlen,
			      salt, (int)salt_len, (int)iterations,
			      EVP_sha256(), sizeof(salted), salted) != 1)
		goto out;
	/* ClientKey := HMAC(SaltedPassword, "Client Key")
	 * StoredKey := H(ClientKey)
	 * ServerKey := HMAC(SaltedPassword, "Server Key") */
	if (HMAC(EVP_sha256(), salted, sizeof(salted),
		 (const unsigned char *)"Client Key", 10,
		 client_key, &mdlen) == NULL || mdlen != SCRAM_KEY_LEN)
		goto out;
	if (SHA256(client_key, sizeof(client_key), stored_key_r) == NULL)
		goto out;
	if (HMAC(EVP_sha256(), salted, sizeof(salted),
		 (const unsigned char *)"Server Key", 10,
		 server_key_r, &mdlen) == NULL || mdlen != SCRAM_KEY_LEN)
		goto out;
	ret = 0;
out:
	OPENSSL_cleanse(salted, sizeof(salted));
	OPENSSL_cleanse(client_key, sizeof(client_key));
	return ret;
}

/* Decodes exactly `want` bytes (or 1..want when exact is false). */
static int
b64_field(const char *text, size_t len, unsigned char *out, size_t want,
	  bool exact, size_t *len_r)
{
	struct buf b;
	int ret = -1;

	buf_init(&b, want);
	if (base64_decode(&b, text, len) == 0 && b.len > 0 &&
	    (!exact || b.len == want)) {
		memcpy(out, b.data, b.len);
		*len_r = b.len;
		ret = 0;
	}
	if (b.data != NULL)
		OPENSSL_cleanse(b.data, b.cap);
	buf_deinit(&b);
	return ret;
}

/* Dovecot's "<iter>,<salt b64>,<StoredKey b64>,<ServerKey b64>". */
static int
scram_parse(const char *data, struct scram_keys *keys_r)
{
	const char *f[4], *end;
	size_t flen[4], n, i;
	uint64_t iter;

	for (i = 0; i < 4; i++) {
		end = strchr(data, ',');
		if ((end == NULL) != (i == 3))
			return -1;
		f[i] = data;
		flen[i] = end == NULL ? strlen(data) : (size_t)(end - data);
		data = end == NULL ? data : end + 1;
	}
	if (!str_to_u64(f[0], flen[0], PASSWORD_MAX_SCRAM_ITERATIONS, &iter) ||
	    iter == 0)
		return -1;
	keys_r->iterations = (unsigned)iter;
	if (b64_field(f[1], flen[1], keys_r->salt, sizeof(keys_r->salt),
		      false, &keys_r->salt_len) < 0 ||
	    b64_field(f[2], flen[2], keys_r->stored_key, SCRAM_KEY_LEN,
		      true, &n) < 0 ||
	    b64_field(f[3], flen[3], keys_r->server_key, SCRAM_KEY_LEN,
		      true, &n) < 0)
		return -1;
	return 0;
}

static int
scram_verify(const char *data, const void *password, size_t pwlen)
{
	struct scram_keys keys;
	unsigned char stored[SCRAM_KEY_LEN], server[SCRAM_KEY_LEN];
	int ret;

	if (scram_parse(data, &keys) < 0)
		return -1;
	if (scram_derive(password, pwlen, keys.salt, keys.salt_len,
			 keys.iterations, stored, server) < 0)
		ret = -1;
	else
		ret = CRYPTO_memcmp(stored, keys.stored_key,
				    SCRAM_KEY_LEN) == 0 ? 1 : 0;
	OPENSSL_cleanse(&keys, sizeof(keys));
	OPENSSL_cleanse(stored, sizeof(stored));
	OPENSSL_cleanse(server, sizeof(server));
	return ret;
}

static char *
scram_hash(const void *password, size_t pwlen, const char **error_r)
{
	unsigned char salt[SALT_BYTES];
	unsigned char stored[SCRAM_KEY_LEN], server[SCRAM_KEY_LEN];
	struct buf b;
	char *result = NULL;

	if (RAND_bytes(salt, sizeof(salt)) != 1) {
		*error_r = "RAND_bytes failed";
		return NULL;
	}
	if (scram_derive(password, pwlen, salt, sizeof(salt),
			 PASSWORD_SCRAM_ITERATIONS, stored, server) < 0) {
		*error_r = "PBKDF2 failed";
		return NULL;
	}
	buf_init(&b, 0);
	if (buf_printf(&b, "{SCRAM-SHA-256}%u,",
		       PASSWORD_SCRAM_ITERATIONS) < 0 ||
	    base64_encode(&b, salt, sizeof(salt)) < 0 ||
	    buf_append_byte(&b, ',') < 0 ||
	    base64_encode(&b, stored, sizeof(stored)) < 0 ||
	    buf_append_byte(&b, ',') < 0 ||
	    base64_encode(&b, server, sizeof(server)) < 0)
		*error_r = "out of buffer space";
	else
		result = xstrdup(buf_cstr(&b));
	buf_deinit(&b);
	OPENSSL_cleanse(stored, sizeof(stored));
	OPENSSL_cleanse(server, sizeof(server));
	return result;
}

/* ---- PLAIN ---- */

/* Compares digests so neither the content nor the length of the stored
 * secret leaks through timing. */
static int
plain_verify(const char *data, const void *password, size_t pwlen)
{
	unsigned char a[SHA256_DIGEST_LENGTH], b[SHA256_DIGEST_LENGTH];
	int ret;

	if (SHA256((const unsigned char *)data, strlen(data), a) == NULL ||
	    SHA256(password, pwlen, b) == NULL)
		return -1;
	ret = CRYPTO_memcmp(a, b, sizeof(a)) == 0 ? 1 : 0;
	OPENSSL_cleanse(a, sizeof(a));
	OPENSSL_cleanse(b, sizeof(b));
	return ret;
}

/* ---- public ---- */

int
password_verify(const char *stored, const void *password, size_t pwlen,
		bool allow_plain, const char **error_r)
{
	const char *data;
	enum scheme scheme;
	int ret;

	if (stored == NULL || stored[0] == '\0') {
		*error_r = "no password set";
		return -1;
	}
	if (pwlen > 0 && password == NULL) {
		*error_r = "no password given";
		return -1;
	}
	scheme = parse_stored(stored, &data);
	if (pwlen > PASSWORD_MAX_LEN && scheme != SCHEME_UNKNOWN &&
	    (scheme != SCHEME_PLAIN || allow_plain))
		return 0; /* nothing that long is ever stored */
	if (pwlen == 0)
		password = "";
	switch (scheme) {
	case SCHEME_SHA512_CRYPT:
		if (sha512_rounds_ok(data) < 0) {
			*error_r = "SHA512-CRYPT rounds out of range";
			return -1;
		}
		ret = crypt_verify(data, password, pwlen);
		break;
	case SCHEME_BLF_CRYPT:
		if (blf_cost_ok(data) < 0) {
			*error_r = "BLF-CRYPT cost out of range";
			return -1;
		}
		ret = crypt_verify(data, password, pwlen);
		break;
	case SCHEME_ARGON2ID:
		if (argon2_params_ok(data) < 0) {
			*error_r = "ARGON2ID parameters malformed or too large";
			return -1;
		}
		ret = argon2_verify_data(data, password, pwlen);
		break;
	case SCHEME_SCRAM_SHA256:
		ret = scram_verify(data, password, pwlen);
		break;
	case SCHEME_PLAIN:
		if (!allow_plain) {
			*error_r = "PLAIN scheme is disabled";
			return -1;
		}
		ret = plain_verify(data, password, pwlen);
		break;
	case SCHEME_CRYPT:
	case SCHEME_UNKNOWN:
	default:
		*error_r = "unknown password scheme";
		return -1;
	}
	if (ret < 0)
		*error_r = "malformed stored password";
	return ret;
}

char *
password_hash(const char *scheme, const void *password, size_t pwlen,
	      const char **error_r)
{
	if (scheme == NULL) {
		*error_r = "no scheme given";
		return NULL;
	}
	if (pwlen > PASSWORD_MAX_LEN) {
		*error_r = "password too long";
		return NULL;
	}
	if (pwlen == 0)
		password = "";
	if (strcasecmp(scheme, "SHA512-CRYPT") == 0)
		return crypt_hash("SHA512-CRYPT", "$6$", 0, password, pwlen,
				  error_r);
	if (strcasecmp(scheme, "BLF-CRYPT") == 0)
		return crypt_hash("BLF-CRYPT", "$2y$", PASSWORD_BLF_COST,
				  password, pwlen, error_r);
	if (strcasecmp(scheme, "ARGON2ID") == 0)
		return argon2id_new_hash(password, pwlen, error_r);
	if (strcasecmp(scheme, "SCRAM-SHA-256") == 0)
		return scram_hash(password, pwlen, error_r);
	if (strcasecmp(scheme, "PLAIN") == 0) {
		char *result;

		/* It must survive as one field of one passwd-file line. */
		if (memchr(password, '\0', pwlen) != NULL ||
		    memchr(password, '\n', pwlen) != NULL ||
		    memchr(password, '\r', pwlen) != NULL) {
			*error_r = "password contains NUL, CR or LF";
			return NULL;
		}
		result = xmalloc(strlen("{PLAIN}") + pwlen + 1);
		memcpy(result, "{PLAIN}", strlen("{PLAIN}"));
		memcpy(result + strlen("{PLAIN}"), password, pwlen);
		return result;
	}
	*error_r = "unknown password scheme";
	return NULL;
}

int
password_scram_keys(const char *stored, bool allow_plain,
		    struct scram_keys *keys_r)
{
	const char *data;
	struct scram_keys keys;
	int ret;

	switch (parse_stored(stored, &data)) {
	case SCHEME_SCRAM_SHA256:
		memset(&keys, 0, sizeof(keys));
		ret = scram_parse(data, &keys);
		if (ret == 0)
			*keys_r = keys;
		OPENSSL_cleanse(&keys, sizeof(keys));
		return ret;
	case SCHEME_PLAIN:
		if (!allow_plain || keys_r->salt_len == 0 ||
		    keys_r->salt_len > sizeof(keys_r->salt))
			return -1;
		return scram_derive(data, strlen(data), keys_r->salt,
				    keys_r->salt_len, keys_r->iterations,
				    keys_r->stored_key, keys_r->server_key);
	default:
		return -1;
	}
}
