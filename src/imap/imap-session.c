/* imap-session: connection state machine and input loop; see
 * imap-session.h.  Non-goals: command semantics (imap-cmd.c and cmd-*.c)
 * and syntax (imap-parser.c). */
#include "imap-session.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>

#include "conf.h"
#include "imap-cmd.h"
#include "log.h"
#include "net.h"
#include "passdb.h"
#include "xalloc.h"

/* Read no more than this much ahead of the command being processed: a
 * flooding client is stopped by TCP flow control, not by our memory. */
#define IMAP_READ_HIGH_WATER (256 * 1024)
#define IMAP_CLOSE_TIMEOUT_SECS 10 /* to flush the last lines, then drop */
/* Write up to this much per loop turn (libevent's default is 16 KB): a
 * big FETCH goes out in a fraction of the system calls and packets. */
#define IMAP_MAX_SINGLE_WRITE (256 * 1024)
/* A corked batch is sent once it holds this much; a cork buffer bigger
 * than this goes back to the allocator after the batch. */
#define IMAP_CORK_KEEP (64 * 1024)

static void read_cb(struct bufferevent *bev, void *arg);
static void session_wake(struct worker_conn *conn);
static void session_sync(struct imap_session *s, bool expunges_allowed,
			 bool woken);
static void write_cb(struct bufferevent *bev, void *arg);
static void event_cb(struct bufferevent *bev, short what, void *arg);
static void process_input(struct imap_session *s);
static void close_when_flushed(struct imap_session *s);
static void run_slices(struct imap_session *s);

static void
session_free(struct imap_session *s)
{
	if (s->slices.abort != NULL)
		s->slices.abort(s->slices.ctx);
	imap_auth_abort(s);
	if (s->worker->cork_owner == s) {
		/* freed in the middle of its batch: its replies go nowhere */
		s->worker->cork_owner = NULL;
		buf_clear(&s->worker->cork);
	}
	/* The view first: once it is out of the hub no thread can wake the
	 * session, and worker_conn_remove takes it out of the wake queue. */
	imap_session_watch(s, false);
	store_view_close(&s->view);
	worker_conn_remove(s->worker, &s->conn);
	if (s->preauth_timer != NULL)
		event_free(s->preauth_timer);
	if (s->close_timer != NULL)
		event_free(s->close_timer);
	if (s->bev != NULL)
		bufferevent_free(s->bev);
	imap_framer_deinit(&s->framer);
	arena_reset(&s->arena);
	free(s->idle_tag);
	store_user_unref(&s->store);
	free(s->user);
	free(s);
}

static void
log_disconnect(struct imap_session *s, const char *reason)
{
	log_info("sess=%s ip=%s user=%s event=disconnect reason=%s", s->id,
		 s->peer, s->user != NULL ? s->user : "-", reason);
}

/* ---- output ----
 * While a session's input batch runs on a plain socket with nothing queued,
 * its replies collect in the worker's cork buffer and go to the kernel in
 * one send when the batch ends (cork_flush): a reply that goes out whole
 * never enters the bufferevent, which would register for EV_WRITE, wait
 * for the next turn of the loop, write, and deregister again (three more
 * system calls per command).  Whatever needs the bufferevent's output
 * (FETCH in slices, backpressure, STARTTLS, close) takes the corked bytes
 * into it first (uncork), so the order of the output never changes. */

static bool
corked(const struct imap_session *s)
{
	return s->worker->cork_owner == s;
}

static void
cork_start(struct imap_session *s)
{
	struct worker *w = s->worker;

	if (w->cork_owner == NULL && !s->tls && s->bev != NULL &&
	    evbuffer_get_length(bufferevent_get_output(s->bev)) == 0) {
		w->cork_owner = s;
		buf_clear(&w->cork);
	}
}

/* The corked bytes into the bufferevent, and stop corking. */
static void
uncork(struct imap_session *s)
{
	struct worker *w = s->worker;

	if (!corked(s))
		return;
	w->cork_owner = NULL;
	if (w->cork.len > 0 && s->bev != NULL)
		bufferevent_write(s->bev, w->cork.data, w->cork.len);
	buf_clear(&w->cork);
}

