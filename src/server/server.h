/* server: the daemon's runtime shared by every protocol: settings, the TLS
 * context, the user database, login throttling, the password-hashing pool
 * and N worker threads, each with its own event_base and its own
 * SO_REUSEPORT copy of every listening socket, so the kernel spreads
 * connections and a connection lives its whole life on one worker.
 *
 * Threads: the main thread only handles signals (SIGTERM: graceful stop,
 * SIGHUP: reload certificates and the user database).  Workers touch only
 * their own connections; the main thread reaches them with event_active(). */
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
void worker_conn_remove(struct worker *w, struct worker_conn *conn);
/* A fresh 8-hex-digit id for a session (per worker, never repeats soon). */
void worker_session_id(struct worker *w, char out[9]);

/* Run run(ctx) on a hashing thread, then done(ctx) on the worker's thread.
 * For CPU-heavy work (password hashes) that must not stall the worker's
 * other connections. */
void server_offload(struct worker *w, void (*run)(void *ctx),
		    void (*done)(void *ctx), void *ctx);

#endif
