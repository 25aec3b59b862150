"""FETCH of a big mailbox, which answers in slices while the client reads
(RFC 9051 6.4.5, 7.5.1): the answer is complete and in order, nothing
comes between its lines, pipelined commands wait for it, a client that
reads slowly stalls only itself (the user's other sessions go on, and see
their changes in the stalled FETCH's later lines), and a client that goes
away or a server that stops in the middle leaves nothing behind."""
import os
import re
import shutil
import signal
import socket
import struct
import time

import pytest

from conftest import Raw, client_ctx

N = 20000  # 700 KB of FETCH FLAGS: many slices, beyond the output mark


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    """N message files, made once and hard-linked into each test's
    Maildir (the server renames and unlinks only its own links)."""
    d = tmp_path_factory.mktemp("pool")
    names = []
    for i in range(1, N + 1):
        body = "Subject: m%d\r\n\r\nbody %d\r\n" % (i, i)
        flags = ("F" if i % 11 == 0 else "") + ("S" if i % 7 == 0 else "")
        # names sort in delivery order: the UIDs follow them
        name = "%d.M%dP1.test,S=%d:2,%s" % (1700000000 + i, i, len(body), flags)
        with open(os.path.join(str(d), name), "w") as f:
            f.write(body)
        names.append(name)
    return str(d), names


def make_maildir(srv, pool, n=N):
    """n messages in alice's Maildir before her first login; every 7th is
    \\Seen, every 11th \\Flagged.  Their UIDs will be 1..n."""
    d, names = pool
    md = os.path.join(srv.dir, "data", "users", "alice", "Maildir")
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(md, sub), exist_ok=True)
    for name in names[:n]:
        src, dst = os.path.join(d, name), os.path.join(md, "cur", name)
        try:
            os.link(src, dst)
        except OSError:  # another file system
            shutil.copyfile(src, dst)
    return md


def expected_flags(i):
    want = set()
    if i % 7 == 0:
        want.add("\\Seen")
    if i % 11 == 0:
        want.add("\\Flagged")
    return want


@pytest.fixture
def big(server, pool):
    make_maildir(server, pool)
    return server


# Loopback send buffers grow to 4 MB: for a FETCH to stall half-way its
# answer must be bigger than that, so these messages carry long keywords
# (~1 KB a line, 8 MB in all).
NF = 8000
KEYWORDS = " ".join("$k%02d%s" % (i, "x" * 76) for i in range(12))


@pytest.fixture
def fat(server, pool):
    make_maildir(server, pool, NF)
    r = login_select(server)
    cmd_ok(r, "STORE 1:* +FLAGS.SILENT (%s)" % KEYWORDS, timeout=120)
    r.close()
    return server


def kw_flags(i):
    return expected_flags(i) | set(KEYWORDS.split())


def connect(srv, rcvbuf=None, proto="imap"):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        # before connect(), so the window is small from the start
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(60)
    s.connect(("127.0.0.1", srv.ports[proto]))
    if proto == "imaps":
        s = client_ctx().wrap_socket(s, server_hostname="localhost")
    r = Raw(s)
    assert r.line().startswith("* OK")
    return r


def login_select(srv, rcvbuf=None, proto="imap", tag="s"):
    r = connect(srv, rcvbuf, proto)
    r.send("l LOGIN alice wonderland\r\n")
    assert r.until_tagged("l", timeout=30)[-1].startswith("l OK")
    r.send("%s SELECT INBOX\r\n" % tag)
    lines = r.until_tagged(tag, timeout=120)
    assert lines[-1].startswith(tag + " OK"), lines
    return r


def cmd_ok(r, text, tag="t", timeout=30):
    r.send("%s %s\r\n" % (tag, text))
    lines = read_all(r, tag, timeout=timeout)
    assert lines[-1].startswith(tag + " OK"), lines[-3:]
    return lines[:-1]


FETCH_RE = re.compile(r"\* (\d+) FETCH \((?:UID (\d+) )?FLAGS \(([^)]*)\)\)$")


def parse(lines):
    """[(seq, uid or None, flags)] of FETCH lines; any other line fails."""
    out = []
    for ln in lines:
        m = FETCH_RE.match(ln)
        assert m, ln
        out.append((int(m.group(1)), int(m.group(2)) if m.group(2) else None,
                    set(m.group(3).split()) - {"\\Recent"}))
    return out


def read_all(r, tag, timeout=120):
    """Every line through the tagged reply, as fast as it comes (Raw.line
    copies its buffer per line: too slow for megabytes)."""
    buf = bytearray(r.buf)
    r.buf = b""
    needle = b"\r\n" + tag.encode() + b" "
    deadline = time.monotonic() + timeout
    r.sock.settimeout(timeout)
    pos = 0
    while True:
        i = 0 if buf.startswith(needle[2:]) else buf.find(needle, pos)
        if i >= 0:
            j = buf.find(b"\r\n", i + 2)
            if j >= 0:
                r.buf = bytes(buf[j + 2:])
                return bytes(buf[:j]).decode().split("\r\n")
        pos = max(0, len(buf) - len(needle))
        assert time.monotonic() < deadline, "no tagged reply"
        chunk = r.sock.recv(1 << 20)
        assert chunk, "closed"
        buf += chunk


