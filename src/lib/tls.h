/* tls: OpenSSL 3 server contexts and the development certificate.
 * Contexts are TLS 1.2+ (configurable to 1.3 only), no compression, no
 * renegotiation, SSL_MODE_RELEASE_BUFFERS so an idle TLS connection holds
 * no record buffers. */
#ifndef TLS_H
#define TLS_H

#include <openssl/ssl.h>

struct tls_params {
	const char *cert_file;   /* PEM chain */
	const char *key_file;    /* PEM private key */
	const char *min_version; /* "TLSv1.2" or "TLSv1.3" */
	const char *ciphers;     /* "" = OpenSSL default */
	const char *ciphersuites;/* "" = OpenSSL default */
	const char *alpn;        /* protocol id to accept ("imap"), or NULL */
};

/* A new context, or NULL with *error_r (static or a thread-local OpenSSL
 * error string). */
SSL_CTX *tls_ctx_new(const struct tls_params *params, const char **error_r);

/* Write a self-signed P-256 certificate for "localhost"/127.0.0.1/::1
 * (valid ten years) to cert_file and its key (mode 0600) to key_file.
 * 0 ok, -1 with *error_r. */
int tls_make_selfsigned(const char *cert_file, const char *key_file,
			const char **error_r);

/* Last OpenSSL error as text (thread-local buffer), clearing the queue. */
const char *tls_last_error(void);

#endif
