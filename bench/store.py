#!/usr/bin/python3
"""Mail-store benchmark: Satchel against Dovecot 2.3, both on Maildir.

Both servers get the same users and the same messages in one run: Satchel
its own Maildir + SQLite index (<data_dir>/users/NAME/Maildir), Dovecot
`mail_location = maildir:~/Maildir` with its default index files and its
default `mail_fsync = optimized`.  The bulk mailboxes (100,000 and 1,000
messages, about 2 KB each) are written once as files and hard-linked into
each server's Maildir cur/ before the server starts; each server indexes
them on a first, untimed SELECT.  One server runs at a time.  Measured
(wall time from sending the command to reading its tagged OK, all output
read):

  * APPEND of 10,000 messages into an empty INBOX, pipelined with LITERAL+
    from one connection;
  * SELECT of the 100,000-message INBOX, cold (server restarted, page cache
    dropped; five times, median) and warm (SELECT again on the same
    connection; five rounds a second apart), with NOOP's round trip in the
    same rounds and that of bench/floor.c, a server that answers OK to
    every line and does nothing else: the client's and the loopback's part
    of every round trip, which no server goes below;
  * UID FETCH 1:* (FLAGS); STORE 1:* +FLAGS (\\Seen) (a FETCH reply per
    message), then -FLAGS.SILENT, +FLAGS.SILENT, -FLAGS.SILENT;
  * COPY 1:10000 to another mailbox;
  * STATUS (MESSAGES UNSEEN UIDNEXT) on 100 mailboxes of 5 messages each,
    one after the other on one connection;
  * memory per idle SELECTED connection: 1,000 connections of one user,
    each SELECT INBOX (1,000 messages); sum of PSS over the server's process
    tree minus the same before the first connection, divided by 1,000;
  * IDLE notification latency: the same 1,000 connections IDLE; another
    connection APPENDs one message, 50 times; for each event, the time
    from the writer's tagged OK to each session's "* N EXISTS".

Prints a Markdown table (also written to bench/results/store-latest.md).
Must run as root (Dovecot's master, drop_caches).  Stops only processes it
started, by PID.  Reuses the helpers of bench/run.py.
"""
import argparse
import json
import os
import re
import selectors
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as base  # noqa: E402  (bench/run.py: /proc helpers, Server)

ROOT = base.ROOT
PASSWORD = base.PASSWORD
MAIL_UID, MAIL_GID = base.MAIL_UID, base.MAIL_GID
log = base.log

# Users: one per workload, so that no measurement disturbs another.
U_APPEND, U_BIG, U_BOXES, U_IDLE = "u0", "u1", "u2", "u3"
USERS = [U_APPEND, U_BIG, U_BOXES, U_IDLE]
COPY_TARGET = "CopyTarget"
INOTIFY_INSTANCES = "/proc/sys/fs/inotify/max_user_instances"


class ImapError(RuntimeError):
    pass


# ---- messages ----

WORDS = (b"alpha bravo charlie delta echo foxtrot golf hotel india juliet "
         b"kilo lima mike november oscar papa quebec romeo sierra tango "
         b"uniform victor whiskey xray yankee zulu").split()