/* Send the corked bytes now; what the socket doesn't take is queued. */
static void
cork_flush(struct imap_session *s)
{
	struct worker *w = s->worker;
	ssize_t n = 0;

	if (!corked(s))
		return;
	w->cork_owner = NULL;
	if (w->cork.len > 0 && s->bev != NULL) {
		n = send(bufferevent_getfd(s->bev), w->cork.data, w->cork.len,
			 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0)
			n = 0; /* EAGAIN, or an error the bufferevent sees */
		if ((size_t)n < w->cork.len)
			bufferevent_write(s->bev, w->cork.data + n,
					  w->cork.len - (size_t)n);
	}
	/* a big batch's buffer goes back; a reply-sized one is kept */
	if (w->cork.cap > IMAP_CORK_KEEP)
		buf_reset(&w->cork);
	else
		buf_clear(&w->cork);
}

/* Output queued and corked: what the high-water checks compare. */
static size_t
output_len(const struct imap_session *s)
{
	size_t n = evbuffer_get_length(bufferevent_get_output(s->bev));

	return corked(s) ? n + s->worker->cork.len : n;
}

void
imap_session_write(struct imap_session *s, const void *data, size_t len)
{
	if (s->bev == NULL)
		return;
	if (corked(s) && buf_append(&s->worker->cork, data, len) == 0)
		return;
	uncork(s);
	bufferevent_write(s->bev, data, len);
}

/* Like imap_session_write, but when nothing is queued ahead of the data
 * on a plain socket, hand it to the kernel at once instead of at the next
 * turn of the loop: that turn costs an EV_WRITE registration, a poll and
 * a buffer chain, and 1,000 woken IDLE sessions would all wait for it.
 * What the socket doesn't take is queued as usual. */
static void
write_now(struct imap_session *s, const void *data, size_t len)
{
	ssize_t n = 0;

	if (s->bev == NULL || len == 0)
		return;
	if (corked(s)) {
		imap_session_write(s, data, len);
		return;
	}
	if (!s->tls &&
	    evbuffer_get_length(bufferevent_get_output(s->bev)) == 0) {
		n = send(bufferevent_getfd(s->bev), data, len,
			 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0)
			n = 0; /* EAGAIN, or an error the bufferevent sees */
	}
	if ((size_t)n < len)
		bufferevent_write(s->bev, (const uint8_t *)data + n,
				  len - (size_t)n);
}

void
imap_session_printf(struct imap_session *s, const char *fmt, ...)
{
	va_list ap;

	if (s->bev == NULL)
		return;
	if (corked(s)) {
		size_t len = s->worker->cork.len;
		int r;

		va_start(ap, fmt);
		r = buf_vprintf(&s->worker->cork, fmt, ap);
		va_end(ap);
		if (r == 0)
			return;
		s->worker->cork.len = len; /* nothing half-written */
		uncork(s);
	}
	va_start(ap, fmt);
	evbuffer_add_vprintf(bufferevent_get_output(s->bev), fmt, ap);
	va_end(ap);
}

void
imap_session_close(struct imap_session *s)
{
	struct timeval tv = { IMAP_CLOSE_TIMEOUT_SECS, 0 };

	if (s->closing)
		return;
	uncork(s);
	s->closing = true;
	s->state = IMAP_STATE_LOGOUT;
	bufferevent_disable(s->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0) {
		/* Nothing to flush: free on the next loop turn via write_cb
		 * would never fire, so free from a zero timeout. */
		bufferevent_trigger(s->bev, EV_WRITE, BEV_TRIG_IGNORE_WATERMARKS |
				    BEV_TRIG_DEFER_CALLBACKS);
	}
	bufferevent_setwatermark(s->bev, EV_WRITE, 0, 0);
	bufferevent_set_timeouts(s->bev, NULL, &tv);
	bufferevent_enable(s->bev, EV_WRITE);
}

void
imap_session_bye(struct imap_session *s, const char *text)
{
	if (s->closing)
		return;
	imap_session_printf(s, "* BYE %s\r\n", text);
	imap_session_close(s);
}

bool
imap_session_plaintext_ok(const struct imap_session *s)
{
	const struct conf *c = s->server->conf;

	return s->tls || c->allow_plaintext ||
	       (s->peer_is_loopback && c->loopback_is_secure);
}