def test_big_fetch_complete_and_in_order(big):
    r = login_select(big)
    lines = cmd_ok(r, "UID FETCH 1:* (FLAGS)", timeout=120)
    got = parse(lines)
    assert [s for s, _, _ in got] == list(range(1, N + 1))
    assert [u for _, u, _ in got] == list(range(1, N + 1))
    for i, (_, _, fl) in enumerate(got, 1):
        assert fl == expected_flags(i), (i, fl)
    # by sequence number, FLAGS alone and several ranges
    got = parse(cmd_ok(r, "FETCH 1:3,9990:10010,%d:* FLAGS" % (N - 2), timeout=60))
    seqs = [1, 2, 3] + list(range(9990, 10011)) + [N - 2, N - 1, N]
    assert [s for s, _, _ in got] == seqs
    assert all(u is None and fl == expected_flags(s) for s, u, fl in got)
    # the other item sets answer in slices too
    lines = cmd_ok(r, "UID FETCH 1:* (UID)", timeout=120)
    assert len(lines) == N and lines[-1] == "* %d FETCH (UID %d)" % (N, N)
    lines = cmd_ok(r, "FETCH 1:* FAST", timeout=120)
    assert len(lines) == N
    assert re.match(r'\* %d FETCH \(FLAGS \(\\Flagged \\Seen( \\Recent)?\) '
                    r'INTERNALDATE "[^"]+" RFC822.SIZE \d+\)$' % 77,
                    lines[76]), lines[76]
    # keywords take the other path of the flag formatting
    cmd_ok(r, "STORE 5,10000 +FLAGS.SILENT (\\Answered $Work)")
    got = parse(cmd_ok(r, "UID FETCH 1:* (FLAGS)", timeout=120))
    assert got[4][2] == {"\\Answered", "$Work"}
    assert got[9999][2] == expected_flags(10000) | {"\\Answered", "$Work"}
    assert got[10000][2] == expected_flags(10001)
    r.close()


def test_pipelined_commands_wait_for_the_fetch(big):
    r = login_select(big)
    r.send("a UID FETCH 1:* (FLAGS)\r\nb NOOP\r\nc FETCH 2 (FLAGS)\r\n"
           "d UID FETCH 1:* (FLAGS)\r\ne NOOP\r\n")
    a = r.until_tagged("a", timeout=120)
    assert a[-1].startswith("a OK"), a[-1]
    assert len(parse(a[:-1])) == N  # nothing of b..e inside it
    assert r.until_tagged("b") == ["b OK NOOP completed"]
    c = r.until_tagged("c")
    assert c[-1].startswith("c OK") and parse(c[:-1]) == [(2, None, set())]
    d = r.until_tagged("d", timeout=120)
    assert d[-1].startswith("d OK") and len(parse(d[:-1])) == N
    assert r.until_tagged("e") == ["e OK NOOP completed"]
    r.close()


def read_some(r, nbytes, timeout=30):
    """Read at least nbytes more into r.buf."""
    r.sock.settimeout(timeout)
    want = len(r.buf) + nbytes
    while len(r.buf) < want:
        chunk = r.sock.recv(4096)
        assert chunk, "closed"
        r.buf += chunk


def stall(srv, command, tag="f"):
    """A session (small window) that sent command and stopped reading
    after the first lines, and a second session of the same user."""
    a = login_select(srv, rcvbuf=8192)
    b = login_select(srv, tag="s2")
    a.send("%s %s\r\n" % (tag, command))
    read_some(a, 20000)  # the FETCH is under way ...
    time.sleep(0.5)      # ... and stalls on a's full window
    return a, b


