/* satchel-loadgen: the IMAP load generator behind bench/run.py.
 *
 * Two modes, both against a server on 127.0.0.0/8 only:
 *   login  Each iteration is: TCP connect (+ TLS handshake), read the
 *          greeting, "a LOGIN user pass", read the tagged OK, "b LOGOUT",
 *          read until the server closes.  C connections run at once, spread
 *          over T threads (one event base each); after a warm-up, completed
 *          iterations are counted for S seconds.  Prints "start" and "end"
 *          lines at the edges of the measured window (so the caller can
 *          sample the server's CPU time) and then one JSON line.
 *   hold   Opens N connections, logs each in, prints "ready K" (K logged-in
 *          connections) and keeps them idle until stdin closes, SIGTERM or
 *          SIGINT arrives, or --hold-seconds pass; then one JSON line.
 *
 * Non-goals: certificate checking (the benchmark uses a self-signed
 * certificate), TLS session resumption (every handshake is a full one, as
 * for a fresh client), anything after LOGIN, remote targets.  Every loop is
 * bounded: by the window, by --max-iterations and by --max-errors.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

/* Longest server line we look at; longer ones (none expected) are an error. */
#define LG_MAX_LINE 65536
/* Bytes of a reply kept for error messages and prefix checks. */
#define LG_LINE_KEEP 256
/* Latency samples kept per thread: 8M * 4 bytes at most. */
#define LG_MAX_SAMPLES (8u * 1024 * 1024)
#define LG_MAX_THREADS 64
#define LG_MAX_CONCURRENCY 100000
#define LG_MAX_HOLD 200000

enum lg_mode { MODE_LOGIN, MODE_HOLD };

struct lg_opts {
	enum lg_mode mode;
	struct sockaddr_in addr;
	bool tls;
	const char *prefix;
	unsigned users;
	const char *password;
	unsigned concurrency;
	unsigned threads;
	unsigned seconds;        /* login: measured window */
	unsigned warmup;         /* login: seconds before the window */
	unsigned drain;          /* login: seconds to let in-flight ones end */
	unsigned count;          /* hold: connections */
	unsigned step_timeout;   /* seconds one reply may take */
	unsigned setup_seconds;  /* hold: longest time to log all in */
	unsigned hold_seconds;   /* hold: longest hold */
	uint64_t max_iterations; /* login: per thread */
	uint64_t max_errors;     /* per thread (login) or in total (hold) */
};

enum conn_state { ST_GREETING, ST_LOGIN, ST_LOGOUT, ST_IDLE };

struct lg_thread;

struct lg_conn {
	struct lg_thread *t;
	struct bufferevent *bev; /* owned; frees the socket and SSL */
	struct lg_conn *prev, *next;
	enum conn_state state;
	struct timespec t0;
	bool logout_ok;          /* "b OK" seen, waiting for the close */
};

struct lg_thread {
	const struct lg_opts *o;
	SSL_CTX *ssl_ctx;        /* shared, not owned */
	struct event_base *base; /* owned */
	pthread_t thread;
	unsigned id;
	unsigned concurrency;    /* this thread's share */
	unsigned next_user;
	struct lg_conn *conns;   /* every open connection */
	unsigned active;         /* open connections */
	unsigned pending;        /* open and not yet logged in (hold) */
	bool counting;           /* inside the measured window */
	bool stopping;           /* start nothing new */
	uint64_t started;
	uint64_t completed;      /* inside the window */
	uint64_t completed_all;
	uint64_t errors;
	uint64_t logged_in;      /* hold */
	uint64_t dropped;        /* hold: closed by the server after login */
	bool ready_printed;      /* hold */
	uint32_t *lat_us;        /* latency of each completed iteration */
	size_t nlat, lat_cap;
	char first_error[LG_LINE_KEEP];
	struct event *window_ev, *stop_ev, *drain_ev, *sig_ev[2], *stdin_ev;
	struct rusage ru_start, ru_end; /* thread 0: the process, at the edges */
	struct timespec ts_start, ts_end;
};

static void conn_start(struct lg_thread *t);

