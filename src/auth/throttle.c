/* throttle: failed-login accounting per client IP and per user name.
 *
 * One table holds both kinds of entry (keyed by kind + string), as a
 * chained hash table plus an LRU list: a failure moves its entries to the
 * front, and when the table is full the least recently failed entry is
 * evicted.  So the table never exceeds max_entries, and an attacker who
 * floods it with fresh IPs or names only evicts stale entries first.
 * Buckets are chosen with SipHash-2-4 under a random per-table key, since
 * the keys (IPs, user names) are attacker-chosen.
 *
 * A failure count lapses `window` seconds after the entry's last failure.
 * Non-goals: persistence across restarts, and sharing between processes. */
#include "throttle.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

/* Keys longer than this are cut (IPs are <= 45 bytes; user names that
 * long don't exist, and merging two of them is harmless). */
#define THROTTLE_MAX_KEY_LEN 255

enum throttle_kind {
	THROTTLE_IP,
	THROTTLE_USER,
};

struct throttle_entry {
	struct throttle_entry *hash_next; /* bucket chain */
	struct throttle_entry *lru_prev;  /* towards more recent */
	struct throttle_entry *lru_next;  /* towards older */
	enum throttle_kind kind;
	uint64_t hash;
	unsigned failures;
	time_t last_failure;
	char key[]; /* NUL-terminated */
};

struct throttle {
	pthread_mutex_t lock;
	/* Everything below is protected by lock. */
	struct throttle_params params;
	struct throttle_entry **buckets; /* owned array; entries owned */
	size_t bucket_count;             /* power of two */
	size_t count;
	struct throttle_entry *lru_head; /* most recent failure */
	struct throttle_entry *lru_tail; /* evicted first */
	uint8_t hash_key[16];            /* immutable after new */
};

/* ---- SipHash-2-4 (Aumasson, Bernstein) ---- */

#define ROTL64(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND							\
	do {								\
		v0 += v1; v1 = ROTL64(v1, 13); v1 ^= v0;		\
		v0 = ROTL64(v0, 32);					\
		v2 += v3; v3 = ROTL64(v3, 16); v3 ^= v2;		\
		v0 += v3; v3 = ROTL64(v3, 21); v3 ^= v0;		\
		v2 += v1; v1 = ROTL64(v1, 17); v1 ^= v2;		\
		v2 = ROTL64(v2, 32);					\
	} while (0)