def test_slow_reader_stalls_only_itself(fat):
    a, b = stall(fat, "UID FETCH 1:* (FLAGS)")
    # The user's lock is not held across the stall: b works normally, and
    # changes messages near the end, which a has not been sent yet.
    t0 = time.monotonic()
    cmd_ok(b, "STORE %d +FLAGS.SILENT (\\Answered)" % NF)
    cmd_ok(b, "STORE %d +FLAGS.SILENT (\\Deleted)" % (NF - 1))
    cmd_ok(b, "UID EXPUNGE %d" % (NF - 1))
    body = "Subject: new\r\n\r\nhi\r\n"
    b.send("x APPEND INBOX {%d+}\r\n%s\r\n" % (len(body), body))
    assert read_all(b, "x")[-1].startswith("x OK")
    assert time.monotonic() - t0 < 5.0
    lines = read_all(a, "f")
    assert lines[-1].startswith("f OK"), lines[-1]
    got = parse(lines[:-1])  # no EXPUNGE, EXISTS or other line inside
    # a's numbering is unchanged; the expunged message is left out
    assert [s for s, _, _ in got] == list(range(1, NF - 1)) + [NF]
    assert [u for _, u, _ in got] == list(range(1, NF - 1)) + [NF]
    assert got[0][2] == kw_flags(1)
    # the stalled part was read after b's STORE: current flags
    assert got[-1][2] == kw_flags(NF) | {"\\Answered"}
    # the expunge and the new message are told afterwards
    lines = cmd_ok(a, "NOOP")
    assert "* %d EXPUNGE" % (NF - 1) in lines, lines
    assert "* %d EXISTS" % NF in lines, lines
    a.close()
    b.close()


def test_fetch_by_sequence_during_expunge_keeps_numbers(fat):
    a, b = stall(fat, "FETCH 1:* (UID FLAGS)")
    cmd_ok(b, "STORE 1,%d +FLAGS.SILENT (\\Deleted)" % NF)
    cmd_ok(b, "EXPUNGE")
    lines = read_all(a, "f")
    got = parse(lines[:-1])
    # message 1 was sent before the expunge, NF after it (left out)
    assert got[0][:2] == (1, 1)
    assert [s for s, _, _ in got] == list(range(1, NF))
    assert all(s == u for s, u, _ in got)
    # 7.5.1: the EXPUNGEs wait for a command that may carry them
    lines = cmd_ok(a, "FETCH 2 (UID)")
    assert not any("EXPUNGE" in ln for ln in lines), lines
    held = list(range(1, NF + 1))
    for ln in cmd_ok(a, "NOOP"):
        m = re.match(r"\* (\d+) EXPUNGE$", ln)
        if m:
            del held[int(m.group(1)) - 1]
    assert held == list(range(2, NF))
    a.close()
    b.close()


def test_client_gone_in_the_middle(fat):
    for _ in range(3):
        a, b = stall(fat, "UID FETCH 1:* (FLAGS)")
        # reset, with the answer half sent
        a.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                          struct.pack("ii", 1, 0))
        a.close()
        b.close()
    # the server goes on, and frees what those sessions held (the
    # fixture's stop checks the sanitizers)
    r = login_select(fat)
    assert len(cmd_ok(r, "UID FETCH 1:* (FLAGS)", timeout=120)) == NF
    r.close()


def test_server_stop_in_the_middle(fat):
    a, b = stall(fat, "UID FETCH 1:* (FLAGS)")
    t0 = time.monotonic()
    fat.signal(signal.SIGTERM)
    # the running FETCH is finished, then BYE
    lines = read_all(a, "f")
    assert lines[-1].startswith("f OK"), lines[-1]
    assert len(parse(lines[:-1])) == NF
    assert a.line().startswith("* BYE")
    assert b.line().startswith("* BYE")
    assert fat.proc.wait(30) == 0
    assert time.monotonic() - t0 < 20
    a.close()
    b.close()


def starttls_login_select(srv, rcvbuf):
    r = connect(srv, rcvbuf)
    r.send("t STARTTLS\r\n")
    assert r.until_tagged("t")[-1].startswith("t OK")
    r.sock = client_ctx().wrap_socket(r.sock, server_hostname="localhost")
    r.send("l LOGIN alice wonderland\r\n")
    assert r.until_tagged("l", timeout=30)[-1].startswith("l OK")
    r.send("s SELECT INBOX\r\n")
    assert r.until_tagged("s", timeout=120)[-1].startswith("s OK")
    return r


@pytest.mark.parametrize("how", ["imaps", "starttls"])
def test_big_fetch_over_tls_slow_reader(fat, how):
    if how == "imaps":
        a = login_select(fat, rcvbuf=8192, proto="imaps")
    else:
        a = starttls_login_select(fat, 8192)
    b = login_select(fat, tag="s2")
    a.send("f UID FETCH 1:* (FLAGS)\r\nn NOOP\r\n")
    # read in small bites with pauses: the server must wait, not fail
    for _ in range(10):
        read_some(a, 4096)
        time.sleep(0.02)
    time.sleep(0.3)
    cmd_ok(b, "STORE %d +FLAGS.SILENT (\\Answered)" % NF)
    lines = read_all(a, "f")
    assert lines[-1].startswith("f OK")
    got = parse(lines[:-1])
    assert [u for _, u, _ in got] == list(range(1, NF + 1))
    # the end was read after b's change: the FETCH waited for a
    assert got[-1][2] == kw_flags(NF) | {"\\Answered"}
    assert read_all(a, "n")[-1] == "n OK NOOP completed"
    a.close()
    b.close()
