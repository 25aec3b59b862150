/* server: workers, listeners, signals and the hashing pool; see server.h.
 * Non-goal: protocol logic (sessions plug in through server_accept_fn). */
#include "server.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/thread.h>
#include <openssl/rand.h>

#include "log.h"
#include "net.h"
#include "passdb.h"
#include "throttle.h"
#include "tls.h"
#include "xalloc.h"

#define SERVER_LISTEN_BACKLOG 1024
#define SERVER_STOP_GRACE_SECS 10 /* running commands get this long on SIGTERM */
/* Wake callbacks run per turn of the event loop before the worker looks at
 * its sockets again: 1,000 woken IDLE sessions must not hold up a tagged
 * reply waiting to be written (the APPEND's that woke them) or another
 * user's command for more than one batch (about 1 ms). */
#define WORKER_WAKE_BATCH 128

/* ---- the hashing pool ---- */

struct offload_job {
	struct offload_job *next;
	void (*run)(void *ctx);
	void (*done)(void *ctx);
	void *ctx;
	struct event *done_ev; /* on the submitting worker's base */
};

struct auth_pool {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct offload_job *head, *tail; /* guarded by lock */
	bool stopping;                   /* guarded by lock */
	pthread_t *threads;
	unsigned nthreads;
};

static void *
pool_thread(void *arg)
{
	struct auth_pool *pool = arg;
	struct offload_job *job;

	for (;;) {
		pthread_mutex_lock(&pool->lock);
		while (pool->head == NULL && !pool->stopping)
			pthread_cond_wait(&pool->cond, &pool->lock);
		job = pool->head;
		if (job == NULL) {
			pthread_mutex_unlock(&pool->lock);
			return NULL;
		}
		pool->head = job->next;
		if (pool->head == NULL)
			pool->tail = NULL;
		pthread_mutex_unlock(&pool->lock);
		job->run(job->ctx);
		event_active(job->done_ev, 0, 0);
	}
}

static void
offload_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct offload_job *job = arg;

	event_free(job->done_ev);
	job->done(job->ctx);
	free(job);
}

void
server_offload(struct worker *w, void (*run)(void *ctx),
	       void (*done)(void *ctx), void *ctx)
{
	struct auth_pool *pool = w->server->auth_pool;
	struct offload_job *job = xmalloc(sizeof(*job));

	job->run = run;
	job->done = done;
	job->ctx = ctx;
	job->done_ev = event_new(w->base, -1, 0, offload_done_cb, job);
	if (job->done_ev == NULL)
		abort();
	pthread_mutex_lock(&pool->lock);
	if (pool->tail != NULL)
		pool->tail->next = job;
	else
		pool->head = job;
	pool->tail = job;
	pthread_cond_signal(&pool->cond);
	pthread_mutex_unlock(&pool->lock);
}

static struct auth_pool *
pool_new(unsigned nthreads)
{
	struct auth_pool *pool = xmalloc(sizeof(*pool));
	unsigned i;

	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->cond, NULL);
	pool->threads = xcalloc(nthreads, sizeof(pthread_t));
	pool->nthreads = nthreads;
	for (i = 0; i < nthreads; i++) {
		if (pthread_create(&pool->threads[i], NULL, pool_thread, pool) != 0) {
			log_fatal("pthread_create(auth pool): %s", strerror(errno));
			exit(1);
		}
	}
	return pool;
}

static void
pool_free(struct auth_pool **poolp)
{
	struct auth_pool *pool = *poolp;
	unsigned i;

	if (pool == NULL)
		return;
	pthread_mutex_lock(&pool->lock);
	pool->stopping = true;
	pthread_cond_broadcast(&pool->cond);
	pthread_mutex_unlock(&pool->lock);
	for (i = 0; i < pool->nthreads; i++)
		pthread_join(pool->threads[i], NULL);
	free(pool->threads);
	pthread_mutex_destroy(&pool->lock);
	pthread_cond_destroy(&pool->cond);
	free(pool);
	*poolp = NULL;
}

/* ---- TLS ---- */

int
server_tls_reload(struct server *srv, const char **error_r)
{
	const struct conf *c = srv->conf;
	struct tls_params p = {
		.cert_file = c->tls_cert,
		.key_file = c->tls_key,
		.min_version = c->tls_min_version,
		.ciphers = c->tls_ciphers,
		.ciphersuites = c->tls_ciphersuites,
		.alpn = "imap",
	};
	SSL_CTX *ctx, *old;

	if (c->tls_cert == NULL || c->tls_cert[0] == '\0')
		return 0;
	ctx = tls_ctx_new(&p, error_r);
	if (ctx == NULL)
		return -1;
	pthread_mutex_lock(&srv->tls_lock);
	old = srv->tls_ctx;
	srv->tls_ctx = ctx;
	pthread_mutex_unlock(&srv->tls_lock);
	/* Connections made with the old context hold their own reference. */
	SSL_CTX_free(old);
	return 0;
}

