/* sasl-private: declarations for sasl.c's own tests only. */
#ifndef SASL_PRIVATE_H
#define SASL_PRIVATE_H

#include "sasl.h"

/* Test hook: use `nonce` (printable ASCII without ',') as the SCRAM server
 * nonce part instead of fresh random bytes, so a test can replay the
 * RFC 7677 exchange.  Call before the first step.  Never call it outside
 * tests: a predictable nonce lets an attacker replay a captured proof. */
void sasl_server_set_test_nonce(struct sasl_server *s, const char *nonce);

#endif
