/* cmd-auth: STARTTLS, AUTHENTICATE and LOGIN (RFC 9051 6.2), SASL-IR
 * (RFC 4959).  Password checks run on the server's hashing threads so a
 * slow hash never stalls the worker's other connections; failures are
 * answered after the throttle's delay, from a timer, never by sleeping.
 * LOGIN is run as SASL PLAIN so there is one verification path. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "base64.h"
#include "conf.h"
#include "imap-cmd.h"
#include "log.h"
#include "passdb.h"
#include "sasl.h"
#include "throttle.h"
#include "xalloc.h"

#define AUTH_MAX_RESPONSE 8192  /* decoded bytes of one SASL response */
#define AUTH_MAX_USER_LOG 64

struct imap_auth {
	struct imap_session *s; /* NULL once the session is gone */
	struct sasl_server *sasl;
	char *tag;              /* malloc'd copy */
	char mech[32];
	bool job_running;
	bool final_sent;        /* SCRAM server-final sent, awaiting "" */
	bool has_input;
	struct buf in;          /* decoded client response (wiped) */
	struct buf out;         /* server challenge / final data */
	enum sasl_status status;
	struct event *delay_ev;
};

static void auth_step(struct imap_auth *auth);

static void
auth_free(struct imap_auth **authp)
{
	struct imap_auth *auth = *authp;

	if (auth == NULL)
		return;
	if (auth->delay_ev != NULL)
		event_free(auth->delay_ev);
	sasl_server_free(&auth->sasl);
	if (auth->in.data != NULL)
		OPENSSL_cleanse(auth->in.data, auth->in.cap);
	buf_deinit(&auth->in);
	if (auth->out.data != NULL)
		OPENSSL_cleanse(auth->out.data, auth->out.cap);
	buf_deinit(&auth->out);
	free(auth->tag);
	free(auth);
	*authp = NULL;
}

void
imap_auth_abort(struct imap_session *s)
{
	struct imap_auth *auth = s->auth;

	if (auth == NULL)
		return;
	s->auth = NULL;
	if (auth->job_running)
		auth->s = NULL; /* the job's completion frees it */
	else
		auth_free(&auth);
}

/* End the exchange with a tagged reply and go on reading commands. */
static void
auth_finish(struct imap_session *s, const char *status, const char *text)
{
	struct imap_auth *auth = s->auth;
	char *tag = xstrdup(auth->tag);

	imap_framer_set_line_mode(&s->framer, false);
	s->auth = NULL;
	auth_free(&auth);
	imap_cmd_tagged(s, tag, status, text);
	free(tag);
}

static const char *
claimed_user(struct imap_auth *auth, char *out, size_t outsize)
{
	const char *u = auth->sasl != NULL ? sasl_server_user(auth->sasl) : NULL;

	if (u == NULL)
		return "-";
	return log_sanitize(out, outsize, u, strlen(u));
}

static void
fail_delay_cb(evutil_socket_t fd, short what, void *arg)
{
	struct imap_auth *auth = arg;
	struct imap_session *s = auth->s;
	bool too_many;

	s->auth_failures++;
	too_many = s->auth_failures >= s->server->conf->max_auth_attempts;
	/* BYE first: once the tagged NO is out, pipelined input would be
	 * read again. */
	if (too_many)
		imap_session_bye(s, "Too many authentication failures");
	auth_finish(s, "NO", "[AUTHENTICATIONFAILED] Authentication failed");
}

static void
auth_failed(struct imap_auth *auth)
{
	struct imap_session *s = auth->s;
	const char *user = auth->sasl != NULL ? sasl_server_user(auth->sasl) : NULL;
	char safe[AUTH_MAX_USER_LOG];
	unsigned delay;
	struct timeval tv;

	delay = throttle_failure(s->server->throttle, s->peer, user, time(NULL));
	log_info("sess=%s ip=%s user=%s event=auth-failed mech=%s tls=%s delay_ms=%u",
		 s->id, s->peer, claimed_user(auth, safe, sizeof(safe)),
		 auth->mech, s->tls ? "yes" : "no", delay);
	tv.tv_sec = delay / 1000;
	tv.tv_usec = (suseconds_t)(delay % 1000) * 1000;
	auth->delay_ev = evtimer_new(s->worker->base, fail_delay_cb, auth);
	evtimer_add(auth->delay_ev, &tv);
}

static void
auth_succeeded(struct imap_auth *auth)
{
	struct imap_session *s = auth->s;
	const char *user = sasl_server_user(auth->sasl);
	char safe[AUTH_MAX_USER_LOG];
	struct buf text;

	const char *error;

	throttle_success(s->server->throttle, s->peer, user);
	if (imap_session_logged_in(s, user, &error) < 0) {
		log_error("sess=%s ip=%s user=%s event=login-failed reason=\"store: %s\"",
			  s->id, s->peer, log_sanitize(safe, sizeof(safe), user,
						       strlen(user)), error);
		auth_finish(s, "NO", "[UNAVAILABLE] Your mail is not available right now");
		return;
	}
	log_info("sess=%s ip=%s user=%s event=login mech=%s tls=%s", s->id,
		 s->peer, log_sanitize(safe, sizeof(safe), user, strlen(user)),
		 auth->mech, s->tls ? "yes" : "no");
	buf_init(&text, 0);
	buf_append_str(&text, "[CAPABILITY ");
	imap_session_capabilities(s, &text);
	buf_append_str(&text, "] Logged in");
	auth_finish(s, "OK", buf_cstr(&text));
	buf_deinit(&text);
}