bool
server_has_tls(struct server *srv)
{
	bool has;

	pthread_mutex_lock(&srv->tls_lock);
	has = srv->tls_ctx != NULL;
	pthread_mutex_unlock(&srv->tls_lock);
	return has;
}

SSL *
server_ssl_new(struct server *srv)
{
	SSL *ssl = NULL;

	pthread_mutex_lock(&srv->tls_lock);
	if (srv->tls_ctx != NULL)
		ssl = SSL_new(srv->tls_ctx);
	pthread_mutex_unlock(&srv->tls_lock);
	return ssl;
}

/* ---- set-up ---- */

int
server_init(struct server *srv, const struct conf *conf, bool dev_mode,
	    const char **error_r)
{
	struct throttle_params tp = {
		.delay_ms = conf->failure_delay_ms,
		.max_delay_ms = conf->failure_delay_max_ms,
		.ip_limit = conf->ip_failure_limit,
		.user_limit = conf->user_failure_limit,
		.window = conf->failure_window,
		.max_entries = 65536,
	};
	long ncpu;
	unsigned i;

	memset(srv, 0, sizeof(*srv));
	srv->conf = conf;
	srv->dev_mode = dev_mode;
	pthread_mutex_init(&srv->tls_lock, NULL);
	if (RAND_bytes(srv->secret, sizeof(srv->secret)) != 1) {
		*error_r = "no randomness available";
		return -1;
	}
	if (server_tls_reload(srv, error_r) < 0)
		return -1;
	srv->passdb = passdb_new(conf->passwd_file, error_r);
	if (srv->passdb == NULL)
		return -1;
	srv->throttle = throttle_new(&tp);
	srv->nworkers = conf->workers;
	if (srv->nworkers == 0) {
		ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		srv->nworkers = ncpu < 1 ? 1 : (unsigned)ncpu;
	}
	srv->workers = xcalloc(srv->nworkers, sizeof(struct worker));
	for (i = 0; i < srv->nworkers; i++)
		pthread_mutex_init(&srv->workers[i].wake_lock, NULL);
	return 0;
}

int
server_add_listeners(struct server *srv, const struct conf_listen *addrs,
		     const char *proto, bool implicit_tls,
		     server_accept_fn *accept, const char **error_r)
{
	static __thread char err[256];
	size_t i;
	unsigned w;

	for (i = 0; i < addrs->count; i++) {
		struct server_listener *l;
		char text[80];
		int port;

		srv->listeners = xreallocarray(srv->listeners,
					       srv->nlisteners + 1,
					       sizeof(*srv->listeners));
		l = &srv->listeners[srv->nlisteners];
		memset(l, 0, sizeof(*l));
		if (net_parse_addr(addrs->addrs[i], &l->addr, &l->addrlen,
				   error_r) < 0)
			return -1;
		srv->nlisteners++;
		l->proto = proto;
		l->implicit_tls = implicit_tls;
		l->accept = accept;
		l->fds = xcalloc(srv->nworkers, sizeof(int));
		for (w = 0; w < srv->nworkers; w++) {
			l->fds[w] = net_listen((struct sockaddr *)&l->addr,
					       l->addrlen, SERVER_LISTEN_BACKLOG);
			if (l->fds[w] < 0) {
				snprintf(err, sizeof(err), "bind(%s): %s",
					 addrs->addrs[i], strerror(errno));
				*error_r = err;
				return -1;
			}
			/* Port 0: the first socket picks, the others follow. */
			port = net_local_port(l->fds[w]);
			if (w == 0 && net_get_port(&l->addr) == 0)
				net_set_port(&l->addr, port);
		}
		net_addr_port_str((struct sockaddr *)&l->addr, text, sizeof(text));
		log_info("listening proto=%s addr=%s", proto, text);
	}
	return 0;
}

/* ---- workers ---- */

void
worker_conn_add(struct worker *w, struct worker_conn *conn)
{
	conn->next = w->conns.next;
	conn->prev = &w->conns;
	w->conns.next->prev = conn;
	w->conns.next = conn;
	w->nconns++;
	atomic_fetch_add(&w->server->connections, 1);
}

static void
wake_unlink(struct worker_conn *conn)
{
	conn->wake_prev->wake_next = conn->wake_next;
	conn->wake_next->wake_prev = conn->wake_prev;
	conn->wake_prev = conn->wake_next = NULL;
	conn->wake_queued = false;
}