def message(i, size=2048):
    """A deterministic RFC 5322 message of about `size` bytes, CRLF lines."""
    hdr = (b"Return-Path: <sender%d@example.org>\r\n"
           b"Message-ID: <bench-%d@satchel.example>\r\n"
           b"Date: Mon, 06 Jan 2025 %02d:%02d:%02d +0000\r\n"
           b"From: Sender %d <sender%d@example.org>\r\n"
           b"To: Bench User <bench@example.org>\r\n"
           b"Subject: benchmark message %d about %s\r\n"
           b"MIME-Version: 1.0\r\n"
           b"Content-Type: text/plain; charset=us-ascii\r\n\r\n"
           % (i % 97, i, (i // 3600) % 24, (i // 60) % 60, i % 60, i % 97,
              i % 97, i, WORDS[i % len(WORDS)]))
    body, k = [], i
    n = len(hdr)
    while n < size - 80:
        words = []
        for _ in range(10):
            k = (k * 1103515245 + 12345) & 0x7fffffff
            words.append(WORDS[k % len(WORDS)])
        line = b" ".join(words) + b"\r\n"
        body.append(line)
        n += len(line)
    return hdr + b"".join(body)


def maildir_name(i, size, flags=""):
    # Dovecot's fields: S= (physical size) and W= (size with CRLF): the
    # files already use CRLF, so both are the file size.
    return "%d.M%dP%d.bench,S=%d,W=%d:2,%s" % (1700000000 + i, i, os.getpid(),
                                             size, size, flags)


def write_pool(pool, count, seed):
    """count message files under pool/cur; returns their names."""
    cur = os.path.join(pool, "cur")
    os.makedirs(cur, exist_ok=True)
    names = []
    for i in range(count):
        data = message(seed + i)
        name = maildir_name(seed + i, len(data))
        with open(os.path.join(cur, name), "wb") as f:
            f.write(data)
        names.append(name)
    for name in names:
        os.chown(os.path.join(cur, name), MAIL_UID, MAIL_GID)
    return names


def deliver(pool, names, maildir, uid):
    """Hard-link the pool's files into maildir/cur (new, tmp empty)."""
    for sub in ("", "cur", "new", "tmp"):
        p = os.path.join(maildir, sub)
        os.makedirs(p, exist_ok=True)
        os.chmod(p, 0o700)
        os.chown(p, uid, uid)
    src, dst = os.path.join(pool, "cur"), os.path.join(maildir, "cur")
    for name in names:
        os.link(os.path.join(src, name), os.path.join(dst, name))


# ---- a blocking IMAP client for the timed commands ----

class Client:
    def __init__(self, port, timeout=600.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        # recv into one buffer: a fresh 1 MB object per recv (and big
        # copies of the replies) cost this client more page faults than
        # the server spends on a FETCH of 100,000 messages
        self.rbuf = bytearray(1 << 20)
        self.rview = memoryview(self.rbuf)
        self.n = 0
        self.greeting = self._line()

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return line
            self._recv()

    def _recv(self):
        n = self.sock.recv_into(self.rbuf)
        if n == 0:
            raise ImapError("connection closed by the server")
        self.buf += self.rview[:n]

    def tag(self):
        self.n += 1
        return b"T%d" % self.n

    def _read_tagged(self, tag, sink, deadline=None):
        """Read through tag's completion, handing the untagged bytes to
        sink(bytes) as they come (all but what could still be the start of
        the tagged line), so a big reply is never held whole.  Returns the
        status line.  Our responses carry no literals that could hold a
        "\r\nTAG " of their own (flags, counts, mailbox names)."""
        start, term = tag + b" ", b"\r\n" + tag + b" "
        passed = False  # untagged bytes went to sink: no tag at buf[0]
        while True:
            i = -2 if not passed and self.buf.startswith(start) \
                else self.buf.find(term)
            if i != -1:
                j = self.buf.find(b"\r\n", i + 2)
                if j >= 0:
                    if i > 0:
                        sink(bytes(self.buf[:i]))
                    status = bytes(self.buf[i + 2:j])
                    del self.buf[:j + 2]
                    return status
            else:
                d = len(self.buf) - len(term)
                if d > 0:
                    sink(bytes(self.buf[:d]))
                    del self.buf[:d]
                    passed = True
            if deadline is not None and time.monotonic() > deadline:
                raise ImapError("no reply to %s within the time limit" % tag.decode())
            self._recv()

    def _cmd(self, line, sink, ok, timeout):
        """Send `line`, its untagged reply to sink (see _read_tagged);
        returns (seconds to the tagged reply, status)."""
        tag = self.tag()
        t0 = time.monotonic()
        self.sock.sendall(tag + b" " + line + b"\r\n")
        status = self._read_tagged(
            tag, sink, None if timeout is None else t0 + timeout)
        dt = time.monotonic() - t0
        if ok and not status.startswith(tag + b" OK"):
            raise ImapError("%s -> %s" % (line[:60].decode(errors="replace"),
                                          status.decode(errors="replace")))
        return dt, status

    def cmd(self, line, ok=True, timeout=None):
        """Send `line`; returns (seconds to tagged reply, status, untagged)."""
        parts = []
        dt, status = self._cmd(line, parts.append, ok, timeout)
        return dt, status, b"".join(parts)

    def cmd_count(self, line, needle, timeout=None):
        """cmd() for big replies: keeps none of the untagged bytes, only
        how often needle occurs in them and their length.  Returns
        (seconds to the tagged reply, status, count, untagged bytes)."""
        k = len(needle) - 1
        st = {"count": 0, "bytes": 0, "carry": b""}

        def sink(chunk):
            # the carry (shorter than needle) holds no whole needle: only
            # the ones split across two chunks are found by joining
            data = st["carry"] + chunk
            st["count"] += data.count(needle)
            st["carry"] = data[max(0, len(data) - k):] if k else b""
            st["bytes"] += len(chunk)
        dt, status = self._cmd(line, sink, True, timeout)
        return dt, status, st["count"], st["bytes"]

    def login(self, user):
        return self.cmd(b"LOGIN %s %s" % (user.encode(), PASSWORD.encode()))[0]

    def pipeline(self, items, deadline):
        """Send every (line, literal-or-None) with LITERAL+ from a writer
        thread while reading the replies here.  Returns (seconds from the
        first byte sent to the last tagged reply, list of status lines)."""
        tags = [self.tag() for _ in items]
        err = []

        def writer():
            try:
                chunk = bytearray()
                for tag, (line, lit) in zip(tags, items):
                    chunk += tag + b" " + line
                    if lit is not None:
                        chunk += b" {%d+}\r\n" % len(lit) + lit
                    chunk += b"\r\n"
                    if len(chunk) > 256 * 1024:
                        self.sock.sendall(chunk)
                        chunk = bytearray()
                if chunk:
                    self.sock.sendall(chunk)
            except OSError as e:
                err.append(e)

        t0 = time.monotonic()
        th = threading.Thread(target=writer, daemon=True)
        th.start()
        statuses = []
        try:
            for tag in tags:
                status = self._read_tagged(tag, lambda _: None, deadline)
                statuses.append(status)
        finally:
            th.join(30)
        dt = time.monotonic() - t0
        if err:
            raise ImapError("pipeline writer: %s" % err[0])
        return dt, statuses

    def close(self):
        try:
            self.sock.settimeout(5)
            self.sock.sendall(b"Z LOGOUT\r\n")
            end = time.monotonic() + 5
            while time.monotonic() < end:
                if not self.sock.recv(65536):
                    break
        except OSError:
            pass
        self.sock.close()


def exists_of(untagged):
    m = re.findall(rb"\* (\d+) EXISTS", untagged)
    return int(m[-1]) if m else None


# ---- many connections in one selector loop (idle memory, IDLE latency) ----

class Sess:
    __slots__ = ("sock", "rbuf", "state", "max_exists", "t_state", "writer")

    def __init__(self, sock, writer=False):
        self.sock = sock
        self.rbuf = bytearray()
        self.state = "connect"
        self.max_exists = 0
        self.t_state = time.monotonic()
        self.writer = writer


class Swarm:
    """N sessions of one user: connect, LOGIN, SELECT INBOX, then hold;
    later IDLE.  Lines are timestamped when the recv() returns."""

    def __init__(self, port, user, n, setup_conc, setup_seconds):
        self.port, self.user, self.n = port, user, n
        self.setup_conc, self.setup_seconds = setup_conc, setup_seconds
        self.sel = selectors.DefaultSelector()
        self.sessions = []
        self.errors = []
        self.on_exists = None   # callback(sess, count, t) while idling
        self.writer = None
        self.writer_reply = None  # (t, status line) of the writer's last reply

    def _open(self, writer=False):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.connect_ex(("127.0.0.1", self.port))
        sess = Sess(s, writer)
        self.sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, sess)
        return sess

    def _send(self, sess, data):
        # Commands are small; loopback socket buffers take them at once.
        sess.sock.setblocking(True)
        sess.sock.settimeout(30)
        try:
            sess.sock.sendall(data)
        finally:
            sess.sock.setblocking(False)

    def _fail(self, sess, why):
        if len(self.errors) < 20:
            self.errors.append(why)
        sess.state = "failed"
        try:
            self.sel.unregister(sess.sock)
        except (KeyError, ValueError):
            pass
        sess.sock.close()

    def _line(self, sess, line, t):
        st = sess.state
        if st == "greeting":
            if not line.startswith(b"* OK"):
                return self._fail(sess, "greeting: %r" % line[:80])
            self._send(sess, b"a LOGIN %s %s\r\n" % (self.user.encode(),
                                                    PASSWORD.encode()))
            sess.state = "login"
        elif st == "login":
            if line.startswith(b"a "):
                if not line.startswith(b"a OK"):
                    return self._fail(sess, "login: %r" % line[:80])
                if sess.writer:
                    sess.state = "writer"
                    return
                self._send(sess, b"b SELECT INBOX\r\n")
                sess.state = "select"
        elif st == "select":
            m = re.match(rb"\* (\d+) EXISTS", line)
            if m:
                sess.max_exists = int(m.group(1))
            elif line.startswith(b"b "):
                if not line.startswith(b"b OK"):
                    return self._fail(sess, "select: %r" % line[:80])
                sess.state = "selected"
        elif st == "idle-start":
            if line.startswith(b"+"):
                sess.state = "idling"
            elif line.startswith(b"c "):
                return self._fail(sess, "idle: %r" % line[:80])
        elif st == "idling":
            m = re.match(rb"\* (\d+) EXISTS", line)
            if m:
                v = int(m.group(1))
                if v > sess.max_exists:
                    if self.on_exists is not None:
                        self.on_exists(sess, v, t)
                    sess.max_exists = v
        elif st == "done":
            if line.startswith(b"c "):
                sess.state = "closed-ok"
        elif st == "writer":
            if line.startswith(b"w"):
                self.writer_reply = (t, line)

    def pump(self, timeout):
        for key, mask in self.sel.select(timeout):
            sess = key.data
            if sess.state == "connect":
                err = sess.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    self._fail(sess, "connect: %s" % os.strerror(err))
                    continue
                self.sel.modify(sess.sock, selectors.EVENT_READ, sess)
                sess.state = "greeting"
                continue
            if not mask & selectors.EVENT_READ:
                continue
            try:
                data = sess.sock.recv(262144)
            except BlockingIOError:
                continue
            except OSError as e:
                self._fail(sess, "recv: %s" % e)
                continue
            t = time.monotonic()
            if not data:
                self._fail(sess, "closed by the server in state %s" % sess.state)
                continue
            sess.rbuf += data
            while sess.state != "failed":
                i = sess.rbuf.find(b"\r\n")
                if i < 0:
                    break
                line = bytes(sess.rbuf[:i])
                del sess.rbuf[:i + 2]
                self._line(sess, line, t)

    def count(self, *states):
        return sum(1 for s in self.sessions if s.state in states)

    def setup(self):
        """Open all sessions (at most setup_conc logging in at once);
        returns the number SELECTed."""
        deadline = time.monotonic() + self.setup_seconds
        started = 0
        last_log = time.monotonic()
        while time.monotonic() < deadline:
            busy = self.count("connect", "greeting", "login", "select")
            while started < self.n and busy < self.setup_conc:
                self.sessions.append(self._open())
                started += 1
                busy += 1
            if busy == 0 and started >= self.n:
                break
            self.pump(0.2)
            if time.monotonic() - last_log > 15:
                last_log = time.monotonic()
                log("  %d of %d sessions selected" % (self.count("selected"), self.n))
        return self.count("selected")

    def open_writer(self, deadline):
        self.writer = self._open(writer=True)
        while self.writer.state != "writer" and time.monotonic() < deadline:
            if self.writer.state == "failed":
                raise ImapError("writer: %s" % self.errors[-1])
            self.pump(0.1)
        if self.writer.state != "writer":
            raise ImapError("writer did not log in")

    def idle_all(self, deadline):
        for s in self.sessions:
            if s.state == "selected":
                self._send(s, b"c IDLE\r\n")
                s.state = "idle-start"
        while self.count("idle-start") and time.monotonic() < deadline:
            self.pump(0.1)
        return self.count("idling")

    def writer_cmd(self, line, literal, deadline):
        """Send one command on the writer; returns (t of the reply, status)."""
        self.writer_reply = None
        data = b"w " + line
        if literal is not None:
            data += b" {%d+}\r\n" % len(literal) + literal
        self._send(self.writer, data + b"\r\n")
        while self.writer_reply is None and time.monotonic() < deadline:
            if self.writer.state == "failed":
                raise ImapError("writer failed: %s" % self.errors[-1])
            self.pump(0.05)
        if self.writer_reply is None:
            raise ImapError("writer: no reply")
        return self.writer_reply

    def done_all(self, deadline):
        for s in self.sessions:
            if s.state == "idling":
                self._send(s, b"DONE\r\n")
                s.state = "done"
        while self.count("done") and time.monotonic() < deadline:
            self.pump(0.1)

    def close(self):
        for s in self.sessions + ([self.writer] if self.writer else []):
            if s.state != "failed":
                try:
                    self.sel.unregister(s.sock)
                except (KeyError, ValueError):
                    pass
                s.sock.close()
        self.sel.close()


# ---- servers ----

class Satchel(base.Server):
    name = "Satchel"
    bad_line = base.Satchel.bad_line

    def __init__(self, tmp, binary, passwd, cert, key):
        super().__init__(tmp)
        self.binary = binary
        self.conf = os.path.join(tmp, "satchel.conf")
        self.log_path = os.path.join(tmp, "satchel.log")
        self.data = os.path.join(tmp, "data")
        with open(self.conf, "w") as f:
            f.write(
                "[server]\nuser =\ndata_dir = %s\nworkers = 2\nlog_level = warn\n"
                "max_connections = 100000\n"
                "[imap]\nlisten = 127.0.0.1:%d\nlisten_tls = 127.0.0.1:%d\n"
                "timeout_preauth = 300\ntimeout_auth = 3600\n"
                "[tls]\ncert = %s\nkey = %s\n"
                "[auth]\npasswd_file = %s\nallow_plaintext = yes\n"
                "allow_plain_scheme = yes\nfailure_delay_ms = 0\n"
                "ip_failure_limit = 1000000\nuser_failure_limit = 1000000\n"
                % (self.data, self.port, self.tls_port, cert, key, passwd))

    def argv(self):
        return [self.binary, "serve", "-c", self.conf]

    def maildir(self, user):
        return os.path.join(self.data, "users", user, "Maildir")

    def prepare_home(self, user):
        os.makedirs(os.path.join(self.data, "users", user), exist_ok=True)

    file_uid = 0


class Dovecot(base.Server):
    name = "Dovecot"
    bad_line = base.Dovecot.bad_line

    def __init__(self, tmp, binary, passwd, cert, key, max_conns):
        super().__init__(tmp)
        self.binary = binary
        self.conf = os.path.join(tmp, "dovecot.conf")
        self.log_path = os.path.join(tmp, "dovecot.log")
        self.homes = os.path.join(tmp, "home")
        os.makedirs(self.homes)
        os.chmod(self.homes, 0o755)
        procs = max_conns + 1000
        ncpu = os.cpu_count() or 2
        with open(self.conf, "w") as f:
            f.write("""# Generated by satchel bench/store.py; not the system's /etc/dovecot.
base_dir = {tmp}/run
state_dir = {tmp}/state
instance_name = satchel-bench-store-dovecot
protocols = imap
listen = 127.0.0.1
log_path = {tmp}/dovecot.log
info_log_path = /dev/null
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = no
auth_mechanisms = plain login
# The mail settings are Dovecot's defaults (mail_fsync = optimized, index
# files next to the Maildir) but for the location itself.
mail_location = maildir:~/Maildir
first_valid_uid = {uid}
passdb {{
  driver = passwd-file
  args = {passwd}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={homes}/%u
}}
default_client_limit = {clients}
default_vsz_limit = 1G
# Login: Dovecot's high-performance mode (as run.py's "tuned" Dovecot),
# only so that 1,000 connections open in reasonable time; a logged-in
# plaintext connection lives in its own imap process either way.
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
  process_limit = {procs}
  service_count = 0
  process_min_avail = {ncpu}
}}
service imap {{
  process_limit = {procs}
  process_min_avail = {ncpu}
}}
protocol imap {{
  mail_max_userip_connections = {procs}
}}
""".format(tmp=tmp, cert=cert, key=key, homes=self.homes, uid=MAIL_UID,
           gid=MAIL_GID, passwd=passwd, clients=4 * procs, procs=procs,
           port=self.port, tls_port=self.tls_port, ncpu=ncpu))

    def argv(self):
        return [self.binary, "-F", "-c", self.conf]

    def maildir(self, user):
        return os.path.join(self.homes, user, "Maildir")

    def prepare_home(self, user):
        h = os.path.join(self.homes, user)
        os.makedirs(h, exist_ok=True)
        os.chmod(h, 0o700)
        os.chown(h, MAIL_UID, MAIL_GID)

    file_uid = MAIL_UID


# ---- measurements ----

def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def cpu_of(srv):
    return base.tree_cpu_s(srv.proc.pid)


class Meter:
    """Server CPU seconds and PSS around one measurement."""

    def __init__(self, srv):
        self.srv = srv

    def __enter__(self):
        self.c0 = cpu_of(self.srv)
        return self

    def __exit__(self, *exc):
        self.cpu = cpu_of(self.srv) - self.c0
        return False


def median(v):
    return statistics.median(v) if v else None


def pct(v, p):
    if not v:
        return None
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p / 100.0))]