static void
die(const char *msg)
{
	fprintf(stderr, "satchel-loadgen: %s\n", msg);
	exit(2);
}

static void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);

	if (p == NULL)
		die("out of memory");
	return p;
}

/* Parse a decimal number with nothing else in it, within [min, max]. */
static bool
parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *value_r)
{
	uint64_t v = 0;

	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return false;
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (v < min || v > max)
		return false;
	*value_r = v;
	return true;
}

static unsigned
arg_uint(const char *name, const char *s, unsigned min, unsigned max)
{
	uint64_t v;

	if (!parse_u64(s, min, max, &v)) {
		fprintf(stderr, "satchel-loadgen: %s must be a number %u..%u\n",
			name, min, max);
		exit(2);
	}
	return (unsigned)v;
}

/* Names and passwords go on the wire unquoted, so they must be atoms. */
static bool
is_atom(const char *s)
{
	if (*s == '\0' || strlen(s) > 100)
		return false;
	for (; *s != '\0'; s++) {
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' ||
		      *s == '.'))
			return false;
	}
	return true;
}

static double
ts_diff(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) +
	       (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static double
ru_cpu(const struct rusage *ru)
{
	return (double)ru->ru_utime.tv_sec + (double)ru->ru_utime.tv_usec / 1e6 +
	       (double)ru->ru_stime.tv_sec + (double)ru->ru_stime.tv_usec / 1e6;
}

static void
note_error(struct lg_thread *t, const char *what, const char *detail)
{
	t->errors++;
	if (t->first_error[0] == '\0')
		snprintf(t->first_error, sizeof(t->first_error), "%s%s%s", what,
			 detail[0] != '\0' ? ": " : "", detail);
	if (t->o->mode == MODE_HOLD && t->errors <= 5)
		fprintf(stderr, "satchel-loadgen: %s%s%s\n", what,
			detail[0] != '\0' ? ": " : "", detail);
	if (t->errors >= t->o->max_errors && !t->stopping) {
		fprintf(stderr, "satchel-loadgen: thread %u: %" PRIu64
			" errors, stopping (first: %s)\n", t->id, t->errors,
			t->first_error);
		t->stopping = true;
		if (t->o->mode == MODE_LOGIN)
			event_base_loopexit(t->base, NULL);
	}
}

static void
conn_free(struct lg_conn *c)
{
	struct lg_thread *t = c->t;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		t->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	bufferevent_free(c->bev);
	t->active--;
	if (c->state != ST_IDLE)
		t->pending--;
	free(c);
}

static void
hold_check_ready(struct lg_thread *t)
{
	const struct lg_opts *o = t->o;

	if (t->ready_printed)
		return;
	if (t->logged_in < o->count && !t->stopping &&
	    !(t->pending == 0 && t->started >= o->count + o->max_errors))
		return;
	t->ready_printed = true;
	t->stopping = true; /* no more connections from here on */
	printf("ready %" PRIu64 "\n", t->logged_in);
	fflush(stdout);
}

/* The connection ended, well (ok) or not; start the next one. */
static void
conn_done(struct lg_conn *c, bool ok, const char *what, const char *detail)
{
	struct lg_thread *t = c->t;
	const struct lg_opts *o = t->o;
	struct timespec now;

	if (ok) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		t->completed_all++;
		if (t->counting) {
			double us = ts_diff(&c->t0, &now) * 1e6;

			t->completed++;
			if (t->nlat == t->lat_cap && t->lat_cap < LG_MAX_SAMPLES) {
				size_t cap = t->lat_cap == 0 ? 65536 : t->lat_cap * 2;
				uint32_t *n = reallocarray(t->lat_us, cap,
							   sizeof(*n));

				if (n == NULL)
					die("out of memory");
				t->lat_us = n;
				t->lat_cap = cap;
			}
			if (t->nlat < t->lat_cap)
				t->lat_us[t->nlat++] = us > UINT32_MAX ?
					UINT32_MAX : (uint32_t)us;
		}
	} else if (o->mode == MODE_HOLD && c->state == ST_IDLE) {
		t->dropped++;
		if (t->dropped <= 5)
			fprintf(stderr, "satchel-loadgen: held connection "
				"closed: %s%s%s\n", what,
				detail[0] != '\0' ? ": " : "", detail);
	} else {
		note_error(t, what, detail);
	}
	conn_free(c);
	if (o->mode == MODE_HOLD) {
		conn_start(t);
		hold_check_ready(t);
		return;
	}
	if (!t->stopping) {
		conn_start(t);
	} else if (t->active == 0) {
		event_base_loopexit(t->base, NULL);
	}
}