void
imap_session_capabilities(struct imap_session *s, struct buf *out)
{
	const struct conf *c = s->server->conf;
	const char *p, *end;

	buf_append_str(out, "IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ID ENABLE");
	if (s->state != IMAP_STATE_NOTAUTH) {
		buf_printf(out, " NAMESPACE CHILDREN LIST-EXTENDED LIST-STATUS"
			   " SPECIAL-USE CREATE-SPECIAL-USE STATUS=SIZE"
			   " MULTIAPPEND APPENDLIMIT=%llu UIDPLUS MOVE UNSELECT IDLE",
			   (unsigned long long)c->max_literal_size);
		return;
	}
	if (!s->tls && server_has_tls(s->server))
		buf_append_str(out, " STARTTLS");
	if (!imap_session_plaintext_ok(s))
		buf_append_str(out, " LOGINDISABLED");
	/* Mechanisms, in configured order.  PLAIN and LOGIN reveal the
	 * password, so they are hidden where plaintext is refused; SCRAM
	 * doesn't and stays offered. */
	for (p = c->mechanisms; *p != '\0'; p = end) {
		while (*p == ' ')
			p++;
		end = p;
		while (*end != '\0' && *end != ' ')
			end++;
		if (end == p)
			break;
		if (!imap_session_plaintext_ok(s) &&
		    ((end - p == 5 && strncmp(p, "PLAIN", 5) == 0) ||
		     (end - p == 5 && strncmp(p, "LOGIN", 5) == 0)))
			continue;
		buf_printf(out, " AUTH=%.*s", (int)(end - p), p);
	}
}

static void
preauth_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct imap_session *s = arg;

	log_disconnect(s, "preauth-timeout");
	imap_session_bye(s, "Timed out waiting for authentication");
}

static void
session_shutdown(struct worker_conn *conn)
{
	struct imap_session *s = (struct imap_session *)conn;

	if (s->busy) {
		s->stop_requested = true;
		/* A command in slices can't wait for a client that may not
		 * read: it finishes now, into the output buffer, and the
		 * BYE follows it. */
		while (s->slices.next != NULL && !s->slices.running &&
		       !s->closing)
			run_slices(s);
		return;
	}
	imap_session_bye(s, "Server shutting down");
}

static void
setup_bev(struct imap_session *s)
{
	bufferevent_setcb(s->bev, read_cb, write_cb, event_cb, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, IMAP_READ_HIGH_WATER);
	bufferevent_set_max_single_write(s->bev, IMAP_MAX_SINGLE_WRITE);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
}

static void
set_idle_timeouts(struct imap_session *s)
{
	struct timeval tv = { (time_t)s->server->conf->timeout_auth, 0 };

	/* RFC 9051 5.4: at least 30 minutes of inactivity once logged in.
	 * Before login the preauth timer bounds the whole session instead. */
	bufferevent_set_timeouts(s->bev, &tv, &tv);
}

