/* sasl: server side of the SASL mechanisms PLAIN (RFC 4616), LOGIN
 * (draft-murchison-sasl-login) and SCRAM-SHA-256 (RFC 5802, RFC 7677),
 * built on OpenSSL primitives.  Protocol-neutral: the caller does the
 * base64 framing of its protocol and feeds raw decoded bytes.
 *
 * Stored passwords come from a lookup callback so this module never
 * touches the user database.  For SCRAM an unknown user gets a fake but
 * stable salt and iteration count, so the exchange does not reveal which
 * users exist.  Secrets held by the exchange are wiped with OPENSSL_cleanse
 * when it is freed. */
#ifndef SASL_H
#define SASL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Input limits (bytes of one decoded client response).  PLAIN and LOGIN
 * carry at most a name and a password (PASSWORD_MAX_LEN); SCRAM messages
 * carry a name, nonces and a base64 proof, well under 4 KiB in practice. */
#define SASL_PLAIN_MAX_LEN 1024
#define SASL_LOGIN_MAX_LEN 1024
#define SASL_SCRAM_MAX_LEN 4096
/* Longest authentication identity; passdb names are at most 64 bytes. */
#define SASL_USER_MAX_LEN 255
/* Client nonce limit, and the server nonce's random bytes (RFC 5802 asks
 * for a fresh, unpredictable nonce; 18 bytes = 24 base64 characters). */
#define SASL_SCRAM_NONCE_MAX_LEN 1024
#define SASL_SCRAM_SERVER_NONCE_BYTES 18
/* Salt length and iteration count offered for users without stored
 * SCRAM keys (unknown users and {PLAIN} ones). */
#define SASL_SCRAM_FAKE_SALT_LEN 16
#define SASL_SCRAM_DEFAULT_ITERATIONS 4096

enum sasl_status {
	SASL_CONTINUE,  /* send *out as a challenge and feed the next response */
	SASL_OK,        /* authenticated as sasl_server_user(); *out may hold
			   final server data (SCRAM's v=...) */
	SASL_FAIL,      /* wrong credentials or unknown user */
	SASL_MALFORMED, /* protocol violation by the client */
};

/* Returns 1 and a malloc'd stored value ("{SCHEME}...") in *stored_r when
 * the user exists, 0 when it doesn't, -1 on internal error. */
typedef int sasl_lookup_fn(void *ctx, const char *user, char **stored_r);

struct sasl_params {
	sasl_lookup_fn *lookup;
	void *lookup_ctx;
	bool allow_plain_scheme; /* accept {PLAIN} stored values */
	/* Secret for fake SCRAM salts of unknown users (>= 16 bytes). */
	const unsigned char *secret;
	size_t secret_len;
};

struct sasl_server;

/* Mechanism names this module implements, NULL-terminated. */
extern const char *const sasl_mechanisms[];
bool sasl_mechanism_supported(const char *name); /* case-insensitive */

/* NULL if the mechanism is unknown. */
struct sasl_server *sasl_server_new(const char *mech,
				    const struct sasl_params *params);
void sasl_server_free(struct sasl_server **s);

/* One step.  `in` is the client's decoded response (for the first step the
 * initial response, or has_input=false when the client sent none).  Appends
 * the next challenge or final data to out. */
enum sasl_status sasl_server_step(struct sasl_server *s, bool has_input,
				  const uint8_t *in, size_t inlen,
				  struct buf *out);
/* After SASL_OK/SASL_FAIL: the authentication identity the client
 * claimed (for logging and throttling), or NULL if it never said. */
const char *sasl_server_user(const struct sasl_server *s);

#endif