static bool
has_prefix(const char *line, const char *prefix)
{
	return strncmp(line, prefix, strlen(prefix)) == 0;
}

/* Handle one server line; returns false when the connection was freed. */
static bool
conn_line(struct lg_conn *c, const char *line)
{
	struct lg_thread *t = c->t;
	const struct lg_opts *o = t->o;
	unsigned user;

	switch (c->state) {
	case ST_GREETING:
		if (!has_prefix(line, "* OK")) {
			conn_done(c, false, "bad greeting", line);
			return false;
		}
		user = t->next_user;
		t->next_user = (t->next_user + 1) % o->users;
		/* LOGIN's password is a plain atom here: is_atom() checked. */
		if (evbuffer_add_printf(bufferevent_get_output(c->bev),
					"a LOGIN %s%u %s\r\n", o->prefix, user,
					o->password) < 0)
			die("evbuffer_add_printf failed");
		c->state = ST_LOGIN;
		return true;
	case ST_LOGIN:
		if (has_prefix(line, "* "))
			return true;
		if (!has_prefix(line, "a OK")) {
			conn_done(c, false, "login failed", line);
			return false;
		}
		if (o->mode == MODE_HOLD) {
			c->state = ST_IDLE;
			t->pending--;
			t->logged_in++;
			bufferevent_set_timeouts(c->bev, NULL, NULL);
			conn_start(t);
			hold_check_ready(t);
			return true;
		}
		if (evbuffer_add(bufferevent_get_output(c->bev),
				 "b LOGOUT\r\n", 10) < 0)
			die("evbuffer_add failed");
		c->state = ST_LOGOUT;
		return true;
	case ST_LOGOUT:
		if (has_prefix(line, "b OK")) {
			c->logout_ok = true;
		} else if (has_prefix(line, "b ")) {
			conn_done(c, false, "logout failed", line);
			return false;
		}
		return true;
	case ST_IDLE:
		return true;
	}
	return true;
}

static void
read_cb(struct bufferevent *bev, void *arg)
{
	struct lg_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char line[LG_LINE_KEEP];
	size_t eol_len, keep;
	struct evbuffer_ptr p;
	unsigned n;

	/* Bounded: a greeting, a reply and a few untagged lines at most. */
	for (n = 0; n < 1000; n++) {
		p = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_CRLF);
		if (p.pos < 0) {
			if (evbuffer_get_length(in) > LG_MAX_LINE)
				conn_done(c, false, "line too long", "");
			return;
		}
		keep = (size_t)p.pos < sizeof(line) - 1 ? (size_t)p.pos :
			sizeof(line) - 1;
		if (evbuffer_copyout(in, line, keep) < 0)
			die("evbuffer_copyout failed");
		line[keep] = '\0';
		evbuffer_drain(in, (size_t)p.pos + eol_len);
		if (!conn_line(c, line))
			return;
	}
}

static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
	static const char *const names[] = {
		[ST_GREETING] = "greeting", [ST_LOGIN] = "login",
		[ST_LOGOUT] = "logout", [ST_IDLE] = "idle",
	};
	struct lg_conn *c = arg;
	char detail[LG_LINE_KEEP], what_s[64];
	unsigned long ssl_err;

	if (what & BEV_EVENT_CONNECTED)
		return;
	if (c->state == ST_LOGOUT && c->logout_ok &&
	    (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))) {
		conn_done(c, true, "", "");
		return;
	}
	detail[0] = '\0';
	ssl_err = c->t->o->tls ? bufferevent_get_openssl_error(bev) : 0;
	if (ssl_err != 0)
		ERR_error_string_n(ssl_err, detail, sizeof(detail));
	else if ((what & BEV_EVENT_ERROR) && errno != 0)
		snprintf(detail, sizeof(detail), "%s", strerror(errno));
	snprintf(what_s, sizeof(what_s), "%s in state %s",
		 (what & BEV_EVENT_TIMEOUT) ? "timeout" :
		 (what & BEV_EVENT_EOF) ? "closed" : "error", names[c->state]);
	conn_done(c, false, what_s, detail);
}