def check_alive(srv):
    if srv.proc is None or srv.proc.poll() is not None:
        raise RuntimeError("%s is not running (exit status %s)" % (
            srv.name, None if srv.proc is None else srv.proc.returncode))


def note_pss(r, srv, label):
    kb, n = base.tree_pss_kb(srv.proc.pid)
    r.setdefault("pss", []).append((label, kb, n))


def bench_append(args, srv, r):
    c = Client(srv.port)
    try:
        c.login(U_APPEND)
        c.cmd(b"SELECT INBOX")  # untimed: creates the index state
        c.cmd(b"UNSELECT")
        items = [(b"APPEND INBOX", message(5000000 + i)) for i in range(args.append)]
        log("%s: APPEND %d messages, LITERAL+ pipelined" % (srv.name, args.append))
        with Meter(srv) as m:
            dt, statuses = c.pipeline(items, time.monotonic() + args.append_seconds)
        bad = [s for s in statuses if b" OK" not in s[:12]]
        r["append_s"] = dt
        r["append_cpu"] = m.cpu
        r["append_errors"] = len(bad)
        if bad:
            r["problems"].append("APPEND: %d replies not OK, first %r" % (
                len(bad), bad[0][:120]))
        _, _, u = c.cmd(b"SELECT INBOX")
        r["append_exists"] = exists_of(u)
        log("%s: APPEND %.2f s (%.0f/s), %d not OK, INBOX now %s messages, "
            "server CPU %.1f s" % (srv.name, dt, args.append / dt, len(bad),
                                   r["append_exists"], m.cpu))
    finally:
        c.close()


def first_select(srv, user, expect, r, label):
    """Untimed: the server indexes the Maildir placed on disk."""
    c = Client(srv.port, timeout=1200)
    try:
        t0 = time.monotonic()
        c.login(user)
        _, _, u = c.cmd(b"SELECT INBOX")
        n = exists_of(u)
        r["import_s_" + label] = time.monotonic() - t0
        log("%s: first (untimed) login+SELECT of %s: %s messages in %.1f s"
            % (srv.name, user, n, r["import_s_" + label]))
        if n != expect:
            raise RuntimeError("%s sees %s messages in %s's INBOX, expected %d "
                               "(files placed in Maildir/cur not picked up)"
                               % (srv.name, n, user, expect))
    finally:
        c.close()