static void
send_challenge(struct imap_auth *auth)
{
	struct imap_session *s = auth->s;
	struct buf line;

	buf_init(&line, 0);
	buf_append_str(&line, "+ ");
	base64_encode(&line, auth->out.data, auth->out.len);
	buf_append_str(&line, "\r\n");
	imap_session_write(s, line.data, line.len);
	buf_deinit(&line);
	imap_framer_set_line_mode(&s->framer, true);
	/* Not finished: read the client's next line. */
	imap_session_resume(s);
}

static void
step_run(void *ctx)
{
	struct imap_auth *auth = ctx;

	auth->status = sasl_server_step(auth->sasl, auth->has_input,
					auth->in.data, auth->in.len, &auth->out);
}

static void
step_done(void *ctx)
{
	struct imap_auth *auth = ctx;

	auth->job_running = false;
	if (auth->in.data != NULL)
		OPENSSL_cleanse(auth->in.data, auth->in.cap);
	buf_clear(&auth->in);
	if (auth->s == NULL) {
		auth_free(&auth);
		return;
	}
	switch (auth->status) {
	case SASL_CONTINUE:
		send_challenge(auth);
		break;
	case SASL_OK:
		if (auth->out.len > 0) {
			/* RFC 9051 6.2.2: IMAP has no success-with-data, so
			 * the server's final message goes out as a
			 * continuation and the client answers with "". */
			auth->final_sent = true;
			send_challenge(auth);
			break;
		}
		auth_succeeded(auth);
		break;
	case SASL_FAIL:
		auth_failed(auth);
		break;
	case SASL_MALFORMED:
		auth_finish(auth->s, "BAD", "Malformed authentication exchange");
		break;
	}
}

static void
auth_step(struct imap_auth *auth)
{
	auth->job_running = true;
	auth->s->busy = true;
	buf_clear(&auth->out);
	server_offload(auth->s->worker, step_run, step_done, auth);
}

static int
lookup_cb(void *ctx, const char *user, char **stored_r)
{
	struct passdb *db = ctx;
	struct passdb_user *u;
	int ret;

	ret = passdb_lookup(db, user, &u);
	if (ret <= 0)
		return ret;
	*stored_r = xstrdup(u->password);
	passdb_user_free(&u);
	return 1;
}

static bool
mechanism_enabled(const struct conf *c, const char *mech)
{
	const char *p = c->mechanisms, *end;
	size_t mlen = strlen(mech);

	while (*p != '\0') {
		while (*p == ' ')
			p++;
		end = p;
		while (*end != '\0' && *end != ' ')
			end++;
		if ((size_t)(end - p) == mlen && strncasecmp(p, mech, mlen) == 0)
			return true;
		p = end;
	}
	return false;
}

/* Common start of LOGIN and AUTHENTICATE.  NULL after replying. */
static struct imap_auth *
auth_begin(struct imap_cmd *cmd, const char *mech)
{
	struct imap_session *s = cmd->session;
	struct sasl_params params = {
		.lookup = lookup_cb,
		.lookup_ctx = s->server->passdb,
		.allow_plain_scheme = s->server->conf->allow_plain_scheme,
		.secret = s->server->secret,
		.secret_len = sizeof(s->server->secret),
	};
	struct imap_auth *auth;

	if (!throttle_ip_allowed(s->server->throttle, s->peer, time(NULL))) {
		log_info("sess=%s ip=%s event=auth-refused reason=ip-throttled",
			 s->id, s->peer);
		imap_cmd_no(cmd, "UNAVAILABLE",
			    "Too many failed logins from your address; try later");
		return NULL;
	}
	auth = xmalloc(sizeof(*auth));
	auth->s = s;
	auth->tag = xstrdup(cmd->tag);
	snprintf(auth->mech, sizeof(auth->mech), "%s", mech);
	buf_init(&auth->in, AUTH_MAX_RESPONSE);
	buf_init(&auth->out, AUTH_MAX_RESPONSE);
	auth->sasl = sasl_server_new(mech, &params);
	if (auth->sasl == NULL) {
		auth_free(&auth);
		imap_cmd_no(cmd, "CANNOT", "Unsupported authentication mechanism");
		return NULL;
	}
	s->auth = auth;
	return auth;
}

/* RFC 9051 6.2.1 */
enum imap_cmd_status
cmd_starttls(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->session;

	if (cmd->argc != 0)
		return imap_cmd_bad(cmd, "STARTTLS takes no arguments");
	if (s->tls)
		return imap_cmd_bad(cmd, "TLS is already active");
	if (!server_has_tls(s->server))
		return imap_cmd_bad(cmd, "STARTTLS is not available");
	imap_cmd_ok(cmd, "Begin TLS negotiation now");
	/* What the client learned before TLS is void (RFC 9051 6.2.1). */
	s->enabled = 0;
	if (imap_session_start_tls(s) < 0) {
		log_error("sess=%s ip=%s STARTTLS set-up failed", s->id, s->peer);
		imap_session_close(s);
	}
	return IMAP_CMD_DONE;
}