static void
conn_start(struct lg_thread *t)
{
	const struct lg_opts *o = t->o;
	struct timeval tv = { (time_t)o->step_timeout, 0 };
	struct lg_conn *c;
	SSL *ssl;

	if (t->stopping || t->pending >= t->concurrency)
		return;
	if (o->mode == MODE_LOGIN && t->started >= o->max_iterations) {
		t->stopping = true;
		return;
	}
	if (o->mode == MODE_HOLD &&
	    (t->logged_in + t->pending >= o->count ||
	     t->started >= o->count + o->max_errors))
		return;
	c = xcalloc(1, sizeof(*c));
	c->t = t;
	if (o->tls) {
		ssl = SSL_new(t->ssl_ctx);
		if (ssl == NULL)
			die("SSL_new failed");
		c->bev = bufferevent_openssl_socket_new(t->base, -1, ssl,
			BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
		if (c->bev != NULL)
			bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
	} else {
		c->bev = bufferevent_socket_new(t->base, -1,
						BEV_OPT_CLOSE_ON_FREE);
	}
	if (c->bev == NULL)
		die("cannot create a bufferevent");
	c->next = t->conns;
	if (t->conns != NULL)
		t->conns->prev = c;
	t->conns = c;
	t->active++;
	t->pending++;
	t->started++;
	clock_gettime(CLOCK_MONOTONIC, &c->t0);
	bufferevent_setcb(c->bev, read_cb, NULL, event_cb, c);
	bufferevent_set_timeouts(c->bev, &tv, &tv);
	bufferevent_setwatermark(c->bev, EV_READ, 0, LG_MAX_LINE + 1);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(c->bev, (const struct sockaddr *)&o->addr,
				       (int)sizeof(o->addr)) < 0) {
		char detail[64];

		snprintf(detail, sizeof(detail), "%s", strerror(errno));
		conn_done(c, false, "connect failed", detail);
	}
}

static void
start_all(struct lg_thread *t)
{
	unsigned i;

	for (i = 0; i < t->concurrency && !t->stopping; i++)
		conn_start(t);
}

/* ---- login mode ---- */

static void
window_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lg_thread *t = arg;

	t->counting = true;
	if (t->id == 0) {
		getrusage(RUSAGE_SELF, &t->ru_start);
		clock_gettime(CLOCK_MONOTONIC, &t->ts_start);
		printf("start\n");
		fflush(stdout);
	}
}

static void
drain_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lg_thread *t = arg;

	event_base_loopexit(t->base, NULL);
}

static void
stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lg_thread *t = arg;
	struct timeval tv = { (time_t)t->o->drain, 0 };

	t->counting = false;
	t->stopping = true;
	if (t->id == 0) {
		getrusage(RUSAGE_SELF, &t->ru_end);
		clock_gettime(CLOCK_MONOTONIC, &t->ts_end);
		printf("end\n");
		fflush(stdout);
	}
	if (t->active == 0) {
		event_base_loopexit(t->base, NULL);
		return;
	}
	t->drain_ev = evtimer_new(t->base, drain_cb, t);
	if (t->drain_ev == NULL || evtimer_add(t->drain_ev, &tv) < 0)
		die("evtimer failed");
}