def bench_side_by_side(args, servers, res):
    """Warm SELECT and NOOP with both servers running and their rounds
    interleaved (bench/rtt.c --port2): each round of one is next to a round
    of the other, so a slow minute of the VM hits both.  The servers idle
    otherwise; each is started again on the data of its own run."""
    if not os.access(args.rtt, os.X_OK):
        return
    S, D = servers["Satchel"], servers["Dovecot"]
    try:
        S.start()
        D.start()
        time.sleep(1.0)
        argv = [args.rtt, "--port", str(S.port), "--port2", str(D.port),
                "--login", U_BIG, PASSWORD, "--reps", str(args.select_reps),
                "--pause-ms", "1000"]
        # a first round to wake both (Dovecot starts an imap process, both
        # read their index back), not counted
        subprocess.run(argv + ["--rounds", "1", "SELECT INBOX", "NOOP"],
                       capture_output=True, timeout=60, check=True)
        d = run_rtt(args, argv + ["--rounds", str(2 * args.select_rounds),
                                  "SELECT INBOX", "NOOP"],
                    60 + 4 * args.select_rounds)
        floor = d.get("floor", [])
        for name, prefix in (("Satchel", ""), ("Dovecot", "2:")):
            r = res[name]
            r["sbs_select"] = d[prefix + "SELECT INBOX"]
            r["sbs_noop"] = d[prefix + "NOOP"]
            if floor:
                r["sbs_floor"] = floor
                r["sbs_select_above_floor"] = median(r["sbs_select"]) - median(floor)
        log("side by side: SELECT %.3f vs %.3f ms, NOOP %.3f vs %.3f ms, floor %s"
            % (median(res["Satchel"]["sbs_select"]) * 1e3,
               median(res["Dovecot"]["sbs_select"]) * 1e3,
               median(res["Satchel"]["sbs_noop"]) * 1e3,
               median(res["Dovecot"]["sbs_noop"]) * 1e3,
               "%.3f ms" % (median(floor) * 1e3) if floor else "n/a"))
    finally:
        for srv in (S, D):
            if srv.proc is not None:
                srv.stop()


def start_floor(args):
    """bench/floor.c on a free port: (process, port), or (None, None) when
    it is not built or doesn't come up."""
    if not os.access(args.floor, os.X_OK):
        log("no %s: the floor rows are left out" % args.floor)
        return None, None
    port = base.free_port()
    proc = subprocess.Popen([args.floor, str(port), "1"], stdout=subprocess.PIPE)
    if proc.stdout.readline().strip() != b"ready":
        return proc, None
    return proc, port


def stop_floor(proc):
    if proc is not None:
        proc.kill()
        proc.wait(10)


def run_rtt(args, argv, timeout):
    """bench/rtt.c with argv (commands last), the floor beside it; its JSON
    with every round trip in seconds."""
    proc, port = start_floor(args)
    try:
        if port is not None:
            argv = argv[:1] + ["--floor-port", str(port)] + argv[1:]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        if out.returncode != 0:
            raise RuntimeError("satchel-rtt: %s" % out.stderr.strip())
        return {k: [x / 1e6 for x in v] for k, v in json.loads(out.stdout).items()}
    finally:
        stop_floor(proc)


def rtt_rounds(args, srv):
    """Warm SELECT, NOOP and floor round trips (seconds) from bench/rtt.c
    on a connection of its own, with bench/floor.c beside it."""
    d = run_rtt(args, [args.rtt, "--port", str(srv.port), "--login", U_BIG,
                       PASSWORD, "--rounds", str(args.select_rounds),
                       "--reps", str(args.select_reps), "--pause-ms", "1000",
                       "SELECT INBOX", "NOOP"], 60 + 2 * args.select_rounds)
    return d["SELECT INBOX"], d["NOOP"], d.get("floor", [])


class Floor:
    """bench/floor.c, a server that answers every line with OK and does
    nothing else, and one connection to it: NOOP round trips there are
    the client's and the loopback's part of every round trip.  Without
    the binary, noops() returns nothing and the floor rows say n/a."""

    def __init__(self, args):
        self.c = None
        self.proc, port = start_floor(args)
        if port is not None:
            self.c = Client(port, timeout=10)

    def noops(self, n):
        if self.c is None:
            return []
        return [self.c.cmd(b"NOOP")[0] for _ in range(n)]

    def close(self):
        if self.c is not None:
            self.c.sock.close()
        stop_floor(self.proc)


def bench_big(args, srv, r):
    N = args.big
    # cold SELECT: restart the server, drop the page cache; several times,
    # as one disk-bound sample is noisy
    c = None
    r["cold_login"], r["select_cold"], r["select_cold_cpu"] = [], [], 0.0
    for i in range(args.cold_reps):
        if c is not None:
            c.close()
        srv.stop()
        drop_caches()
        srv.start()
        time.sleep(1.0)
        drop_caches()
        c = Client(srv.port)
        r["cold_login"].append(c.login(U_BIG))
        with Meter(srv) as m:
            dt, _, u = c.cmd(b"SELECT INBOX")
        r["select_cold"].append(dt)
        r["select_cold_cpu"] += m.cpu / args.cold_reps
        if exists_of(u) != N:
            raise RuntimeError("cold SELECT: %s EXISTS, expected %d" % (exists_of(u), N))
    try:
        # warm SELECT, and NOOP's round trip: the client's and the
        # loopback's share of it, which no server can go below
        # In rounds, SELECT, NOOP and the floor side by side, a second
        # apart: the VM's round trip swings by a factor of three from one
        # minute to the next, and each round's three see the same one.
        warm, noop, floor = [], [], []
        n_warm = args.select_reps * args.select_rounds
        if os.access(args.rtt, os.X_OK):
            # timed in C (bench/rtt.c): a Python client adds microseconds
            # of its own to each round trip
            with Meter(srv) as m:
                warm, noop, floor = rtt_rounds(args, srv)
            r["timed_by"] = "bench/rtt.c"
            cpu = m.cpu / 2
        else:
            log("no %s: warm round trips timed from Python" % args.rtt)
            r["timed_by"] = "Python"
            fl = Floor(args)
            try:
                cpu = 0.0
                for rnd in range(args.select_rounds):
                    with Meter(srv) as m:
                        for _ in range(args.select_reps):
                            dt, _, u = c.cmd(b"SELECT INBOX")
                            warm.append(dt)
                    cpu += m.cpu
                    for _ in range(args.select_reps):
                        noop.append(c.cmd(b"NOOP")[0])
                    floor += fl.noops(args.select_reps)
                    if rnd + 1 < args.select_rounds:
                        time.sleep(1.0)
            finally:
                fl.close()
        r["select_warm"], r["select_warm_cpu"] = warm, cpu / n_warm
        r["noop"] = noop
        r["select_above_noop"] = median(warm) - median(noop)
        if floor:
            r["floor"] = floor
            r["select_above_floor"] = median(warm) - median(floor)
            r["noop_above_floor"] = median(noop) - median(floor)
        log("%s: SELECT %d cold %s ms (login before it %s ms), warm %s ms, "
            "NOOP %.3f ms" % (srv.name, N,
                            ", ".join("%.1f" % (x * 1e3) for x in r["select_cold"]),
                            ", ".join("%.1f" % (x * 1e3) for x in r["cold_login"]),
                            ", ".join("%.2f" % (w * 1e3) for w in warm),
                            median(noop) * 1e3))

        fetch = []
        with Meter(srv) as m:
            for _ in range(args.reps):
                dt, _, nf, nbytes = c.cmd_count(b"UID FETCH 1:* (FLAGS)",
                                                b" FETCH (")
                fetch.append(dt)
                if nf != N:
                    raise RuntimeError("UID FETCH 1:* gave %d FETCH lines, "
                                       "expected %d" % (nf, N))
        r["fetch"], r["fetch_cpu"] = fetch, m.cpu / args.reps
        r["fetch_bytes"] = nbytes
        log("%s: UID FETCH 1:* (FLAGS) %s ms, %d bytes" % (
            srv.name, ", ".join("%.0f" % (x * 1e3) for x in fetch), len(u)))

        # The command (+FLAGS, not silent: 100,000 FETCH replies),
        # then the silent forms.  After each, the time until every file
        # name in cur/ carries the change (Satchel renames behind the OK;
        # Dovecot before it), and a pause so one STORE's background work
        # doesn't land in the next one's time.
        cur = os.path.join(srv.maildir(U_BIG), "cur")
        for key, line, want in (
                ("store_add", b"STORE 1:* +FLAGS (\\Seen)", True),
                ("store_del", b"STORE 1:* -FLAGS.SILENT (\\Seen)", False),
                ("store_add_silent", b"STORE 1:* +FLAGS.SILENT (\\Seen)", True),
                ("store_del_silent", b"STORE 1:* -FLAGS.SILENT (\\Seen)", False)):
            with Meter(srv) as m:
                dt, _, untagged, _ = c.cmd_count(line, b"\r\n",
                                                 timeout=args.cmd_seconds)
                t_ok = time.monotonic()
                names_s = None
                for _ in range(int(args.cmd_seconds * 10)):
                    names = os.listdir(cur)
                    ok = sum(1 for x in names if "S" in x.rsplit(":2,", 1)[-1])
                    if (ok == len(names)) if want else (ok == 0):
                        names_s = time.monotonic() - t_ok
                        break
                    time.sleep(0.05)
            r[key], r[key + "_cpu"] = dt, m.cpu
            r[key + "_names_s"] = names_s
            if key == "store_del_silent":
                r["store_del_both"] = [r["store_del"], dt]
            r[key + "_untagged"] = untagged
            log("%s: %s %.0f ms, names follow after %s ms (server CPU %.1f s, "
                "%d untagged lines)" % (
                    srv.name, line.decode(), dt * 1e3,
                    "%.0f" % (names_s * 1e3) if names_s is not None else "never",
                    m.cpu, r[key + "_untagged"]))
            time.sleep(args.settle)
        # check: after +/-, nothing is \Seen
        r["seen_after_store"] = c.cmd_count(b"UID FETCH 1:* (FLAGS)",
                                            b"\\Seen")[2]

        c.cmd(b"CREATE " + COPY_TARGET.encode())
        with Meter(srv) as m:
            dt, status, _ = c.cmd(b"COPY 1:%d %s" % (args.copy, COPY_TARGET.encode()),
                                  timeout=args.cmd_seconds)
        r["copy_s"], r["copy_cpu"] = dt, m.cpu
        _, _, u = c.cmd(b"STATUS %s (MESSAGES)" % COPY_TARGET.encode())
        mm = re.search(rb"MESSAGES (\d+)", u)
        r["copy_count"] = int(mm.group(1)) if mm else None
        log("%s: COPY %d %.0f ms (server CPU %.1f s), target has %s" % (
            srv.name, args.copy, dt * 1e3, m.cpu, r["copy_count"]))
    finally:
        c.close()


