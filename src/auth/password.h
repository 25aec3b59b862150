/* password: stored-password schemes in Dovecot's "{SCHEME}data" notation.
 *   SHA512-CRYPT  {SHA512-CRYPT}$6$...        (libxcrypt)
 *   BLF-CRYPT     {BLF-CRYPT}$2y$...          (libxcrypt)
 *   ARGON2ID      {ARGON2ID}$argon2id$v=19$m=..,t=..,p=..$salt$hash (libargon2)
 *   SCRAM-SHA-256 {SCRAM-SHA-256}<iter>,<salt b64>,<StoredKey b64>,<ServerKey b64>
 *                 (Dovecot's format; lets SCRAM work without the plaintext)
 *   PLAIN         {PLAIN}secret — accepted only when allow_plain is set
 * A value without "{...}" that starts with "$6$", "$2y$"/"$2b$" or
 * "$argon2id$" is treated as the matching scheme (as Dovecot's CRYPT).
 * Comparisons are constant-time. */
#ifndef PASSWORD_H
#define PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

/* Longest password accepted (bytes).  SHA512-CRYPT's cost grows with the
 * password's length, so an unbounded one would be a cheap CPU DoS; 1024 is
 * far beyond any passphrase and matches the SASL PLAIN/LOGIN limit. */
#define PASSWORD_MAX_LEN 1024
/* Work factors used by password_hash(). */
#define PASSWORD_BLF_COST 10
#define PASSWORD_ARGON2_T 3
#define PASSWORD_ARGON2_M_KIB 65536
#define PASSWORD_ARGON2_P 1
#define PASSWORD_SCRAM_ITERATIONS 4096
/* Upper bounds on work factors read from stored values, so one corrupt or
 * hostile passwd-file line can't pin a worker for minutes (or allocate
 * gigabytes) per login attempt.  Each is well above common practice. */
#define PASSWORD_MAX_SHA512_ROUNDS 1000000
#define PASSWORD_MAX_BLF_COST 16
#define PASSWORD_MAX_ARGON2_M_KIB 1048576
#define PASSWORD_MAX_ARGON2_T 64
#define PASSWORD_MAX_ARGON2_P 16
#define PASSWORD_MAX_SCRAM_ITERATIONS 1000000

/* Scheme names accepted by password_hash(), NULL-terminated. */
extern const char *const password_schemes[];

/* 1 = password matches, 0 = it doesn't, -1 = stored value malformed or
 * its scheme unknown/disabled (*error_r says which; never the secret). */
int password_verify(const char *stored, const void *password, size_t pwlen,
		    bool allow_plain, const char **error_r);

/* A new "{SCHEME}..." value for password with a fresh random salt (malloc'd,
 * caller frees), or NULL with *error_r for an unknown scheme. */
char *password_hash(const char *scheme, const void *password, size_t pwlen,
		    const char **error_r);

/* Name of the stored value's scheme ("SHA512-CRYPT", ...), or NULL. */
const char *password_scheme_of(const char *stored);

/* SCRAM-SHA-256 credentials from a stored value: from {SCRAM-SHA-256}
 * directly, or derived from {PLAIN} (when allow_plain) with the given
 * salt/iterations: for {PLAIN} the caller fills keys_r->iterations, salt
 * and salt_len (1..64) before the call and they are used as input.
 * 0 on success, -1 when the scheme can't give them. */
struct scram_keys {
	unsigned iterations;
	unsigned char salt[64];
	size_t salt_len;
	unsigned char stored_key[32];
	unsigned char server_key[32];
};
int password_scram_keys(const char *stored, bool allow_plain,
			struct scram_keys *keys_r);

#endif
