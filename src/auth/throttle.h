/* throttle: failed-login accounting per client IP and per user name,
 * shared by all worker threads (one mutex), in a bounded table (oldest
 * entries evicted) so an attacker can't grow it without limit.
 *
 * Policy: each failure within `window` seconds doubles the delay before the
 * NO reply (delay_ms, 2*delay_ms, ... capped at max_delay_ms); the larger of
 * the IP's and the user's delay applies.  An IP with `ip_limit` failures in
 * the window is refused outright (even with a right password) until the
 * window passes; a user is never locked out (that would let anyone lock out
 * anyone), only slowed down.  A success clears the user's count. */
#ifndef THROTTLE_H
#define THROTTLE_H

#include <stdbool.h>
#include <time.h>

struct throttle_params {
	unsigned delay_ms;
	unsigned max_delay_ms;
	unsigned ip_limit;   /* 0 = no limit */
	unsigned user_limit; /* failures after which the user's delay is max */
	unsigned window;     /* seconds */
	unsigned max_entries;
};

struct throttle;

struct throttle *throttle_new(const struct throttle_params *params);
void throttle_free(struct throttle **t);
/* Replace params (SIGHUP); counts are kept. */
void throttle_set_params(struct throttle *t, const struct throttle_params *p);
/* false when this IP is over its limit and must be refused now. */
bool throttle_ip_allowed(struct throttle *t, const char *ip, time_t now);
/* Record a failure; returns the delay in ms before answering. user may be
 * NULL when unknown. */
unsigned throttle_failure(struct throttle *t, const char *ip,
			  const char *user, time_t now);
/* Record a success (clears the user's failures). */
void throttle_success(struct throttle *t, const char *ip, const char *user);

#endif