def setup_boxes(args, srv):
    c = Client(srv.port)
    try:
        c.login(U_BOXES)
        names = [b"box%03d" % i for i in range(args.boxes)]
        dt, st = c.pipeline([(b"CREATE " + n, None) for n in names],
                            time.monotonic() + 300)
        bad = [s for s in st if b" OK" not in s[:12]]
        if bad:
            raise RuntimeError("CREATE: %r" % bad[0])
        items = []
        for bi, n in enumerate(names):
            for j in range(5):
                items.append((b"APPEND " + n + (b" (\\Seen)" if j < 3 else b""),
                              message(6000000 + bi * 5 + j)))
        dt2, st = c.pipeline(items, time.monotonic() + 600)
        bad = [s for s in st if b" OK" not in s[:12]]
        if bad:
            raise RuntimeError("APPEND: %r" % bad[0])
        log("%s: created %d mailboxes (%.1f s), %d messages (%.1f s)" % (
            srv.name, len(names), dt, len(items), dt2))
    finally:
        c.close()


def bench_status(args, srv, r):
    c = Client(srv.port)
    try:
        c.login(U_BOXES)
        passes = []
        with Meter(srv) as m:
            for p in range(args.reps):
                t0 = time.monotonic()
                for i in range(args.boxes):
                    _, _, u = c.cmd(b"STATUS box%03d (MESSAGES UNSEEN UIDNEXT)" % i)
                    if p == 0 and i == 0:
                        r["status_sample"] = u.decode(errors="replace").strip()
                    if not (b"MESSAGES 5" in u and b"UNSEEN 2" in u):
                        raise RuntimeError("STATUS box%03d: %r" % (i, u[:200]))
                passes.append(time.monotonic() - t0)
        r["status"], r["status_cpu"] = passes, m.cpu / args.reps
        log("%s: STATUS x %d: %s ms per pass" % (
            srv.name, args.boxes, ", ".join("%.0f" % (x * 1e3) for x in passes)))
    finally:
        c.close()


def bench_idle(args, srv, r):
    """Memory per SELECTED connection, then IDLE latency, same sessions."""
    time.sleep(2)
    base_kb, base_n = base.tree_pss_kb(srv.proc.pid)
    sw = Swarm(srv.port, U_IDLE, args.idle, 64, args.setup_seconds)
    try:
        t0 = time.monotonic()
        held = sw.setup()
        r["idle_setup_s"] = time.monotonic() - t0
        log("%s: %d of %d sessions SELECTed INBOX in %.1f s%s" % (
            srv.name, held, args.idle, r["idle_setup_s"],
            (" (first error: %s)" % sw.errors[0]) if sw.errors else ""))
        if held == 0:
            raise RuntimeError("no session could SELECT: %s" % sw.errors[:3])
        end = time.monotonic() + args.settle
        while time.monotonic() < end:
            sw.pump(0.2)
        kb, n = base.tree_pss_kb(srv.proc.pid)
        r["mem"] = {"held": held, "base_kb": base_kb, "base_procs": base_n,
                    "kb": kb, "procs": n, "per_conn": (kb - base_kb) / held}
        log("%s: PSS %d -> %d KB (%d -> %d processes): %.1f KB per selected "
            "connection" % (srv.name, base_kb, kb, base_n, n, r["mem"]["per_conn"]))

        # IDLE
        deadline = time.monotonic() + 120
        sw.open_writer(deadline)
        idling = sw.idle_all(deadline)
        log("%s: %d sessions in IDLE" % (srv.name, idling))
        if idling == 0:
            raise RuntimeError("no session entered IDLE: %s" % sw.errors[:3])
        idlers = [s for s in sw.sessions if s.state == "idling"]
        base_count = max(s.max_exists for s in idlers)
        if any(s.max_exists != base_count for s in idlers):
            log("%s: sessions disagree on EXISTS before the first event" % srv.name)
        recv = {}     # count -> list of receipt times

        def on_exists(sess, v, t):
            for cnt in range(sess.max_exists + 1, v + 1):
                recv.setdefault(cnt, []).append(t)
        sw.on_exists = on_exists
        t_ok, t_sent, writer_ms, missed_at_timeout, t_all = {}, {}, [], 0, []
        writer_stalled = None
        t_run = time.monotonic()
        cpu0 = cpu_of(srv)
        for k in range(1, args.events + 1):
            if time.monotonic() - t_run > args.idle_seconds:
                log("%s: IDLE time budget over after %d events" % (srv.name, k - 1))
                break
            cnt = base_count + k
            t_send = time.monotonic()
            try:
                t, status = sw.writer_cmd(b"APPEND INBOX", message(7000000 + k),
                                          time.monotonic() + 60)
            except ImapError as e:
                # A server that can't answer one APPEND in a minute under
                # this load: keep the events it did complete, and say so.
                log("%s: event %d: %s; the IDLE rows cover the %d events "
                    "before it" % (srv.name, k, e, k - 1))
                writer_stalled = k
                break
            if b"OK" not in status[:6]:
                raise RuntimeError("writer APPEND: %r" % status)
            t_ok[cnt], t_sent[cnt] = t, t_send
            writer_ms.append((t - t_send) * 1e3)
            end = t + args.event_timeout
            while len(recv.get(cnt, ())) < idling and time.monotonic() < end:
                sw.pump(0.05)
            got = recv.get(cnt, ())
            missed_at_timeout += idling - len(got)
            if len(got) >= idling:
                t_all.append((max(got) - t) * 1e3)
            if time.monotonic() - t > 2.0:
                log("%s: event %d: writer %.0f ms, %d of %d sessions notified "
                    "within %.1f s" % (srv.name, k, writer_ms[-1], len(got),
                                       idling, time.monotonic() - t))
            # a short gap so events don't merge
            end = time.monotonic() + args.event_gap
            while time.monotonic() < end:
                sw.pump(0.02)
        events_cpu = cpu_of(srv) - cpu0
        events_wall = time.monotonic() - t_run
        # stragglers: a short grace period, then count what never came
        end = time.monotonic() + min(5.0, args.event_timeout)
        while time.monotonic() < end and any(
                len(recv.get(c, ())) < idling for c in t_ok):
            sw.pump(0.05)
        lat, lat_sent = [], []
        for cnt, t in t_ok.items():
            lat += [(x - t) * 1e3 for x in recv.get(cnt, ())]
            lat_sent += [(x - t_sent[cnt]) * 1e3 for x in recv.get(cnt, ())]
        expected = idling * len(t_ok)
        r["idle"] = {"sessions": idling, "events": len(t_ok), "samples": len(lat),
                     "missing": expected - len(lat),
                     "late": missed_at_timeout,
                     "p50": pct(lat, 50), "p99": pct(lat, 99),
                     "sent_p50": pct(lat_sent, 50), "sent_p99": pct(lat_sent, 99),
                     "min": min(lat) if lat else None,
                     "max": max(lat) if lat else None,
                     "writer_ms_p50": median(writer_ms),
                     "writer_ms_max": max(writer_ms) if writer_ms else None,
                     "all_ms_p50": median(t_all),
                     "all_ms_max": max(t_all) if t_all else None,
                     "events_complete": len(t_all),
                     "writer_stalled_at": writer_stalled,
                     "cpu_per_event": events_cpu / max(1, len(t_ok)),
                     "events_wall": events_wall,
                     "errors": len(sw.errors)}
        log("%s: IDLE latency over %d samples: p50 %s ms, p99 %s ms, max %s ms, "
            "%d missing, writer APPEND p50 %.1f ms" % (
                srv.name, len(lat), fmt(r["idle"]["p50"], 1), fmt(r["idle"]["p99"], 1),
                fmt(r["idle"]["max"], 1), r["idle"]["missing"], median(writer_ms) or 0))
        sw.done_all(time.monotonic() + 60)
    finally:
        sw.close()