void
imap_session_accept(struct worker *worker, int fd, const struct sockaddr *peer,
		    socklen_t peerlen, bool implicit_tls)
{
	struct server *srv = worker->server;
	const struct conf *c = srv->conf;
	struct imap_session *s;
	struct timeval tv = { (time_t)c->timeout_preauth, 0 };
	struct buf greet;
	int one = 1;

	/* Output is queued a loop turn at a time and written in big
	 * pieces, so Nagle's algorithm would only hold back the tail of a
	 * response sent in slices (a big FETCH) until the client's delayed
	 * ACK, 40 ms later. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	s = xmalloc(sizeof(*s));
	s->worker = worker;
	s->server = srv;
	s->conn.shutdown = session_shutdown;
	s->conn.wake = session_wake;
	worker_session_id(worker, s->id);
	net_addr_str(peer, s->peer, sizeof(s->peer));
	s->peer_is_loopback = net_is_loopback(peer);
	s->limits.max_line = c->max_line_length;
	s->limits.max_literal = c->max_literal_size;
	s->limits.max_command = c->max_command_size;
	s->limits.max_depth = c->max_list_depth;
	s->limits.max_args = c->max_args;
	imap_framer_init(&s->framer, &s->limits);
	arena_init(&s->arena);
	worker_conn_add(worker, &s->conn);

	if (implicit_tls) {
		SSL *ssl = server_ssl_new(srv);

		if (ssl == NULL) {
			close(fd);
			s->bev = NULL;
			session_free(s);
			return;
		}
		s->bev = bufferevent_openssl_socket_new(
			worker->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
			BEV_OPT_CLOSE_ON_FREE);
		s->tls = true;
		s->tls_implicit = true;
	} else {
		s->bev = bufferevent_socket_new(worker->base, fd,
						BEV_OPT_CLOSE_ON_FREE);
	}
	if (s->bev == NULL) {
		close(fd);
		session_free(s);
		return;
	}
	if (s->tls)
		bufferevent_openssl_set_allow_dirty_shutdown(s->bev, 1);
	setup_bev(s);
	s->preauth_timer = evtimer_new(worker->base, preauth_timeout_cb, s);
	evtimer_add(s->preauth_timer, &tv);
	log_info("sess=%s ip=%s event=connect tls=%s", s->id, s->peer,
		 s->tls ? "yes" : "no");

	buf_init(&greet, 0);
	buf_append_str(&greet, "* OK [CAPABILITY ");
	imap_session_capabilities(s, &greet);
	buf_append_str(&greet, "] Satchel ready.\r\n");
	imap_session_write(s, greet.data, greet.len);
	buf_deinit(&greet);
}

/* imap.autocreate ("Sent \\Sent, Notes") as the store wants it:
 * "Sent\\Sent", "Notes"; malloc'd, NULL-terminated. */
static char **
autocreate_list(const char *spec)
{
	char **list = xcalloc(1, sizeof(char *));
	size_t n = 0;
	const char *p = spec;

	while (p != NULL && *p != '\0') {
		const char *end = strchr(p, ','), *bs;
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
		char *item, *q;

		while (len > 0 && (*p == ' ' || *p == '\t')) {
			p++;
			len--;
		}
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len > 0) {
			item = xstrndup(p, len);
			bs = strrchr(item, '\\');
			if (bs != NULL) {
				/* drop the blanks between the name and "\Use" */
				q = item + (bs - item);
				while (q > item && (q[-1] == ' ' || q[-1] == '\t'))
					q--;
				memmove(q, bs, strlen(bs) + 1);
			}
			list = xreallocarray(list, n + 2, sizeof(char *));
			list[n++] = item;
			list[n] = NULL;
		}
		p = end != NULL ? end + 1 : NULL;
	}
	return list;
}

int
imap_session_open_store(struct imap_session *s, const char **error_r)
{
	struct passdb_user *pu = NULL;
	enum store_error err;
	char home[4096];
	char **autocreate;
	size_t i;

	if (s->store != NULL)
		return 0;
	if (passdb_lookup(s->server->passdb, s->user, &pu) > 0 &&
	    pu->home[0] != '\0')
		snprintf(home, sizeof(home), "%s", pu->home);
	else
		snprintf(home, sizeof(home), "%s/users/%s",
			 s->server->conf->data_dir, s->user);
	passdb_user_free(&pu);
	autocreate = autocreate_list(s->server->conf->autocreate);
	s->store = store_user_open(s->user, home,
				   (const char *const *)autocreate, &err, error_r);
	for (i = 0; autocreate[i] != NULL; i++)
		free(autocreate[i]);
	free(autocreate);
	return s->store == NULL ? -1 : 0;
}

int
imap_session_logged_in(struct imap_session *s, const char *user,
		       const char **error_r)
{
	/* The mail store opens with the first command that needs it: an
	 * idle logged-in connection holds no index handle (DESIGN). */
	s->user = xstrdup(user);
	s->state = IMAP_STATE_AUTH;
	if (s->preauth_timer != NULL) {
		event_free(s->preauth_timer);
		s->preauth_timer = NULL;
	}
	set_idle_timeouts(s);
	return 0;
}

/* On the session's worker, after imap_session_view_notify() or the
 * inotify watch: its wake queue runs this for every woken session in turn,
 * in the order they were woken. */
