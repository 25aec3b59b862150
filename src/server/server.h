/* server: the daemon's runtime shared by every protocol: settings, the TLS
 * context, the user database, login throttling, the password-hashing pool
 * and N worker threads, each with its own event_base and its own
 * SO_REUSEPORT copy of every listening socket, so the kernel spreads
 * connections and a connection lives its whole life on one worker.
 *
 * Threads: the main thread only handles signals (SIGTERM: graceful stop,
 * SIGHUP: reload certificates and the user database).  Workers touch only
 * their own connections; the main thread reaches them with event_active(),
 * other workers with worker_conn_wake(). */
#ifndef SERVER_H
#define SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/ssl.h>

#include "buf.h"
#include "conf.h"

struct worker;
struct auth_pool;

/* One accepted connection's entry in its worker's list, so shutdown can
 * reach every connection.  Embedded in the protocol's session struct. */
struct worker_conn {
	struct worker_conn *prev, *next;
	/* Called on the worker thread when the server stops: say goodbye at
	 * the next safe point and close. */
	void (*shutdown)(struct worker_conn *conn);
	/* Called on the worker thread after worker_conn_wake() (once for
	 * any number of wakes that came before it ran).  NULL: never woken. */
	void (*wake)(struct worker_conn *conn);
	/* The worker's wake queue, guarded by its wake_lock. */
	struct worker_conn *wake_prev, *wake_next;
	bool wake_queued;
};

typedef void server_accept_fn(struct worker *worker, int fd,
			      const struct sockaddr *peer, socklen_t peerlen,
			      bool implicit_tls);

struct server_listener {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	const char *proto;       /* "imap", "imaps" (for logs) */
	bool implicit_tls;
	server_accept_fn *accept;
	int *fds;                /* one per worker */
};

struct worker {
	struct server *server;
	unsigned id;
	pthread_t thread;
	struct event_base *base;          /* owned */
	struct evconnlistener **listeners; /* owned, one per server listener */
	size_t nlisteners;
	struct event *stop_ev;            /* activated by the main thread */
	struct event *force_ev;           /* hard stop after the grace time */
	struct worker_conn conns;         /* list head (sentinel) */
	unsigned nconns;
	bool stopping;
	uint64_t rng;                     /* for session ids */
	/* Connections woken from any thread, oldest first, drained by one
	 * event: a change that wakes 1,000 sessions costs the thread one
	 * wakeup, not 1,000 events. */
	pthread_mutex_t wake_lock;
	struct worker_conn wake_q;        /* sentinel; guarded by wake_lock */
	bool wake_armed;                  /* wake_ev will run; wake_lock */
	struct event *wake_ev;
	/* Replies of the session whose input this thread is running, held
	 * back to go out in one send at the end of its batch (see
	 * imap-session.c); owner is that session, NULL when unused. */
	struct buf cork;
	const void *cork_owner;
};

struct server {
	const struct conf *conf;     /* read-only after start */
	bool dev_mode;

	pthread_mutex_t tls_lock;
	SSL_CTX *tls_ctx;            /* guarded by tls_lock; NULL = no TLS */

	struct passdb *passdb;       /* thread-safe */
	struct throttle *throttle;   /* thread-safe */
	struct auth_pool *auth_pool; /* thread-safe */
	unsigned char secret[32];    /* random per start (fake SCRAM salts) */

	struct server_listener *listeners;
	size_t nlisteners;
	struct worker *workers;
	unsigned nworkers;

	atomic_uint connections;
	atomic_bool stopping;
	struct event_base *main_base;
};

/* 0 ok, -1 with *error_r. */
int server_init(struct server *srv, const struct conf *conf, bool dev_mode,
		const char **error_r);
/* Load or reload the TLS context from the settings (SIGHUP). */
int server_tls_reload(struct server *srv, const char **error_r);
bool server_has_tls(struct server *srv);
/* A new SSL for one connection, or NULL if TLS is not configured. */
SSL *server_ssl_new(struct server *srv);
/* Bind every listener (all workers' sockets); logs the bound addresses. */
int server_add_listeners(struct server *srv, const struct conf_listen *addrs,
			 const char *proto, bool implicit_tls,
			 server_accept_fn *accept, const char **error_r);
/* Start workers and the hashing pool, then run the signal loop until
 * stopped.  Returns the exit status. */
int server_run(struct server *srv);
void server_deinit(struct server *srv);

void worker_conn_add(struct worker *w, struct worker_conn *conn);
/* Also takes it out of the wake queue: once the caller has made sure no
 * thread can call worker_conn_wake() for it any more, it may be freed. */
void worker_conn_remove(struct worker *w, struct worker_conn *conn);
/* From any thread: run conn->wake on w's thread soon, after the wakes
 * queued before it.  Takes w's wake_lock briefly (callers may hold their
 * own locks: the wake callbacks run without it). */
void worker_conn_wake(struct worker *w, struct worker_conn *conn);
/* A fresh 8-hex-digit id for a session (per worker, never repeats soon). */
void worker_session_id(struct worker *w, char out[9]);

/* Run run(ctx) on a hashing thread, then done(ctx) on the worker's thread.
 * For CPU-heavy work (password hashes) that must not stall the worker's
 * other connections. */
void server_offload(struct worker *w, void (*run)(void *ctx),
		    void (*done)(void *ctx), void *ctx);

#endif