def bench_leak(args, srv, r):
    """Single-process servers only: open and close the sessions a few more
    times; PSS that keeps growing from cycle to cycle is a leak, a plateau
    is the allocator keeping freed memory."""
    out = []
    for i in range(args.leak_cycles):
        sw = Swarm(srv.port, U_IDLE, args.idle, 64, args.setup_seconds)
        try:
            held = sw.setup()
        finally:
            sw.close()
        time.sleep(2)
        kb, _ = base.tree_pss_kb(srv.proc.pid)
        out.append((held, kb))
        log("%s: open/close cycle %d: %d sessions, PSS after close %d KB" % (
            srv.name, i + 1, held, kb))
    r["leak"] = out


def fmt(v, nd=0):
    return "n/a" if v is None else "%.*f" % (nd, v)


def run_server(args, srv, pools, r):
    """The whole sequence against one server; failures are recorded."""
    steps = [
        ("append", lambda: bench_append(args, srv, r)),
        ("import", lambda: first_select(srv, U_BIG, args.big, r, "big")),
        ("big", lambda: bench_big(args, srv, r)),
        ("boxes", lambda: (setup_boxes(args, srv), bench_status(args, srv, r))),
        ("import-idle", lambda: first_select(srv, U_IDLE, args.idle_msgs, r, "idle")),
        ("idle", lambda: bench_idle(args, srv, r)),
    ]
    if srv.name == "Satchel" and args.leak_cycles > 0:
        # Dovecot's sessions are processes that exit: nothing accumulates.
        steps.append(("leak", lambda: bench_leak(args, srv, r)))
    for u in USERS:
        srv.prepare_home(u)
    deliver(pools["big"][0], pools["big"][1], srv.maildir(U_BIG), srv.file_uid)
    deliver(pools["idle"][0], pools["idle"][1], srv.maildir(U_IDLE), srv.file_uid)
    srv.start()
    try:
        time.sleep(1)
        note_pss(r, srv, "started")
        for name, fn in steps:
            if name in ("idle", "leak") and "import_s_idle" not in r:
                continue
            if name == "big" and "import_s_big" not in r:
                continue
            try:
                check_alive(srv)
                fn()
            except Exception as e:
                msg = "%s step %s failed: %s: %s" % (srv.name, name,
                                                     type(e).__name__, e)
                log(msg)
                r["problems"].append(msg)
                if srv.proc is None or srv.proc.poll() is not None:
                    r["problems"].append("%s exited with status %s" % (
                        srv.name, srv.proc and srv.proc.returncode))
                    srv.stop()
                    srv.start()
            if srv.proc is not None and srv.proc.poll() is None:
                time.sleep(1)
                note_pss(r, srv, "after " + name)
    finally:
        srv.stop()
    r["problems"] += ["log: " + ln for ln in srv.problems()[:30]]
    r["log_problem_lines"] = len(srv.problems())


# ---- report ----

def ratio(a, b):
    if a is None or b is None or not b:
        return "n/a"
    return "%.2f" % (a / b)