void
worker_conn_remove(struct worker *w, struct worker_conn *conn)
{
	pthread_mutex_lock(&w->wake_lock);
	if (conn->wake_queued)
		wake_unlink(conn);
	pthread_mutex_unlock(&w->wake_lock);
	conn->prev->next = conn->next;
	conn->next->prev = conn->prev;
	conn->prev = conn->next = NULL;
	w->nconns--;
	atomic_fetch_sub(&w->server->connections, 1);
	if (w->stopping && w->nconns == 0)
		event_base_loopexit(w->base, NULL);
}

void
worker_conn_wake(struct worker *w, struct worker_conn *conn)
{
	bool arm;

	pthread_mutex_lock(&w->wake_lock);
	if (!conn->wake_queued) {
		conn->wake_queued = true;
		conn->wake_prev = w->wake_q.wake_prev;
		conn->wake_next = &w->wake_q;
		w->wake_q.wake_prev->wake_next = conn;
		w->wake_q.wake_prev = conn;
	}
	arm = !w->wake_armed;
	w->wake_armed = true;
	pthread_mutex_unlock(&w->wake_lock);
	/* Outside the lock: wake_cb clears wake_armed only under it, with
	 * the queue empty, so a wake never goes unnoticed. */
	if (arm)
		event_active(w->wake_ev, EV_TIMEOUT, 0);
}

static void
wake_cb(evutil_socket_t fd, short what, void *arg)
{
	static const struct timeval now = { 0, 0 };
	struct worker *w = arg;
	struct worker_conn *conn;
	unsigned n;

	for (n = 0; n < WORKER_WAKE_BATCH; n++) {
		pthread_mutex_lock(&w->wake_lock);
		conn = w->wake_q.wake_next;
		if (conn == &w->wake_q) {
			w->wake_armed = false;
			pthread_mutex_unlock(&w->wake_lock);
			return;
		}
		/* Dequeued before the callback: a wake that comes while it
		 * runs queues the connection again. */
		wake_unlink(conn);
		pthread_mutex_unlock(&w->wake_lock);
		conn->wake(conn);
	}
	/* The rest after one look at the sockets (a zero timeout runs after
	 * the next poll; event_active would run before it). */
	evtimer_add(w->wake_ev, &now);
}

void
worker_session_id(struct worker *w, char out[9])
{
	/* xorshift64*: cheap, unique enough for telling log lines apart. */
	uint64_t x = w->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	w->rng = x;
	snprintf(out, 9, "%08x", (unsigned)((x * 0x2545F4914F6CDD1DULL) >> 32));
}

static void
accept_cb(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
	  int salen, void *arg)
{
	struct worker *w = arg;
	size_t i;

	for (i = 0; i < w->nlisteners; i++) {
		if (w->listeners[i] == lev)
			break;
	}
	if (i == w->nlisteners || w->stopping) {
		close(fd);
		return;
	}
	if (atomic_load(&w->server->connections) >=
	    w->server->conf->max_connections) {
		static const char bye[] = "* BYE Too many connections\r\n";

		if (write(fd, bye, sizeof(bye) - 1) < 0) {
			/* closing anyway */
		}
		close(fd);
		return;
	}
	w->server->listeners[i].accept(w, fd, sa, (socklen_t)salen,
				       w->server->listeners[i].implicit_tls);
}

static void
accept_error_cb(struct evconnlistener *lev, void *arg)
{
	/* EMFILE and friends: log and keep listening; libevent retries. */
	log_error("accept(): %s", strerror(errno));
}

static void
force_stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	log_warn("worker=%u stop grace time over, closing %u connections",
		 w->id, w->nconns);
	event_base_loopexit(w->base, NULL);
}

static void
stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct worker_conn *c, *next;
	struct timeval grace = { SERVER_STOP_GRACE_SECS, 0 };
	size_t i;

	w->stopping = true;
	for (i = 0; i < w->nlisteners; i++) {
		evconnlistener_free(w->listeners[i]);
		w->listeners[i] = NULL;
	}
	w->nlisteners = 0;
	if (w->nconns == 0) {
		event_base_loopexit(w->base, NULL);
		return;
	}
	w->force_ev = evtimer_new(w->base, force_stop_cb, w);
	evtimer_add(w->force_ev, &grace);
	/* shutdown() may remove the connection (and others never). */
	for (c = w->conns.next; c != &w->conns; c = next) {
		next = c->next;
		c->shutdown(c);
	}
}

static void *
worker_thread(void *arg)
{
	struct worker *w = arg;

	event_base_dispatch(w->base);
	return NULL;
}