static uint64_t
load64_le(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t
siphash24(const uint8_t key[16], const uint8_t *in, size_t len)
{
	uint64_t k0 = load64_le(key), k1 = load64_le(key + 8);
	uint64_t v0 = 0x736f6d6570736575ULL ^ k0;
	uint64_t v1 = 0x646f72616e646f6dULL ^ k1;
	uint64_t v2 = 0x6c7967656e657261ULL ^ k0;
	uint64_t v3 = 0x7465646279746573ULL ^ k1;
	uint64_t m, b = (uint64_t)len << 56;
	size_t i, tail = len & 7;

	for (i = 0; i + 8 <= len; i += 8) {
		m = load64_le(in + i);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	for (size_t j = 0; j < tail; j++)
		b |= (uint64_t)in[i + j] << (8 * j);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

static uint64_t
entry_hash(const struct throttle *t, enum throttle_kind kind,
	   const char *key, size_t len)
{
	uint8_t data[THROTTLE_MAX_KEY_LEN + 1];

	data[0] = (uint8_t)kind;
	memcpy(data + 1, key, len);
	return siphash24(t->hash_key, data, len + 1);
}

/* ---- table ---- */

static size_t
buckets_for(unsigned max_entries)
{
	size_t n = 16;

	while (n < max_entries && n < ((size_t)1 << 30))
		n *= 2;
	return n;
}

static void
lru_unlink(struct throttle *t, struct throttle_entry *e)
{
	if (e->lru_prev != NULL)
		e->lru_prev->lru_next = e->lru_next;
	else
		t->lru_head = e->lru_next;
	if (e->lru_next != NULL)
		e->lru_next->lru_prev = e->lru_prev;
	else
		t->lru_tail = e->lru_prev;
	e->lru_prev = e->lru_next = NULL;
}

static void
lru_push_front(struct throttle *t, struct throttle_entry *e)
{
	e->lru_prev = NULL;
	e->lru_next = t->lru_head;
	if (t->lru_head != NULL)
		t->lru_head->lru_prev = e;
	t->lru_head = e;
	if (t->lru_tail == NULL)
		t->lru_tail = e;
}

static void
entry_remove(struct throttle *t, struct throttle_entry *e)
{
	struct throttle_entry **pp =
		&t->buckets[e->hash & (t->bucket_count - 1)];

	while (*pp != e)
		pp = &(*pp)->hash_next;
	*pp = e->hash_next;
	lru_unlink(t, e);
	t->count--;
	free(e);
}

static void
rehash(struct throttle *t, size_t bucket_count)
{
	struct throttle_entry **nb = xcalloc(bucket_count, sizeof(*nb));
	struct throttle_entry *e, *next;
	size_t i;

	for (i = 0; i < t->bucket_count; i++) {
		for (e = t->buckets[i]; e != NULL; e = next) {
			next = e->hash_next;
			e->hash_next = nb[e->hash & (bucket_count - 1)];
			nb[e->hash & (bucket_count - 1)] = e;
		}
	}
	free(t->buckets);
	t->buckets = nb;
	t->bucket_count = bucket_count;
}

static unsigned
max_entries_of(const struct throttle_params *p)
{
	/* Room for at least one IP and one user entry. */
	return p->max_entries < 2 ? 2 : p->max_entries;
}

static void
evict_to(struct throttle *t, size_t max)
{
	while (t->count > max && t->lru_tail != NULL)
		entry_remove(t, t->lru_tail);
}

static size_t
key_len(const char *key)
{
	return strnlen(key, THROTTLE_MAX_KEY_LEN);
}

static struct throttle_entry *
entry_find(struct throttle *t, enum throttle_kind kind, const char *key)
{
	size_t len = key_len(key);
	uint64_t h = entry_hash(t, kind, key, len);
	struct throttle_entry *e;

	for (e = t->buckets[h & (t->bucket_count - 1)]; e != NULL;
	     e = e->hash_next) {
		if (e->hash == h && e->kind == kind &&
		    strncmp(e->key, key, len) == 0 && e->key[len] == '\0')
			return e;
	}
	return NULL;
}

static struct throttle_entry *
entry_get(struct throttle *t, enum throttle_kind kind, const char *key)
{
	struct throttle_entry *e = entry_find(t, kind, key);
	size_t len, b;

	if (e != NULL)
		return e;
	evict_to(t, max_entries_of(&t->params) - 1);
	len = key_len(key);
	e = xmalloc(sizeof(*e) + len + 1);
	e->kind = kind;
	e->hash = entry_hash(t, kind, key, len);
	memcpy(e->key, key, len);
	e->key[len] = '\0';
	b = e->hash & (t->bucket_count - 1);
	e->hash_next = t->buckets[b];
	t->buckets[b] = e;
	lru_push_front(t, e);
	t->count++;
	return e;
}

/* Failures still counting at `now`. */
static unsigned
entry_failures(const struct throttle *t, const struct throttle_entry *e,
	       time_t now)
{
	if (e->failures == 0)
		return 0;
	/* A clock stepping back doesn't lapse or extend anything. */
	if (now >= e->last_failure &&
	    (uint64_t)(now - e->last_failure) >= t->params.window)
		return 0;
	return e->failures;
}

/* delay_ms doubled per failure after the first, capped. */
static unsigned
delay_for(const struct throttle_params *p, unsigned failures)
{
	uint64_t d = p->delay_ms;
	unsigned i;

	if (failures == 0)
		return 0;
	for (i = 1; i < failures && d < p->max_delay_ms; i++)
		d *= 2;
	return d > p->max_delay_ms ? p->max_delay_ms : (unsigned)d;
}

/* ---- public ---- */

struct throttle *
throttle_new(const struct throttle_params *params)
{
	struct throttle *t = xmalloc(sizeof(*t));

	if (pthread_mutex_init(&t->lock, NULL) != 0) {
		free(t);
		return NULL;
	}
	t->params = *params;
	t->bucket_count = buckets_for(max_entries_of(params));
	t->buckets = xcalloc(t->bucket_count, sizeof(*t->buckets));
	if (RAND_bytes(t->hash_key, sizeof(t->hash_key)) != 1) {
		free(t->buckets);
		pthread_mutex_destroy(&t->lock);
		free(t);
		return NULL;
	}
	return t;
}

void
throttle_free(struct throttle **tp)
{
	struct throttle *t = *tp;

	if (t == NULL)
		return;
	*tp = NULL;
	evict_to(t, 0);
	free(t->buckets);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

void
throttle_set_params(struct throttle *t, const struct throttle_params *p)
{
	size_t want;

	pthread_mutex_lock(&t->lock);
	t->params = *p;
	evict_to(t, max_entries_of(p));
	want = buckets_for(max_entries_of(p));
	if (want != t->bucket_count)
		rehash(t, want);
	pthread_mutex_unlock(&t->lock);
}

bool
throttle_ip_allowed(struct throttle *t, const char *ip, time_t now)
{
	const struct throttle_entry *e;
	bool allowed = true;

	if (ip == NULL)
		return true;
	pthread_mutex_lock(&t->lock);
	if (t->params.ip_limit > 0) {
		e = entry_find(t, THROTTLE_IP, ip);
		if (e != NULL &&
		    entry_failures(t, e, now) >= t->params.ip_limit)
			allowed = false;
	}
	pthread_mutex_unlock(&t->lock);
	return allowed;
}

static unsigned
record_failure(struct throttle *t, enum throttle_kind kind, const char *key,
	       time_t now)
{
	struct throttle_entry *e = entry_get(t, kind, key);

	e->failures = entry_failures(t, e, now);
	if (e->failures < UINT32_MAX)
		e->failures++;
	e->last_failure = now;
	lru_unlink(t, e);
	lru_push_front(t, e);
	return e->failures;
}

unsigned
throttle_failure(struct throttle *t, const char *ip, const char *user,
		 time_t now)
{
	unsigned n, delay = 0, d;

	pthread_mutex_lock(&t->lock);
	if (ip != NULL) {
		n = record_failure(t, THROTTLE_IP, ip, now);
		delay = delay_for(&t->params, n);
	}
	if (user != NULL) {
		n = record_failure(t, THROTTLE_USER, user, now);
		if (t->params.user_limit > 0 && n >= t->params.user_limit)
			d = t->params.max_delay_ms;
		else
			d = delay_for(&t->params, n);
		if (d > delay)
			delay = d;
	}
	pthread_mutex_unlock(&t->lock);
	return delay;
}

void
throttle_success(struct throttle *t, const char *ip, const char *user)
{
	struct throttle_entry *e;

	(void)ip; /* an IP's failures stand: one good login per many guesses
		     must not reset the limit */
	if (user == NULL)
		return;
	pthread_mutex_lock(&t->lock);
	e = entry_find(t, THROTTLE_USER, user);
	if (e != NULL)
		entry_remove(t, e);
	pthread_mutex_unlock(&t->lock);
}