def report(args, env, res, inotify_note, elapsed):
    S, D = res["Satchel"], res["Dovecot"]
    rows = []

    def row(label, key, unit_fn, nd=0):
        a, b = unit_fn(S, key), unit_fn(D, key)
        rows.append((label, fmt(a, nd), fmt(b, nd), ratio(a, b)))

    def ms(r, k):
        v = r.get(k)
        if isinstance(v, list):
            v = median(v)
        return None if v is None else v * 1e3

    def s(r, k):
        return r.get(k)

    N = "{:,}".format
    row("APPEND %s msgs (~2 KB), LITERAL+ pipelined, 1 connection: s" % N(args.append),
        "append_s", s, 2)
    rows.append(("APPEND rate: msgs/s",
                 fmt(S.get("append_s") and args.append / S["append_s"]),
                 fmt(D.get("append_s") and args.append / D["append_s"]),
                 ratio(S.get("append_s") and args.append / S["append_s"],
                       D.get("append_s") and args.append / D["append_s"])))
    row("SELECT %s msgs, cold (restart + drop_caches): ms (median of %d)"
        % (N(args.big), args.cold_reps), "select_cold", ms, 1)
    row("SELECT %s msgs, warm: ms (median of %d)" % (
        N(args.big), args.select_reps * args.select_rounds), "select_warm", ms, 3)
    row("SELECT %s msgs, warm, above a NOOP's round trip: ms" % N(args.big),
        "select_above_noop", ms, 3)
    row("SELECT %s msgs, warm, above the floor (a server doing nothing): ms"
        % N(args.big), "select_above_floor", ms, 3)
    row("SELECT %s msgs, warm, both servers running, rounds interleaved: ms "
        "(median of %d)" % (N(args.big), 2 * args.select_rounds * args.select_reps),
        "sbs_select", ms, 3)
    row("  the same, above the floor: ms", "sbs_select_above_floor", ms, 3)
    row("NOOP, both servers running, rounds interleaved: ms", "sbs_noop", ms, 3)
    row("UID FETCH 1:* (FLAGS), %s msgs: ms (median of %d)" % (N(args.big), args.reps),
        "fetch", ms)
    row("STORE 1:* +FLAGS (\\Seen), %s msgs (a FETCH reply each): ms" % N(args.big),
        "store_add", ms)
    row("STORE 1:* +FLAGS.SILENT (\\Seen), %s msgs: ms" % N(args.big),
        "store_add_silent", ms)
    row("STORE 1:* -FLAGS.SILENT (\\Seen), %s msgs: ms (median of 2)" % N(args.big),
        "store_del_both", ms)
    row("COPY %s msgs to another mailbox: ms" % N(args.copy), "copy_s", ms)
    row("STATUS (MESSAGES UNSEEN UIDNEXT) x %d mailboxes, sequential: ms "
        "(median of %d passes)" % (args.boxes, args.reps), "status", ms, 1)

    def idle(r, k):
        return r.get("idle", {}).get(k)
    ev = S.get("idle", {}).get("events", args.events)
    row("IDLE notify latency p50, %s sessions x %d APPENDs: ms" % (N(args.idle), ev),
        "p50", idle, 1)
    row("IDLE notify latency p99: ms", "p99", idle, 1)
    row("IDLE notify latency from the writer's APPEND sent, p50: ms", "sent_p50", idle, 1)
    row("IDLE notify latency from the writer's APPEND sent, p99: ms", "sent_p99", idle, 1)

    def mem(r, k):
        return r.get("mem", {}).get(k)
    row("KB PSS per idle SELECTED connection (N=%s, %s-msg INBOX)"
        % (N(args.idle), N(args.idle_msgs)), "per_conn", mem, 1)

    lines = ["| metric | Satchel | Dovecot | ratio |", "| --- | ---: | ---: | ---: |"]
    lines += ["| %s | %s | %s | %s |" % r for r in rows]
    table = "\n".join(lines)

    d = ["", "ratio = Satchel / Dovecot: lower is better for times, latencies "
         "and memory, higher for the APPEND rate.", "", "## Details", "",
         "| | Satchel | Dovecot |", "| --- | ---: | ---: |"]

    def det(label, fn):
        d.append("| %s | %s | %s |" % (label, fn(S), fn(D)))

    def listms(k):
        return lambda r: ", ".join("%.1f" % (x * 1e3) for x in r.get(k, [])) or "n/a"

    def cpu(k, nd=2):
        return lambda r: fmt(r.get(k), nd)
    det("server CPU s: APPEND", cpu("append_cpu"))
    det("APPEND replies not OK / INBOX EXISTS after", lambda r: "%s / %s" % (
        r.get("append_errors", "n/a"), r.get("append_exists", "n/a")))
    det("first (untimed) login+SELECT importing %s files: s" % N(args.big),
        cpu("import_s_big", 1))
    det("first (untimed) login+SELECT importing %s files: s" % N(args.idle_msgs),
        cpu("import_s_idle", 1))
    det("cold SELECTs, each: ms", listms("select_cold"))
    det("cold: LOGIN before each SELECT: ms", listms("cold_login"))
    det("server CPU s per cold SELECT", cpu("select_cold_cpu", 3))
    det("warm SELECT min / median / max: ms", lambda r: " / ".join(
        "%.2f" % (f(r["select_warm"]) * 1e3) for f in (min, median, max))
        if r.get("select_warm") else "n/a")
    det("server CPU s per warm SELECT", cpu("select_warm_cpu", 3))
    det("warm SELECT, NOOP and floor round trips timed by", lambda r: r.get("timed_by", "n/a"))
    det("NOOP round trip min / median / max: ms", lambda r: " / ".join(
        "%.3f" % (f(r["noop"]) * 1e3) for f in (min, median, max))
        if r.get("noop") else "n/a")
    det("floor: NOOP round trip to bench/floor.c (OK to every line, nothing "
        "else), in the same rounds: min / median / max: ms", lambda r: " / ".join(
        "%.3f" % (f(r["floor"]) * 1e3) for f in (min, median, max))
        if r.get("floor") else "n/a")
    det("NOOP above the floor: ms", lambda r: fmt(
        None if r.get("noop_above_floor") is None
        else r["noop_above_floor"] * 1e3, 3))
    det("UID FETCH each: ms", listms("fetch"))
    det("UID FETCH output bytes", lambda r: str(r.get("fetch_bytes", "n/a")))
    det("server CPU s per UID FETCH", cpu("fetch_cpu", 3))
    keys = ("store_add", "store_del", "store_add_silent", "store_del_silent")
    det("STOREs in order: +FLAGS, -FLAGS.SILENT, +FLAGS.SILENT, -FLAGS.SILENT", lambda r: "")
    det("  time to tagged OK: ms", lambda r: " / ".join(
        fmt(r.get(k) and r[k] * 1e3) for k in keys))
    def names_ms(r, k):
        if k not in r:
            return "n/a"
        v = r.get(k + "_names_s")
        return "not within the time limit" if v is None else fmt(v * 1e3)
    det("  time from the OK until every file name in cur/ says it: ms", lambda r: " / ".join(
        names_ms(r, k) for k in keys))
    det("  server CPU s until the names say it", lambda r: " / ".join(
        fmt(r.get(k + "_cpu"), 2) for k in keys))
    det("  untagged lines sent", lambda r: " / ".join(
        str(r.get(k + "_untagged", "n/a")) for k in keys))
    det("\\Seen left after +FLAGS then -FLAGS", lambda r: str(r.get("seen_after_store", "n/a")))
    det("server CPU s: COPY; messages in target after", lambda r: "%s; %s" % (
        fmt(r.get("copy_cpu"), 2), r.get("copy_count", "n/a")))
    det("STATUS passes: ms", listms("status"))
    det("server CPU s per STATUS pass", cpu("status_cpu", 3))
    det("STATUS reply (first mailbox)", lambda r: r.get("status_sample", "n/a")
        .replace("|", "/"))
    det("sessions SELECTed (of %d) / setup s" % args.idle, lambda r: "%s / %s" % (
        r.get("mem", {}).get("held", "n/a"), fmt(r.get("idle_setup_s"), 1)))
    det("PSS KB before -> with sessions (processes)", lambda r: (
        "%d -> %d (%d -> %d)" % (r["mem"]["base_kb"], r["mem"]["kb"],
                                 r["mem"]["base_procs"], r["mem"]["procs"])
        if "mem" in r else "n/a"))
    det("IDLE: sessions x events / samples / missing", lambda r: (
        "%d x %d / %d / %d" % (r["idle"]["sessions"], r["idle"]["events"],
                               r["idle"]["samples"], r["idle"]["missing"])
        if "idle" in r else "n/a"))
    det("IDLE: the writer's APPEND got no reply within 60 s at event",
        lambda r: str(r.get("idle", {}).get("writer_stalled_at") or "-")
        if "idle" in r else "n/a")
    det("IDLE: samples later than %.0f s" % args.event_timeout,
        lambda r: str(r.get("idle", {}).get("late", "n/a")))
    det("IDLE latency min / max: ms", lambda r: "%s / %s" % (
        fmt(r.get("idle", {}).get("min"), 1), fmt(r.get("idle", {}).get("max"), 1)))
    det("IDLE: writer APPEND p50 / max: ms", lambda r: "%s / %s" % (
        fmt(r.get("idle", {}).get("writer_ms_p50"), 1),
        fmt(r.get("idle", {}).get("writer_ms_max"), 1)))
    det("IDLE: last session notified, p50 / max over events: ms (events "
        "where all were notified in time)", lambda r: "%s / %s (%s)" % (
            fmt(r.get("idle", {}).get("all_ms_p50"), 1),
            fmt(r.get("idle", {}).get("all_ms_max"), 1),
            r.get("idle", {}).get("events_complete", "n/a")))
    det("IDLE: server CPU s per event; wall s for all events", lambda r: "%s; %s" % (
        fmt(r.get("idle", {}).get("cpu_per_event"), 2),
        fmt(r.get("idle", {}).get("events_wall"), 1)))
    det("server PSS KB at checkpoints", lambda r: "<br>".join(
        "%s: %d (%d procs)" % p for p in r.get("pss", [])))
    det("PSS KB after each further open+close of %d sessions" % args.idle,
        lambda r: ", ".join("%d" % kb for _, kb in r["leak"]) if "leak" in r
        else "not measured")
    det("log lines with errors/warnings", lambda r: str(r.get("log_problem_lines", "n/a")))

    d += ["", "## Setup", "",
          "- machine: %s, %s cores, %s GiB, Linux %s; load average at start %s"
          % (env["cpu"], env["cores"], env["mem_gib"], env["kernel"], env["loadavg"]),
          "- one server at a time on 127.0.0.1; the client (Python) on the same "
          "machine; times are wall time from sending the command to reading its "
          "tagged reply, all output read",
          "- Dovecot %s: mail_location = maildir:~/Maildir, default index files, "
          "default mail_fsync (optimized); login in high-performance mode "
          "(imap-login service_count = 0, process_min_avail) only to open the "
          "1,000 sessions quickly; one imap process per session" % env["dovecot"],
          "- Satchel: workers = 2, log_level = warn, its Maildir + SQLite index",
          "- %s + %s messages of ~2 KB (CRLF) written once and hard-linked into "
          "both servers' Maildir/cur before they start; each server indexes them "
          "on a first, untimed login+SELECT; the cold SELECT follows a server "
          "restart and `sync; echo 3 > /proc/sys/vm/drop_caches` (LOGIN, timed "
          "separately, comes between)" % (N(args.big), N(args.idle_msgs)),
          "- APPEND: fresh user, empty INBOX, %s APPENDs with LITERAL+ written "
          "by one thread while another reads the replies" % N(args.append),
          "- STATUS: %d mailboxes created and filled (5 messages, 3 \\Seen) over "
          "IMAP beforehand" % args.boxes,
          "- IDLE: one user, %s sessions SELECT INBOX then IDLE; a writer "
          "session of the same user APPENDs one message at a time (%d times, "
          "%.1f s apart after all sessions heard of it or %.0f s passed); latency "
          "= receipt of `* N EXISTS` at a session minus receipt of the writer's "
          "tagged OK (both stamped at recv() in one selector loop; negative when "
          "the notification beats the OK); p50/p99 over sessions x events"
          % (N(args.idle), args.events, args.event_gap, args.event_timeout),
          "- " + inotify_note,
          "- memory: sum of Pss (/proc/PID/smaps_rollup) over the server's "
          "process tree with the sessions SELECTed, minus the same before the "
          "first one, / sessions"]
    probs = [p for r in (S, D) for p in r.get("problems", [])]
    if probs:
        d += ["", "## Problems", ""]
        d += ["- " + p.replace("|", "/") for p in probs[:60]]
    d += ["", "Total time %.0f s%s." % (elapsed, ", --quick" if args.quick else "")]
    return table, "\n".join(d)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--satchel", default=os.path.join(ROOT, "build", "satchel"))
    ap.add_argument("--dovecot", default="/usr/sbin/dovecot")
    ap.add_argument("--floor", default=None,
                    help="default: bench/satchel-floor next to --satchel")
    ap.add_argument("--rtt", default=None,
                    help="default: bench/satchel-rtt next to --satchel")
    ap.add_argument("--quick", action="store_true", help="small smoke run")
    ap.add_argument("--append", type=int, default=10000)
    ap.add_argument("--big", type=int, default=100000)
    ap.add_argument("--copy", type=int, default=10000)
    ap.add_argument("--boxes", type=int, default=100)
    ap.add_argument("--idle", type=int, default=1000, help="IDLE / memory sessions")
    ap.add_argument("--idle-msgs", type=int, default=1000)
    ap.add_argument("--events", type=int, default=50)
    ap.add_argument("--event-timeout", type=float, default=10.0,
                    help="longest wait for all sessions to hear of one event")
    ap.add_argument("--event-gap", type=float, default=0.2)
    ap.add_argument("--idle-seconds", type=float, default=180,
                    help="time budget for the IDLE events of one server")
    ap.add_argument("--reps", type=int, default=5,
                    help="repetitions of UID FETCH (median reported)")
    ap.add_argument("--select-rounds", type=int, default=5,
                    help="rounds of warm SELECT, NOOP and floor round trips "
                    "(--select-reps each), a second apart")
    ap.add_argument("--cold-reps", type=int, default=5,
                    help="cold SELECTs, each after a restart and drop_caches "
                    "(median reported)")
    ap.add_argument("--select-reps", type=int, default=25,
                    help="repetitions of the warm SELECT (median reported): "
                    "a fraction of a millisecond each, so a few samples are "
                    "mostly scheduling noise")
    ap.add_argument("--leak-cycles", type=int, default=5,
                    help="Satchel only: further open/close cycles of the "
                    "sessions, PSS after each")
    ap.add_argument("--settle", type=float, default=3.0)
    ap.add_argument("--setup-seconds", type=float, default=240)
    ap.add_argument("--append-seconds", type=float, default=300)
    ap.add_argument("--cmd-seconds", type=float, default=300)
    ap.add_argument("--only", default="Satchel,Dovecot")
    ap.add_argument("--no-inotify-raise", dest="inotify_raise", action="store_false",
                    help="keep fs.inotify.max_user_instances as it is")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results",
                                                  "store-latest.md"))
    ap.add_argument("--keep-tmp", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.append, args.big, args.copy, args.boxes = 1000, 10000, 1000, 20
        args.idle, args.idle_msgs, args.events, args.reps = 100, 200, 10, 2
        args.select_reps = 5
        args.select_rounds = 2
        args.cold_reps = 2
        args.settle = 2.0
    args.copy = min(args.copy, args.big)
    args.satchel = os.path.abspath(args.satchel)
    if args.floor is None:
        args.floor = os.path.join(os.path.dirname(args.satchel), "bench",
                                  "satchel-floor")
    if args.rtt is None:
        args.rtt = os.path.join(os.path.dirname(args.satchel), "bench",
                                "satchel-rtt")
    for path in (args.satchel, args.dovecot):
        if not os.access(path, os.X_OK):
            sys.exit("store bench: %s is missing (build Satchel; install "
                     "dovecot-imapd)" % path)
    if os.geteuid() != 0:
        sys.exit("store bench: must run as root (Dovecot's master, drop_caches)")
    base.raise_nofile()
    env = base.environment(args)
    log("store bench: %s" % env)
    t_start = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="satchel-store-bench-")
    os.chmod(tmp, 0o755)
    res = {}
    inotify_old = None
    inotify_note = "fs.inotify.max_user_instances unchanged"
    try:
        with open(INOTIFY_INSTANCES) as f:
            inotify_old = int(f.read())
        need = 2 * args.idle + 512
        if args.inotify_raise and inotify_old < need:
            with open(INOTIFY_INSTANCES, "w") as f:
                f.write("%d\n" % need)
            inotify_note = ("fs.inotify.max_user_instances raised from %d to %d "
                            "for the run (Dovecot opens one inotify instance per "
                            "IDLE process and at %d falls back to polling every "
                            "30 s; Satchel opens one per selected mailbox), "
                            "restored afterwards"
                            % (inotify_old, need, inotify_old))
            log(inotify_note)
        else:
            inotify_note = "fs.inotify.max_user_instances = %d (unchanged)" % inotify_old
            inotify_old = None  # nothing to restore

        cert, key = base.make_cert(tmp)
        passwd = os.path.join(tmp, "passwd")
        with open(passwd, "w") as f:
            for u in USERS:
                f.write("%s:{PLAIN}%s::::::\n" % (u, PASSWORD))
        os.chmod(passwd, 0o644)
        t0 = time.monotonic()
        pools = {}
        for label, count, seed in (("big", args.big, 0),
                                   ("idle", args.idle_msgs, 1000000)):
            p = os.path.join(tmp, "pool-" + label)
            pools[label] = (p, write_pool(p, count, seed))
        log("generated %d + %d message files in %.1f s" % (
            args.big, args.idle_msgs, time.monotonic() - t0))
        servers = {}
        for name in ("Satchel", "Dovecot"):
            if name not in args.only.split(","):
                res[name] = {"problems": ["not run (--only)"]}
                continue
            d = os.path.join(tmp, name.lower())
            os.makedirs(d)
            os.chmod(d, 0o755)
            if name == "Satchel":
                srv = Satchel(d, args.satchel, passwd, cert, key)
            else:
                srv = Dovecot(d, args.dovecot, passwd, cert, key, args.idle + 100)
            res[name] = {"problems": []}
            servers[name] = srv
            log("==== %s ====" % name)
            try:
                run_server(args, srv, pools, res[name])
            except Exception as e:
                res[name]["problems"].append("%s: %s: %s" % (name, type(e).__name__, e))
                log("%s failed: %s" % (name, e))
            finally:
                if srv.proc is not None:
                    srv.stop()
        if len(servers) == 2 and all("import_s_big" in res[n] for n in servers):
            try:
                bench_side_by_side(args, servers, res)
            except Exception as e:
                res["Satchel"]["problems"].append("side by side: %s: %s" % (
                    type(e).__name__, e))
                log("side by side failed: %s" % e)
    finally:
        if inotify_old is not None:
            with open(INOTIFY_INSTANCES, "w") as f:
                f.write("%d\n" % inotify_old)
        if args.keep_tmp:
            log("kept " + tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    table, detail = report(args, env, res, inotify_note, time.monotonic() - t_start)
    print(table)
    print(detail)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write("# Satchel vs Dovecot: mail store (%s)\n\n%s\n%s\n" % (
            time.strftime("%Y-%m-%d %H:%M"), table, detail))
    log("wrote %s (%.0f s)" % (args.out, time.monotonic() - t_start))


if __name__ == "__main__":
    main()