static void *
login_thread(void *arg)
{
	struct lg_thread *t = arg;
	struct timeval w = { (time_t)t->o->warmup, 0 };
	struct timeval s = { (time_t)(t->o->warmup + t->o->seconds), 0 };

	t->window_ev = evtimer_new(t->base, window_cb, t);
	t->stop_ev = evtimer_new(t->base, stop_cb, t);
	if (t->window_ev == NULL || t->stop_ev == NULL ||
	    evtimer_add(t->window_ev, &w) < 0 || evtimer_add(t->stop_ev, &s) < 0)
		die("evtimer failed");
	start_all(t);
	event_base_dispatch(t->base);
	return NULL;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int
run_login(const struct lg_opts *o, struct lg_thread *ts)
{
	uint64_t completed = 0, errors = 0, all = 0;
	size_t nlat = 0, i, k;
	uint32_t *lat;
	const char *first = "";
	double window, cpu, p50 = 0, p99 = 0;

	for (i = 0; i < o->threads; i++) {
		if (pthread_create(&ts[i].thread, NULL, login_thread, &ts[i]) != 0)
			die("pthread_create failed");
	}
	for (i = 0; i < o->threads; i++)
		pthread_join(ts[i].thread, NULL);
	for (i = 0; i < o->threads; i++) {
		completed += ts[i].completed;
		all += ts[i].completed_all;
		errors += ts[i].errors;
		nlat += ts[i].nlat;
		if (first[0] == '\0')
			first = ts[i].first_error;
	}
	lat = xcalloc(nlat + 1, sizeof(*lat));
	for (i = 0, k = 0; i < o->threads; i++) {
		if (ts[i].nlat > 0)
			memcpy(lat + k, ts[i].lat_us, ts[i].nlat * sizeof(*lat));
		k += ts[i].nlat;
	}
	if (nlat > 0) {
		qsort(lat, nlat, sizeof(*lat), cmp_u32);
		p50 = lat[nlat / 2] / 1000.0;
		p99 = lat[(nlat * 99) / 100] / 1000.0;
	}
	free(lat);
	window = ts[0].ts_end.tv_sec != 0 ?
		ts_diff(&ts[0].ts_start, &ts[0].ts_end) : 0.0;
	cpu = window > 0 ? ru_cpu(&ts[0].ru_end) - ru_cpu(&ts[0].ru_start) : 0;
	printf("{\"mode\": \"login\", \"tls\": %s, \"completed\": %" PRIu64
	       ", \"completed_all\": %" PRIu64 ", \"errors\": %" PRIu64
	       ", \"seconds\": %.3f, \"rate\": %.1f, \"p50_ms\": %.3f"
	       ", \"p99_ms\": %.3f, \"loadgen_cpu_s\": %.3f"
	       ", \"concurrency\": %u, \"threads\": %u, \"first_error\": \"",
	       o->tls ? "true" : "false", completed, all, errors, window,
	       window > 0 ? (double)completed / window : 0.0, p50, p99, cpu,
	       o->concurrency, o->threads);
	for (; *first != '\0'; first++) {
		if (*first == '"' || *first == '\\')
			putchar('\\');
		putchar((unsigned char)*first < 0x20 ? '?' : *first);
	}
	printf("\"}\n");
	fflush(stdout);
	return errors > 0 && completed == 0 ? 1 : 0;
}

/* ---- hold mode ---- */

static void
hold_stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lg_thread *t = arg;

	event_base_loopexit(t->base, NULL);
}

static void
hold_stdin_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lg_thread *t = arg;
	char buf[256];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
		event_base_loopexit(t->base, NULL);
}

static void
hold_setup_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lg_thread *t = arg;

	if (!t->ready_printed) {
		fprintf(stderr, "satchel-loadgen: setup time over with %" PRIu64
			" of %u logged in\n", t->logged_in, t->o->count);
		t->stopping = true;
		hold_check_ready(t);
	}
}