static void
session_wake(struct worker_conn *conn)
{
	struct imap_session *s = (struct imap_session *)conn;

	/* RFC 2177: a session in IDLE hears of changes at once; others at
	 * their next command, which syncs first anyway. */
	if (s->idle_tag != NULL && s->view != NULL && !s->closing)
		session_sync(s, true, true);
}

static void
watch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct imap_session *s = arg;
	char buf[4096];
	bool got = false;
	int i;

	/* The descriptor is the mailbox's, shared by every session watching
	 * it: whoever reads the events asks for the look, which wakes every
	 * view it finds behind (those of the others included).  The look runs
	 * from the wake queue, after every watch that fired in this loop turn
	 * has been read: one look, however many fired. */
	for (i = 0; i < 64; i++) {
		if (read(fd, buf, sizeof(buf)) <= 0)
			break;
		got = true;
	}
	if (!got || s->view == NULL)
		return;
	store_view_check_maildir(s->view);
	if (s->idle_tag != NULL && !s->closing)
		worker_conn_wake(s->worker, &s->conn);
}

void
imap_session_watch(struct imap_session *s, bool on)
{
	int fd;

	if (!on || s->view == NULL) {
		if (s->watch_ev != NULL) {
			event_free(s->watch_ev);
			s->watch_ev = NULL;
			if (s->view != NULL)
				store_view_unwatch(s->view);
		}
		return;
	}
	if (s->watch_ev != NULL)
		return;
	fd = store_view_watch(s->view);
	if (fd < 0)
		return;
	s->watch_ev = event_new(s->worker->base, fd, EV_READ | EV_PERSIST,
				watch_cb, s);
	event_add(s->watch_ev, NULL);
}

void
imap_session_view_notify(void *ctx)
{
	struct imap_session *s = ctx;

	/* Any thread, store locked: only queue it on its own worker. */
	worker_conn_wake(s->worker, &s->conn);
}

void
imap_session_set_view(struct imap_session *s, struct store_view *view)
{
	imap_session_watch(s, false);
	store_view_close(&s->view);
	s->view = view;
	s->state = view != NULL ? IMAP_STATE_SELECTED : IMAP_STATE_AUTH;
}

void
imap_session_flags(struct imap_session *s, struct buf *out, unsigned flags,
		   const char *keywords, bool recent)
{
	static const struct {
		unsigned bit;
		const char *name;
	} sys[] = {
		{ STORE_FLAG_ANSWERED, "\\Answered" },
		{ STORE_FLAG_FLAGGED, "\\Flagged" },
		{ STORE_FLAG_DELETED, "\\Deleted" },
		{ STORE_FLAG_SEEN, "\\Seen" },
		{ STORE_FLAG_DRAFT, "\\Draft" },
	};
	bool sep = false;
	size_t i;

	buf_append_byte(out, '(');
	for (i = 0; i < sizeof(sys) / sizeof(sys[0]); i++) {
		if (flags & sys[i].bit) {
			if (sep)
				buf_append_byte(out, ' ');
			buf_append_str(out, sys[i].name);
			sep = true;
		}
	}
	/* \Recent is gone from IMAP4rev2 (RFC 9051 appendix E). */
	if (recent && !(s->enabled & IMAP_ENABLED_IMAP4REV2)) {
		buf_append_str(out, sep ? " \\Recent" : "\\Recent");
		sep = true;
	}
	if (keywords != NULL && keywords[0] != '\0') {
		if (sep)
			buf_append_byte(out, ' ');
		buf_append_str(out, keywords);
	}
	buf_append_byte(out, ')');
}

/* A sync's untagged lines are gathered here and sent in one piece. */
struct sync_out {
	struct imap_session *s;
	struct buf out;
};

static void flags_list(struct imap_session *s, struct buf *out,
		       const struct store_select_info *info);

static void
sync_expunge(uint32_t seq, void *ctx)
{
	struct sync_out *so = ctx;

	buf_printf(&so->out, "* %u EXPUNGE\r\n", seq);
}

static void
sync_exists(uint32_t count, uint32_t recent, void *ctx)
{
	struct sync_out *so = ctx;

	buf_printf(&so->out, "* %u EXISTS\r\n", count);
	if (!(so->s->enabled & IMAP_ENABLED_IMAP4REV2))
		buf_printf(&so->out, "* %u RECENT\r\n", recent);
}

