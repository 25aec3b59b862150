"""Durability: kill -9 during a stream of APPENDs loses no acknowledged
message, duplicates none, leaves no ghost; UIDs stay consistent.  And an
existing Dovecot Maildir is served in place (UIDVALIDITY, UIDs, flags,
keywords, folders, subscriptions unchanged)."""
import os
import random
import re
import shutil
import signal
import threading
import time

import pytest

from conftest import Raw, ROOT

BASE = 200


def message(n):
    # size BASE + n identifies message n through RFC822.SIZE
    head = "Subject: msg %d\r\n\r\n" % n
    body = "x" * (BASE + n - len(head) - 2) + "\r\n"
    return (head + body).encode()


def append_loop(srv, acked, sent, stop):
    # Numbers are never reused, even for messages that were sent but not
    # acknowledged: such a message may legitimately survive the crash (its
    # file was durable, the OK never left), and must then appear once.
    n = sent[0] + 1
    try:
        r = Raw(srv.connect(timeout=5))
        r.line()
        r.send("l LOGIN alice wonderland\r\n")
        r.until_tagged("l")
        deadline = time.monotonic() + 20
        while not stop.is_set() and time.monotonic() < deadline:
            m = message(n)
            sent[0] = n
            r.send(b"a APPEND INBOX {%d+}\r\n" % len(m) + m + b"\r\n")
            ln = r.until_tagged("a", timeout=5)[-1]
            g = re.search(r"APPENDUID (\d+) (\d+)", ln)
            if ln.startswith("a OK") and g:
                acked[n] = (int(g.group(1)), int(g.group(2)))
            n += 1
    except (OSError, EOFError, TimeoutError):
        pass  # the server was killed under us


def fetch_sizes(srv):
    r = Raw(srv.connect())
    r.line()
    r.send("l LOGIN alice wonderland\r\n")
    r.until_tagged("l")
    r.send("s SELECT INBOX\r\n")
    sel = r.until_tagged("s", timeout=30)
    uidv = int(re.search(r"UIDVALIDITY (\d+)", " ".join(sel)).group(1))
    exists = int([l for l in sel if l.endswith(" EXISTS")][0].split()[1])
    r.send("f FETCH 1:* (UID RFC822.SIZE)\r\n") if exists else None
    rows = []
    if exists:
        for ln in r.until_tagged("f", timeout=30)[:-1]:
            g = re.match(r"\* (\d+) FETCH \(UID (\d+) RFC822.SIZE (\d+)\)", ln)
            assert g, ln
            rows.append((int(g.group(2)), int(g.group(3))))
    r.send("o LOGOUT\r\n")
    r.close()
    return uidv, exists, rows


def test_kill9_during_appends(server_factory):
    srv = server_factory({"server.log_level": "info"})
    maildir = os.path.join(srv.dir, "data", "users", "alice", "Maildir")
    acked = {}
    sent = [0]
    rng = random.Random(1234)
    for rnd in range(4):
        stop = threading.Event()
        t = threading.Thread(target=append_loop, args=(srv, acked, sent, stop))
        t.start()
        time.sleep(rng.uniform(0.3, 1.2))
        srv.proc.send_signal(signal.SIGKILL)  # our own daemon, by PID
        srv.proc.wait(10)
        stop.set()
        t.join(30)
        srv.logf.close()
        srv.proc = None
        srv.start()
    assert len(acked) > 20, "too few appends to mean anything"
    uidv, exists, rows = fetch_sizes(srv)
    uids = [u for u, _ in rows]
    assert uids == sorted(set(uids)), "UIDs must be unique and ascending"
    by_size = {}
    for u, size in rows:
        by_size.setdefault(size, []).append(u)
    for n, (auidv, auid) in acked.items():
        assert auidv == uidv
        got = by_size.get(BASE + n, [])
        assert got == [auid], "message %d: APPENDUID %d, found %r" % (n, auid, got)
    dups = {s: u for s, u in by_size.items() if len(u) > 1}
    assert not dups, "duplicates: %r" % dups
    # no ghost: every indexed message has its file
    files = os.listdir(os.path.join(maildir, "cur")) + os.listdir(os.path.join(maildir, "new"))
    assert len(files) == exists, (len(files), exists)


def test_dovecot_maildir_served_in_place(server_factory):
    srv = server_factory(start=False)
    home = os.path.join(srv.dir, "data", "users", "alice")
    os.makedirs(home)
    src = os.path.join(ROOT, "tests", "data", "dovecot-maildir", "Maildir")
    dst = os.path.join(home, "Maildir")
    shutil.copytree(src, dst)
    for d in ["", ".Work.Projects", ".a\\2eb", ".Entw&APw-rfe"]:
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(dst, d, sub), exist_ok=True)
    srv.start()
    r = Raw(srv.connect())
    r.line()
    r.send("l LOGIN alice wonderland\r\n")
    r.until_tagged("l")
    r.send('t LIST "" "*"\r\n')
    names = " ".join(r.until_tagged("t"))
    assert "Work/Projects" in names and "a.b" in names and "Entw&APw-rfe" in names, names
    r.send('u LSUB "" "*"\r\n')
    subs = " ".join(r.until_tagged("u"))
    assert "Work/Projects" in subs and "a.b" in subs, subs
    r.send("s SELECT INBOX\r\n")
    sel = " ".join(r.until_tagged("s"))
    assert "UIDVALIDITY 1795663852" in sel, sel
    r.send("f UID FETCH 1:* (UID)\r\n")
    assert "UID 1)" in " ".join(r.until_tagged("f"))
    r.send("s SELECT Work/Projects\r\n")
    sel = " ".join(r.until_tagged("s"))
    assert "UIDVALIDITY 1795663851" in sel, sel
    assert "$Important" in sel, sel  # keyword known in FLAGS
    r.send("f UID FETCH 1:* (UID FLAGS)\r\n")
    lines = r.until_tagged("f")
    flags = {int(re.search(r"UID (\d+)", l).group(1)): l for l in lines[:-1]}
    assert set(flags) == {1, 2}, lines
    assert "\\Seen" in flags[1] and "$Important" in flags[1], flags[1]
    assert "\\Flagged" in flags[2] and "\\Answered" in flags[2], flags[2]
    r.send("n STATUS Work/Projects (UIDNEXT MESSAGES)\r\n")
    st = r.until_tagged("n")[0]
    assert "UIDNEXT 3" in st and "MESSAGES 2" in st, st
    r.close()