static int
run_hold(const struct lg_opts *o, struct lg_thread *t)
{
	struct timeval setup = { (time_t)o->setup_seconds, 0 };
	struct timeval hold = { (time_t)(o->setup_seconds + o->hold_seconds), 0 };
	struct event *setup_ev;

	setup_ev = evtimer_new(t->base, hold_setup_cb, t);
	t->stop_ev = evtimer_new(t->base, hold_stop_cb, t);
	t->sig_ev[0] = evsignal_new(t->base, SIGTERM, hold_stop_cb, t);
	t->sig_ev[1] = evsignal_new(t->base, SIGINT, hold_stop_cb, t);
	t->stdin_ev = event_new(t->base, STDIN_FILENO, EV_READ | EV_PERSIST,
				hold_stdin_cb, t);
	if (setup_ev == NULL || t->stop_ev == NULL || t->sig_ev[0] == NULL ||
	    t->sig_ev[1] == NULL || t->stdin_ev == NULL ||
	    evtimer_add(setup_ev, &setup) < 0 ||
	    evtimer_add(t->stop_ev, &hold) < 0 ||
	    event_add(t->sig_ev[0], NULL) < 0 ||
	    event_add(t->sig_ev[1], NULL) < 0 ||
	    event_add(t->stdin_ev, NULL) < 0)
		die("event setup failed");
	start_all(t);
	event_base_dispatch(t->base);
	if (!t->ready_printed) {
		t->stopping = true;
		hold_check_ready(t);
	}
	printf("{\"mode\": \"hold\", \"tls\": %s, \"held\": %" PRIu64
	       ", \"still_open\": %u, \"dropped\": %" PRIu64
	       ", \"errors\": %" PRIu64 "}\n", o->tls ? "true" : "false",
	       t->logged_in - t->dropped, t->active, t->dropped, t->errors);
	fflush(stdout);
	event_free(setup_ev);
	event_free(t->sig_ev[0]);
	event_free(t->sig_ev[1]);
	event_free(t->stdin_ev);
	return t->logged_in == o->count ? 0 : 1;
}

/* ---- setup ---- */

static void
usage(void)
{
	fprintf(stderr,
		"usage: satchel-loadgen login --port P [--host 127.0.0.1] [--tls]\n"
		"         [--users-prefix u] [--users N] [--password PW]\n"
		"         [--concurrency C] [--threads T] [--seconds S]\n"
		"         [--warmup W] [--drain D] [--timeout SECS]\n"
		"         [--max-iterations N] [--max-errors N]\n"
		"       satchel-loadgen hold --port P --count N [--host ...] [--tls]\n"
		"         [--users-prefix u] [--users N] [--password PW]\n"
		"         [--concurrency C] [--timeout SECS] [--setup-seconds S]\n"
		"         [--hold-seconds S] [--max-errors N]\n");
	exit(2);
}