static void
sync_flags(const struct store_msg *msg, void *ctx)
{
	struct sync_out *so = ctx;

	buf_printf(&so->out, "* %u FETCH (UID %u FLAGS ", msg->seq, msg->uid);
	imap_session_flags(so->s, &so->out, msg->flags, msg->keywords,
			   msg->recent);
	buf_append_str(&so->out, ")\r\n");
}

static void
sync_keywords(const struct store_select_info *info, void *ctx)
{
	struct sync_out *so = ctx;

	flags_list(so->s, &so->out, info);
}

void
imap_session_send_flags_list(struct imap_session *s,
			     const struct store_select_info *info)
{
	struct buf out;

	buf_init(&out, 0);
	flags_list(s, &out, info);
	imap_session_write(s, out.data, out.len);
	buf_deinit(&out);
}

static void
flags_list(struct imap_session *s, struct buf *out,
	   const struct store_select_info *info)
{
	size_t i;

	buf_append_str(out, "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft");
	for (i = 0; i < info->nkeywords; i++)
		buf_printf(out, " %s", info->keywords[i]);
	buf_append_str(out, ")\r\n* OK [PERMANENTFLAGS (");
	if (!store_view_readonly(s->view)) {
		buf_append_str(out, "\\Answered \\Flagged \\Deleted \\Seen \\Draft");
		for (i = 0; i < info->nkeywords; i++)
			buf_printf(out, " %s", info->keywords[i]);
		buf_append_str(out, " \\*");
	}
	buf_append_str(out, ")] Flags permitted.\r\n");
}

static void
session_sync(struct imap_session *s, bool expunges_allowed, bool woken)
{
	static const struct store_sync_cb cb = {
		.expunge = sync_expunge,
		.exists = sync_exists,
		.flags = sync_flags,
		.keywords = sync_keywords,
	};
	struct sync_out so;
	enum store_error err;
	const char *error;

	if (s->view == NULL)
		return;
	so.s = s;
	buf_init(&so.out, 0);
	if ((woken ? store_view_sync_woken(s->view, &cb, &so, &err, &error) :
	     store_view_sync(s->view, expunges_allowed, &cb, &so, &err,
			     &error)) < 0)
		log_error("sess=%s user=%s sync failed: %s", s->id,
			  s->user != NULL ? s->user : "-", error);
	/* Nothing else follows an IDLE session's update: it goes out now.
	 * A command's go with its tagged reply. */
	if (s->idle_tag != NULL)
		write_now(s, so.out.data, so.out.len);
	else
		imap_session_write(s, so.out.data, so.out.len);
	buf_deinit(&so.out);
}

void
imap_session_sync(struct imap_session *s, bool expunges_allowed)
{
	session_sync(s, expunges_allowed, false);
}

