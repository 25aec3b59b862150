/* libFuzzer target for sasl.c: drives one exchange of one mechanism.
 *
 * Input layout: byte 0 = flags (bits 0-1 mechanism: PLAIN, LOGIN,
 * SCRAM-SHA-256; bit 2 allow and return {PLAIN} values; bit 3 first step
 * without input),
 * then the client's responses separated by '\n' (at most MAX_STEPS).  The
 * SCRAM server nonce is fixed so the RFC 7677 seed reaches the proof check.
 * Invariants: a final status is final (later steps are MALFORMED), SASL_OK
 * names a user, and SCRAM's success data is "v=" + base64. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "sasl.h"
#include "sasl-private.h"

#define MAX_INPUT 16384
#define MAX_STEPS 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned char secret[] = "fuzz-secret-0123456789";

struct lookup_ctx {
	bool allow_plain;
	bool scram;
};

/* Users get {PLAIN} values, except in SCRAM runs without allow_plain,
 * which get stored SCRAM keys.  So no run pays for PBKDF2 or crypt()
 * except SCRAM runs with {PLAIN} (which derive keys), keeping the fuzzer
 * fast while every path stays reachable. */
static int
lookup(void *context, const char *user, char **stored_r)
{
	const struct lookup_ctx *ctx = context;
	const char *v;

	if (strcmp(user, "error") == 0)
		return -1;
	if (strcmp(user, "none") == 0)
		return 0;
	if (strcmp(user, "user") == 0 && ctx->scram)
		/* RFC 7677: salt W22Z..., password "pencil" */
		v = "{SCRAM-SHA-256}4096,W22ZaJ0SNY7soEsUEjb6gQ==,"
			"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=,"
			"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";
	else if (strcmp(user, "broken") == 0)
		v = "{SCRAM-SHA-256}4096,W22Z";
	else if (ctx->allow_plain || !ctx->scram)
		v = "{PLAIN}pencil";
	else
		/* `doveadm pw -s SCRAM-SHA-256 -p pencil` */
		v = "{SCRAM-SHA-256}4096,+TyG24HQd8RzIjvrJe1ApQ==,"
			"OSCbMA+zDgLGxMmKfu3hOL1sj7waiMZERcCnx/JMGlI=,"
			"icN+iQUG06qqiJwKVnFWD/PZiKdkkHhY2M9z+owxxr8=";
	*stored_r = strdup(v);
	return *stored_r == NULL ? -1 : 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const mechs[] = {
		"PLAIN", "LOGIN", "SCRAM-SHA-256", "SCRAM-SHA-256",
	};
	struct sasl_params params = {
		.lookup = lookup,
		.secret = secret,
		.secret_len = sizeof(secret) - 1,
	};
	struct lookup_ctx lctx;
	struct sasl_server *s;
	enum sasl_status st = SASL_CONTINUE;
	struct buf out;
	const uint8_t *p, *end;
	unsigned steps = 0;
	bool scram;

	if (size < 1 || size > MAX_INPUT)
		return 0;
	params.allow_plain_scheme = (data[0] & 4) != 0;
	scram = (data[0] & 3) >= 2;
	lctx.allow_plain = params.allow_plain_scheme;
	lctx.scram = scram;
	params.lookup_ctx = &lctx;
	s = sasl_server_new(mechs[data[0] & 3], &params);
	if (s == NULL)
		abort();
	sasl_server_set_test_nonce(s, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
	buf_init(&out, 65536);
	p = data + 1;
	end = data + size;

	if ((data[0] & 8) != 0) {
		st = sasl_server_step(s, false, NULL, 0, &out);
		steps++;
	}
	while (st == SASL_CONTINUE && steps < MAX_STEPS && p <= end) {
		const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl == NULL ? (size_t)(end - p) : (size_t)(nl - p);

		buf_clear(&out);
		st = sasl_server_step(s, true, p, len, &out);
		steps++;
		p += len + 1;
	}
	if (st == SASL_OK) {
		if (sasl_server_user(s) == NULL)
			abort();
		if (scram && (out.len != 46 || memcmp(out.data, "v=", 2) != 0))
			abort();
	}
	if (st != SASL_CONTINUE) {
		/* finished means finished */
		if (sasl_server_step(s, true, (const uint8_t *)"x", 1, &out) !=
		    SASL_MALFORMED ||
		    sasl_server_step(s, false, NULL, 0, &out) != SASL_MALFORMED)
			abort();
	}
	sasl_server_free(&s);
	buf_deinit(&out);
	return 0;
}