static void
parse_args(int argc, char **argv, struct lg_opts *o)
{
	const char *host = "127.0.0.1";
	unsigned port = 0;
	int i;

	if (argc < 2)
		usage();
	if (strcmp(argv[1], "login") == 0)
		o->mode = MODE_LOGIN;
	else if (strcmp(argv[1], "hold") == 0)
		o->mode = MODE_HOLD;
	else
		usage();
	o->prefix = "u";
	o->users = 100;
	o->password = "benchpw";
	o->concurrency = o->mode == MODE_LOGIN ? 32 : 100;
	o->threads = 1;
	o->seconds = 10;
	o->warmup = 2;
	o->drain = 5;
	o->count = 1000;
	o->step_timeout = 30;
	o->setup_seconds = 600;
	o->hold_seconds = 3600;
	o->max_iterations = 100000000;
	o->max_errors = 1000;
	for (i = 2; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--tls") == 0) {
			o->tls = true;
			continue;
		}
		if (v == NULL)
			usage();
		i++;
		if (strcmp(a, "--host") == 0)
			host = v;
		else if (strcmp(a, "--port") == 0)
			port = arg_uint(a, v, 1, 65535);
		else if (strcmp(a, "--users-prefix") == 0)
			o->prefix = v;
		else if (strcmp(a, "--users") == 0)
			o->users = arg_uint(a, v, 1, 10000000);
		else if (strcmp(a, "--password") == 0)
			o->password = v;
		else if (strcmp(a, "--concurrency") == 0)
			o->concurrency = arg_uint(a, v, 1, LG_MAX_CONCURRENCY);
		else if (strcmp(a, "--threads") == 0)
			o->threads = arg_uint(a, v, 1, LG_MAX_THREADS);
		else if (strcmp(a, "--seconds") == 0)
			o->seconds = arg_uint(a, v, 1, 3600);
		else if (strcmp(a, "--warmup") == 0)
			o->warmup = arg_uint(a, v, 0, 600);
		else if (strcmp(a, "--drain") == 0)
			o->drain = arg_uint(a, v, 0, 600);
		else if (strcmp(a, "--count") == 0)
			o->count = arg_uint(a, v, 1, LG_MAX_HOLD);
		else if (strcmp(a, "--timeout") == 0)
			o->step_timeout = arg_uint(a, v, 1, 3600);
		else if (strcmp(a, "--setup-seconds") == 0)
			o->setup_seconds = arg_uint(a, v, 1, 7200);
		else if (strcmp(a, "--hold-seconds") == 0)
			o->hold_seconds = arg_uint(a, v, 1, 86400);
		else if (strcmp(a, "--max-iterations") == 0)
			o->max_iterations = arg_uint(a, v, 1, UINT_MAX);
		else if (strcmp(a, "--max-errors") == 0)
			o->max_errors = arg_uint(a, v, 1, UINT_MAX);
		else
			usage();
	}
	if (port == 0)
		die("--port is required");
	if (!is_atom(o->prefix) || !is_atom(o->password))
		die("--users-prefix and --password must be atoms "
		    "(letters, digits, - _ .)");
	o->addr.sin_family = AF_INET;
	o->addr.sin_port = htons((uint16_t)port);
	if (strcmp(host, "localhost") == 0)
		host = "127.0.0.1";
	if (inet_pton(AF_INET, host, &o->addr.sin_addr) != 1 ||
	    (ntohl(o->addr.sin_addr.s_addr) >> 24) != 127)
		die("--host must be an IPv4 loopback address (127.0.0.0/8)");
	if (o->mode == MODE_HOLD)
		o->threads = 1;
	if (o->threads > o->concurrency)
		o->threads = o->concurrency;
}

static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			perror("satchel-loadgen: setrlimit(RLIMIT_NOFILE)");
	}
}

int
main(int argc, char **argv)
{
	struct lg_opts o;
	struct lg_thread *ts;
	SSL_CTX *ctx = NULL;
	unsigned i;
	int rc;

	memset(&o, 0, sizeof(o));
	parse_args(argc, argv, &o);
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	if (o.tls) {
		ctx = SSL_CTX_new(TLS_client_method());
		if (ctx == NULL)
			die("SSL_CTX_new failed");
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
		/* Every connection is a new client: no resumption. */
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
		SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	}
	ts = xcalloc(o.threads, sizeof(*ts));
	for (i = 0; i < o.threads; i++) {
		ts[i].o = &o;
		ts[i].id = i;
		ts[i].ssl_ctx = ctx;
		ts[i].base = event_base_new();
		if (ts[i].base == NULL)
			die("event_base_new failed");
		/* Spread the users and the concurrency evenly. */
		ts[i].next_user = (unsigned)(((uint64_t)o.users * i) / o.threads);
		ts[i].concurrency = o.concurrency / o.threads +
			(i < o.concurrency % o.threads ? 1 : 0);
	}
	if (o.mode == MODE_HOLD)
		ts[0].concurrency = o.concurrency;
	rc = o.mode == MODE_LOGIN ? run_login(&o, ts) : run_hold(&o, &ts[0]);
	for (i = 0; i < o.threads; i++) {
		while (ts[i].conns != NULL)
			conn_free(ts[i].conns);
		if (ts[i].window_ev != NULL)
			event_free(ts[i].window_ev);
		if (ts[i].stop_ev != NULL)
			event_free(ts[i].stop_ev);
		if (ts[i].drain_ev != NULL)
			event_free(ts[i].drain_ev);
		event_base_free(ts[i].base);
		free(ts[i].lat_us);
	}
	free(ts);
	if (ctx != NULL)
		SSL_CTX_free(ctx);
	return rc;
}