static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct server *srv = arg;
	const char *error;
	unsigned i;

	if (sig == SIGHUP) {
		log_info("SIGHUP: reloading certificates and the user database");
		if (server_tls_reload(srv, &error) < 0)
			log_error("TLS reload failed, keeping the old certificate: %s",
				  error);
		if (passdb_reload(srv->passdb, &error) < 0)
			log_error("user database reload failed: %s", error);
		return;
	}
	if (atomic_exchange(&srv->stopping, true))
		return;
	log_info("signal=%d: stopping (no new connections; running commands finish)",
		 (int)sig);
	for (i = 0; i < srv->nworkers; i++)
		event_active(srv->workers[i].stop_ev, 0, 0);
	event_base_loopexit(srv->main_base, NULL);
}

int
server_run(struct server *srv)
{
	struct event *sigs[3];
	static const int signums[3] = { SIGTERM, SIGINT, SIGHUP };
	sigset_t set, old;
	unsigned i, pool_threads;
	size_t l;

	pool_threads = srv->nworkers;
	srv->auth_pool = pool_new(pool_threads);
	/* Workers must not receive the signals: the main loop handles them. */
	sigemptyset(&set);
	for (i = 0; i < 3; i++)
		sigaddset(&set, signums[i]);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	for (i = 0; i < srv->nworkers; i++) {
		struct worker *w = &srv->workers[i];

		w->server = srv;
		w->id = i;
		w->conns.next = w->conns.prev = &w->conns;
		w->wake_q.wake_next = w->wake_q.wake_prev = &w->wake_q;
		buf_init(&w->cork, 0);
		if (RAND_bytes((unsigned char *)&w->rng, sizeof(w->rng)) != 1 ||
		    w->rng == 0)
			w->rng = 0x9E3779B97F4A7C15ULL + i;
		w->base = event_base_new();
		if (w->base == NULL) {
			log_fatal("event_base_new failed");
			return 1;
		}
		w->stop_ev = event_new(w->base, -1, 0, stop_cb, w);
		w->wake_ev = evtimer_new(w->base, wake_cb, w);
		w->nlisteners = srv->nlisteners;
		w->listeners = xcalloc(srv->nlisteners + 1, sizeof(*w->listeners));
		for (l = 0; l < srv->nlisteners; l++) {
			w->listeners[l] = evconnlistener_new(
				w->base, accept_cb, w, LEV_OPT_CLOSE_ON_FREE, -1,
				srv->listeners[l].fds[i]);
			if (w->listeners[l] == NULL) {
				log_fatal("evconnlistener_new failed");
				return 1;
			}
			evconnlistener_set_error_cb(w->listeners[l], accept_error_cb);
		}
	}
	for (i = 0; i < srv->nworkers; i++) {
		if (pthread_create(&srv->workers[i].thread, NULL, worker_thread,
				   &srv->workers[i]) != 0) {
			log_fatal("pthread_create(worker): %s", strerror(errno));
			return 1;
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);

	srv->main_base = event_base_new();
	for (i = 0; i < 3; i++) {
		sigs[i] = evsignal_new(srv->main_base, signums[i], signal_cb, srv);
		evsignal_add(sigs[i], NULL);
	}
	log_info("ready workers=%u", srv->nworkers);
	event_base_dispatch(srv->main_base);

	for (i = 0; i < srv->nworkers; i++)
		pthread_join(srv->workers[i].thread, NULL);
	pool_free(&srv->auth_pool);
	for (i = 0; i < 3; i++)
		event_free(sigs[i]);
	log_info("stopped");
	return 0;
}

void
server_deinit(struct server *srv)
{
	unsigned i;
	size_t l;

	for (i = 0; srv->workers != NULL && i < srv->nworkers; i++) {
		struct worker *w = &srv->workers[i];

		for (l = 0; l < w->nlisteners; l++) {
			if (w->listeners[l] != NULL)
				evconnlistener_free(w->listeners[l]);
		}
		free(w->listeners);
		if (w->stop_ev != NULL)
			event_free(w->stop_ev);
		if (w->force_ev != NULL)
			event_free(w->force_ev);
		if (w->wake_ev != NULL)
			event_free(w->wake_ev);
		if (w->base != NULL)
			event_base_free(w->base);
		pthread_mutex_destroy(&w->wake_lock);
		buf_deinit(&w->cork);
	}
	free(srv->workers);
	for (l = 0; l < srv->nlisteners; l++)
		free(srv->listeners[l].fds);
	free(srv->listeners);
	if (srv->main_base != NULL)
		event_base_free(srv->main_base);
	passdb_free(&srv->passdb);
	throttle_free(&srv->throttle);
	SSL_CTX_free(srv->tls_ctx);
	pthread_mutex_destroy(&srv->tls_lock);
}