int
imap_session_start_tls(struct imap_session *s)
{
	struct bufferevent *filter;
	SSL *ssl;

	/* the OK to STARTTLS goes out in plaintext, before the handshake */
	uncork(s);
	/* RFC 9051 6.2.1 / RFC 3207-class injection: anything the client
	 * sent after the STARTTLS line was sent in plaintext and must not be
	 * executed inside TLS.  Throw it away, and the framer's state too. */
	evbuffer_drain(bufferevent_get_input(s->bev),
		       evbuffer_get_length(bufferevent_get_input(s->bev)));
	imap_framer_reset(&s->framer);
	ssl = server_ssl_new(s->server);
	if (ssl == NULL)
		return -1;
	filter = bufferevent_openssl_filter_new(
		s->worker->base, s->bev, ssl, BUFFEREVENT_SSL_ACCEPTING,
		BEV_OPT_CLOSE_ON_FREE);
	if (filter == NULL) {
		SSL_free(ssl);
		return -1;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(filter, 1);
	/* The filter moves our output into the socket's bufferevent as fast
	 * as it can encrypt it, unless that one has a high-water mark: with
	 * it, the filter's own output fills up when the client reads slowly,
	 * which is what the backpressure (and a command in slices) watch. */
	bufferevent_setwatermark(s->bev, EV_WRITE, 0,
				 s->server->conf->output_high_water);
	s->bev = filter;
	s->tls = true;
	setup_bev(s);
	return 0;
}

void
imap_session_resume(struct imap_session *s)
{
	s->busy = false;
	if (s->stop_requested) {
		imap_session_bye(s, "Server shutting down");
		return;
	}
	if (!s->closing)
		process_input(s);
}

void
imap_session_slices(struct imap_session *s,
		    bool (*next)(struct imap_session *s, void *ctx),
		    void (*abort)(void *ctx), void *ctx)
{
	uncork(s);
	s->slices.next = next;
	s->slices.abort = abort;
	s->slices.ctx = ctx;
	/* write_cb runs when the output drains this far */
	bufferevent_setwatermark(s->bev, EV_WRITE,
				 s->server->conf->output_high_water / 2, 0);
}

bool
imap_session_output_full(const struct imap_session *s)
{
	return s->bev == NULL ||
	       output_len(s) >= s->server->conf->output_high_water;
}

uint8_t *
imap_session_reserve(struct imap_session *s, size_t min, size_t *len_r)
{
	struct evbuffer_iovec vec;

	*len_r = 0;
	uncork(s);
	if (s->bev == NULL || min > EV_SSIZE_MAX ||
	    evbuffer_reserve_space(bufferevent_get_output(s->bev),
				   (ev_ssize_t)min, &vec, 1) != 1)
		return NULL;
	*len_r = vec.iov_len;
	return vec.iov_base;
}

void
imap_session_commit(struct imap_session *s, uint8_t *p, size_t used)
{
	struct evbuffer_iovec vec = { p, used };

	if (s->bev != NULL && p != NULL && used > 0)
		evbuffer_commit_space(bufferevent_get_output(s->bev), &vec, 1);
}

/* The next slice of the command in slices; once it is done, on with the
 * input (as imap_cmd_tagged does for other async commands). */
static void
run_slices(struct imap_session *s)
{
	bool done;

	/* Called back from inside next() (see running): it goes on by
	 * itself while the output has room. */
	if (s->slices.running)
		return;
	s->slices.running = true;
	done = s->slices.next(s, s->slices.ctx);
	s->slices.running = false;
	if (!done)
		return;
	memset(&s->slices, 0, sizeof(s->slices));
	bufferevent_setwatermark(s->bev, EV_WRITE, 0, 0);
	s->cmd_name = NULL;
	arena_reset(&s->arena);
	imap_session_resume(s);
}

static void
frame_error(struct imap_session *s)
{
	const char *tag = imap_framer_tag(&s->framer);
	const char *text;

	switch (imap_framer_error(&s->framer)) {
	case IMAP_FRAME_ERR_LINE_TOO_LONG:
		text = "[TOOBIG] Command line too long";
		break;
	case IMAP_FRAME_ERR_LITERAL_TOO_BIG:
		text = "[TOOBIG] Literal too big";
		break;
	case IMAP_FRAME_ERR_COMMAND_TOO_BIG:
		text = "[TOOBIG] Command too big";
		break;
	case IMAP_FRAME_ERR_BAD_LITERAL:
		text = "Invalid literal size";
		break;
	default:
		text = "Invalid command";
		break;
	}
	log_info("sess=%s ip=%s user=%s event=bad-input reason=\"%s\"", s->id,
		 s->peer, s->user != NULL ? s->user : "-", text);
	imap_session_printf(s, "%s BAD %s\r\n", tag != NULL ? tag : "*", text);
	if (imap_framer_error(&s->framer) == IMAP_FRAME_ERR_BAD_LITERAL &&
	    s->framer.skip_after_error) {
		/* "{junk+}": how many bytes follow is unknowable, so there is
		 * no way back to a command boundary. */
		imap_session_bye(s, "Cannot find the end of that command");
		return;
	}
	imap_framer_reset(&s->framer);
}

static void
process_input(struct imap_session *s)
{
	const size_t high_water = s->server->conf->output_high_water;
	struct evbuffer *in;
	struct bufferevent *bev;

	if (s->in_process)
		return;
	s->in_process = true;
	cork_start(s);
	while (!s->busy && !s->closing) {
		struct evbuffer_iovec vec;
		enum imap_frame_result r;
		size_t consumed = 0;
		const uint8_t *data;
		size_t len;

		if (corked(s) && s->worker->cork.len >= IMAP_CORK_KEEP) {
			/* a long pipelined batch: send what it has so far */
			cork_flush(s);
			cork_start(s);
		}
		if (output_len(s) > high_water) {
			uncork(s);
			/* A client that doesn't read stalls only itself:
			 * stop reading it until the output drains. */
			s->output_blocked = true;
			bufferevent_disable(s->bev, EV_READ);
			bufferevent_setwatermark(s->bev, EV_WRITE,
						 high_water / 2, 0);
			break;
		}
		in = bufferevent_get_input(s->bev);
		if (evbuffer_peek(in, -1, NULL, &vec, 1) < 1 || vec.iov_len == 0)
			break;
		r = imap_framer_feed(&s->framer, vec.iov_base, vec.iov_len,
				     &consumed);
		if (consumed > vec.iov_len)
			consumed = vec.iov_len;
		evbuffer_drain(in, consumed);
		switch (r) {
		case IMAP_FRAME_NEED_MORE:
			if (consumed == 0)
				goto out; /* defensive: never spin */
			break;
		case IMAP_FRAME_CONTINUE:
			imap_session_printf(s, "+ Ready for literal data\r\n");
			break;
		case IMAP_FRAME_ERROR:
			frame_error(s);
			break;
		case IMAP_FRAME_COMMAND:
			data = imap_framer_command(&s->framer, &len);
			bev = s->bev;
			if (s->auth != NULL)
				imap_auth_line(s, data, len);
			else if (s->idle_tag != NULL)
				imap_idle_line(s, data, len);
			else
				imap_cmd_dispatch(s, data, len);
			if (s->bev != bev)
				goto out; /* STARTTLS swapped the stream */
			break;
		}
	}
out:
	/* s->bev may be a new TLS filter by now: cork_flush only sends for
	 * the plain socket it corked (STARTTLS uncorked before the swap) */
	cork_flush(s);
	s->in_process = false;
}

static void
read_cb(struct bufferevent *bev, void *arg)
{
	process_input(arg);
}

static void
close_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	close_when_flushed(arg);
}