/* RFC 9051 6.2.3: LOGIN userid password */
enum imap_cmd_status
cmd_login(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->session;
	struct imap_auth *auth;
	const char *user, *pass;

	if (cmd->argc != 2 || !imap_arg_is_astring(&cmd->args[0]) ||
	    !imap_arg_is_astring(&cmd->args[1]))
		return imap_cmd_bad(cmd, "LOGIN needs a user name and a password");
	if (!imap_session_plaintext_ok(s))
		return imap_cmd_no(cmd, "PRIVACYREQUIRED",
				   "Plaintext login is disabled; use STARTTLS");
	user = imap_arg_str(&cmd->args[0]);
	pass = imap_arg_str(&cmd->args[1]);
	if (user == NULL || pass == NULL || user[0] == '\0')
		return imap_cmd_bad(cmd, "Invalid user name or password");
	auth = auth_begin(cmd, "PLAIN");
	if (auth == NULL)
		return IMAP_CMD_DONE;
	snprintf(auth->mech, sizeof(auth->mech), "LOGIN-command");
	/* RFC 4616 message: [authzid] NUL authcid NUL passwd */
	if (buf_append_byte(&auth->in, 0) < 0 ||
	    buf_append_str(&auth->in, user) < 0 ||
	    buf_append_byte(&auth->in, 0) < 0 ||
	    buf_append_str(&auth->in, pass) < 0) {
		imap_auth_abort(s);
		return imap_cmd_bad(cmd, "User name or password too long");
	}
	auth->has_input = true;
	auth_step(auth);
	return IMAP_CMD_ASYNC;
}

/* RFC 9051 6.2.2: AUTHENTICATE mechanism [initial-response] (RFC 4959) */
enum imap_cmd_status
cmd_authenticate(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->session;
	struct imap_auth *auth;
	const char *mech;

	if (cmd->argc < 1 || cmd->argc > 2 || cmd->args[0].type != IMAP_ARG_ATOM)
		return imap_cmd_bad(cmd, "AUTHENTICATE needs a mechanism name");
	if (cmd->argc == 2 && cmd->args[1].type != IMAP_ARG_ATOM)
		return imap_cmd_bad(cmd, "Invalid initial response");
	mech = (const char *)cmd->args[0].data;
	if (!sasl_mechanism_supported(mech) ||
	    !mechanism_enabled(s->server->conf, mech))
		return imap_cmd_no(cmd, "CANNOT", "Unsupported authentication mechanism");
	if ((strcasecmp(mech, "PLAIN") == 0 || strcasecmp(mech, "LOGIN") == 0) &&
	    !imap_session_plaintext_ok(s))
		return imap_cmd_no(cmd, "PRIVACYREQUIRED",
				   "Plaintext authentication is disabled; use STARTTLS");
	auth = auth_begin(cmd, mech);
	if (auth == NULL)
		return IMAP_CMD_DONE;
	for (size_t i = 0; auth->mech[i] != '\0'; i++) {
		if (auth->mech[i] >= 'a' && auth->mech[i] <= 'z')
			auth->mech[i] = (char)(auth->mech[i] - 'a' + 'A');
	}
	if (cmd->argc == 2) {
		const struct imap_arg *ir = &cmd->args[1];

		/* RFC 4959 3: "=" is an empty initial response. */
		if (!(ir->len == 1 && ir->data[0] == '=') &&
		    base64_decode(&auth->in, ir->data, ir->len) < 0) {
			imap_auth_abort(s);
			return imap_cmd_bad(cmd, "Invalid base64 in initial response");
		}
		auth->has_input = true;
	}
	auth_step(auth);
	return IMAP_CMD_ASYNC;
}

void
imap_auth_line(struct imap_session *s, const uint8_t *line, size_t len)
{
	struct imap_auth *auth = s->auth;

	/* The command's arena still holds the tag; the line is in the
	 * framer, which we release once decoded. */
	s->busy = true;
	if (len == 1 && line[0] == '*') {
		imap_framer_reset(&s->framer);
		auth_finish(s, "BAD", "Authentication cancelled");
		return;
	}
	if (auth->final_sent) {
		imap_framer_reset(&s->framer);
		if (len != 0) {
			auth_finish(s, "BAD",
				    "Expected an empty response after the server's final message");
			return;
		}
		auth_succeeded(auth);
		return;
	}
	buf_clear(&auth->in);
	if (base64_decode(&auth->in, line, len) < 0) {
		OPENSSL_cleanse((void *)line, len);
		imap_framer_reset(&s->framer);
		auth_finish(s, "BAD", "Invalid base64 in authentication response");
		return;
	}
	OPENSSL_cleanse((void *)line, len);
	imap_framer_reset(&s->framer);
	auth->has_input = true;
	auth_step(auth);
}
