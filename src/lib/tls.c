/* tls: server SSL_CTX set-up and the --dev self-signed certificate.
 * Non-goal: client-side TLS. */
#include "tls.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

const char *
tls_last_error(void)
{
	static __thread char msg[256];
	unsigned long e = ERR_get_error();

	if (e == 0)
		return "unknown TLS error";
	ERR_error_string_n(e, msg, sizeof(msg));
	ERR_clear_error();
	return msg;
}

static int
alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
	     const unsigned char *in, unsigned int inlen, void *arg)
{
	const char *want = arg;
	size_t wlen = strlen(want);
	unsigned int i = 0;

	/* RFC 7301: pick ours if offered; if the client offers only other
	 * protocols, carry on without ALPN rather than fail the handshake
	 * (some clients send "http/1.1" by habit). */
	while (i < inlen) {
		unsigned int l = in[i];

		if (l == 0 || i + 1 + l > inlen)
			break;
		if (l == wlen && memcmp(in + i + 1, want, wlen) == 0) {
			*out = in + i + 1;
			*outlen = (unsigned char)l;
			return SSL_TLSEXT_ERR_OK;
		}
		i += 1 + l;
	}
	return SSL_TLSEXT_ERR_NOACK;
}

SSL_CTX *
tls_ctx_new(const struct tls_params *p, const char **error_r)
{
	SSL_CTX *ctx;
	int minv = TLS1_2_VERSION;

	if (p->min_version != NULL && strcmp(p->min_version, "TLSv1.3") == 0)
		minv = TLS1_3_VERSION;
	ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		*error_r = tls_last_error();
		return NULL;
	}
	if (SSL_CTX_set_min_proto_version(ctx, minv) != 1)
		goto fail;
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
			    SSL_OP_NO_RENEGOTIATION |
			    SSL_OP_CIPHER_SERVER_PREFERENCE |
			    SSL_OP_NO_TICKET);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS |
			 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"satchel", 7);
	if (p->ciphers != NULL && p->ciphers[0] != '\0' &&
	    SSL_CTX_set_cipher_list(ctx, p->ciphers) != 1)
		goto fail;
	if (p->ciphersuites != NULL && p->ciphersuites[0] != '\0' &&
	    SSL_CTX_set_ciphersuites(ctx, p->ciphersuites) != 1)
		goto fail;
	if (SSL_CTX_use_certificate_chain_file(ctx, p->cert_file) != 1)
		goto fail;
	if (SSL_CTX_use_PrivateKey_file(ctx, p->key_file, SSL_FILETYPE_PEM) != 1)
		goto fail;
	if (SSL_CTX_check_private_key(ctx) != 1)
		goto fail;
	if (p->alpn != NULL)
		SSL_CTX_set_alpn_select_cb(ctx, alpn_select, (void *)p->alpn);
	return ctx;
fail:
	*error_r = tls_last_error();
	SSL_CTX_free(ctx);
	return NULL;
}

static int
add_ext(X509 *cert, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;

	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, cert, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (ext == NULL)
		return -1;
	X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return 0;
}

int
tls_make_selfsigned(const char *cert_file, const char *key_file,
		    const char **error_r)
{
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	X509_NAME *name;
	FILE *f = NULL;
	int fd, ret = -1;
	unsigned char serial[16];

	key = EVP_EC_gen("P-256");
	if (key == NULL)
		goto ossl_fail;
	cert = X509_new();
	if (cert == NULL)
		goto ossl_fail;
	X509_set_version(cert, 2);
	if (RAND_bytes(serial, sizeof(serial)) != 1)
		goto ossl_fail;
	serial[0] &= 0x7f;
	{
		BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);

		if (bn == NULL)
			goto ossl_fail;
		BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert));
		BN_free(bn);
	}
	X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
	X509_gmtime_adj(X509_getm_notAfter(cert), 10L * 365 * 24 * 3600);
	X509_set_pubkey(cert, key);
	name = X509_get_subject_name(cert);
	X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
				   (const unsigned char *)"Satchel development",
				   -1, -1, 0);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
				   (const unsigned char *)"localhost", -1, -1, 0);
	X509_set_issuer_name(cert, name);
	if (add_ext(cert, NID_subject_alt_name,
		    "DNS:localhost,IP:127.0.0.1,IP:::1") < 0 ||
	    add_ext(cert, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
	    add_ext(cert, NID_ext_key_usage, "serverAuth") < 0)
		goto ossl_fail;
	if (X509_sign(cert, key, EVP_sha256()) == 0)
		goto ossl_fail;

	fd = open(key_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
		if (fd >= 0)
			close(fd);
		*error_r = "cannot create the key file";
		goto out;
	}
	if (PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) != 1 ||
	    fflush(f) != 0 || fsync(fileno(f)) != 0) {
		*error_r = "cannot write the key file";
		goto out;
	}
	fclose(f);
	f = fopen(cert_file, "we");
	if (f == NULL) {
		*error_r = "cannot create the certificate file";
		goto out;
	}
	if (PEM_write_X509(f, cert) != 1 || fflush(f) != 0 ||
	    fsync(fileno(f)) != 0) {
		*error_r = "cannot write the certificate file";
		goto out;
	}
	ret = 0;
	goto out;
ossl_fail:
	*error_r = tls_last_error();
out:
	if (f != NULL)
		fclose(f);
	X509_free(cert);
	EVP_PKEY_free(key);
	return ret;
}