/* Free the session once everything queued has reached the socket.  With a
 * STARTTLS filter our output drains into the underlying bufferevent, which
 * still has to write it: wait for that too (bounded by the close timeout
 * set in imap_session_close). */
static void
close_when_flushed(struct imap_session *s)
{
	struct bufferevent *under = bufferevent_get_underlying(s->bev);
	struct timeval tv = { 0, 10000 };

	if (under != NULL &&
	    evbuffer_get_length(bufferevent_get_output(under)) > 0 &&
	    s->close_polls++ < IMAP_CLOSE_TIMEOUT_SECS * 100) {
		if (s->close_timer == NULL)
			s->close_timer = evtimer_new(s->worker->base,
						     close_timer_cb, s);
		evtimer_add(s->close_timer, &tv);
		return;
	}
	session_free(s);
}

static void
write_cb(struct bufferevent *bev, void *arg)
{
	struct imap_session *s = arg;

	if (s->closing) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			close_when_flushed(s);
		return;
	}
	if (s->slices.next != NULL) {
		run_slices(s);
		return;
	}
	if (s->output_blocked) {
		s->output_blocked = false;
		bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
		bufferevent_enable(bev, EV_READ);
		process_input(s);
	}
}

static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct imap_session *s = arg;
	unsigned long err;

	if (what & BEV_EVENT_CONNECTED)
		return; /* TLS handshake done */
	if (what & BEV_EVENT_TIMEOUT) {
		if (s->closing) {
			session_free(s);
			return;
		}
		log_disconnect(s, "idle-timeout");
		imap_session_bye(s, "Autologout; idle for too long");
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		err = bufferevent_get_openssl_error(bev);
		if (err != 0) {
			char text[128];

			ERR_error_string_n(err, text, sizeof(text));
			log_info("sess=%s ip=%s event=tls-error reason=\"%s\"",
				 s->id, s->peer, text);
		}
	}
	if (!s->closing)
		log_disconnect(s, (what & BEV_EVENT_EOF) ? "eof" : "error");
	session_free(s);
}
