"""Many IDLE sessions of one user, spread over both workers: every one
hears of every change, in an order that keeps its sequence numbers right,
whether the change comes from another session (the hub) or from another
program writing the Maildir (one shared inotify watch, one look for all);
\\Recent goes to exactly one session (RFC 2177, RFC 9051 7, RFC 3501
2.3.2)."""
import os
import re
import time

from conftest import Raw

PASSWORD = "wonderland"


def connect_all(srv, n):
    """n logged-in sessions; the LOGINs go out before any reply is read."""
    out = []
    for _ in range(n):
        r = Raw(srv.connect())
        assert r.line().startswith("* OK")
        r.send("l LOGIN alice %s\r\n" % PASSWORD)
        out.append(r)
    for r in out:
        assert r.until_tagged("l", timeout=60)[-1].startswith("l OK")
    return out


def ok(r, text, tag="t"):
    r.send("%s %s\r\n" % (tag, text))
    lines = r.until_tagged(tag, timeout=20)
    assert lines[-1].startswith(tag + " OK"), lines
    return lines[:-1]


def append_ok(r, i):
    body = b"From: a@example.com\r\nSubject: m%d\r\n\r\nbody %d\r\n" % (i, i)
    r.send(b"a APPEND INBOX {%d+}\r\n" % len(body) + body + b"\r\n")
    lines = r.until_tagged("a", timeout=20)
    m = re.match(r"a OK \[APPENDUID \d+ (\d+)\]", lines[-1])
    assert m, lines
    return int(m.group(1))


def uid_flags(r):
    """[(uid, flags)] of the selected mailbox in sequence order."""
    out = []
    for ln in ok(r, "FETCH 1:* (UID FLAGS)"):
        m = re.match(r"\* (\d+) FETCH \(UID (\d+) FLAGS \(([^)]*)\)\)$", ln)
        assert m, ln
        assert int(m.group(1)) == len(out) + 1, ln
        out.append((int(m.group(2)), set(m.group(3).split())))
    return out


class Idler:
    """A session in IDLE that keeps the UID list the untagged responses
    describe (None for a message announced by EXISTS whose UID it hasn't
    seen yet), and checks every response against it."""

    def __init__(self, r, uids):
        self.r = r
        self.uids = list(uids)
        self.flags = {}  # uid -> flags from FETCH responses
        self.exists = []
        r.send("i IDLE\r\n")
        assert r.line().startswith("+ ")

    def handle(self, ln):
        m = re.match(r"\* (\d+) EXPUNGE$", ln)
        if m:
            seq = int(m.group(1))
            assert 1 <= seq <= len(self.uids), (ln, self.uids)
            del self.uids[seq - 1]
            return
        m = re.match(r"\* (\d+) EXISTS$", ln)
        if m:
            n = int(m.group(1))
            assert n >= len(self.uids), (ln, self.uids)  # never shrinks
            self.uids += [None] * (n - len(self.uids))
            self.exists.append(n)
            return
        m = re.match(r"\* (\d+) FETCH \(UID (\d+) FLAGS \(([^)]*)\)\)$", ln)
        if m:
            seq, uid = int(m.group(1)), int(m.group(2))
            assert 1 <= seq <= len(self.uids), (ln, self.uids)
            assert self.uids[seq - 1] in (None, uid), (ln, self.uids)
            self.uids[seq - 1] = uid
            self.flags[uid] = set(m.group(3).split())
            return
        assert re.match(r"\* \d+ RECENT$", ln), ln

    def until(self, pred, timeout=10):
        deadline = time.monotonic() + timeout
        while not pred(self):
            self.handle(self.r.line(timeout=max(0.01, deadline - time.monotonic())))

    def done(self):
        self.r.send("DONE\r\n")
        for ln in self.r.until_tagged("i", timeout=20)[:-1]:
            self.handle(ln)
        truth = uid_flags(self.r)
        assert len(self.uids) == len(truth), (self.uids, truth)
        for held, (uid, _) in zip(self.uids, truth):
            assert held in (None, uid), (self.uids, truth)
        return truth


def test_many_idlers_hear_quick_appends(server_factory):
    srv = server_factory({"server.workers": "2"})
    w = connect_all(srv, 1)[0]
    base = [append_ok(w, i) for i in range(3)]
    conns = connect_all(srv, 40)
    for r in conns:
        ok(r, "SELECT INBOX", "s")
    idlers = [Idler(r, base) for r in conns]
    new = [append_ok(w, 10 + i) for i in range(5)]  # back to back
    for it in idlers:
        it.until(lambda it: len(it.uids) == 8)
        assert it.exists == sorted(it.exists) and it.exists[-1] == 8, it.exists
    recent = []
    for it in idlers:
        truth = it.done()
        assert [u for u, _ in truth] == base + new
        recent += [u for u, f in truth if "\\Recent" in f]
    # each message is \Recent to exactly one session (the first SELECT
    # claimed the first three)
    assert sorted(recent) == base + new, recent
    for r in conns + [w]:
        r.close()


def test_idlers_see_expunges_and_appends_in_order(server_factory):
    srv = server_factory({"server.workers": "2"})
    w = connect_all(srv, 1)[0]
    base = [append_ok(w, i) for i in range(6)]
    ok(w, "SELECT INBOX", "s")
    conns = connect_all(srv, 12)
    for r in conns:
        ok(r, "SELECT INBOX", "s")
    idlers = [Idler(r, base) for r in conns]
    # one burst: expunge two, add two, flag one, expunge the newest, add one
    ok(w, "STORE 2,4 +FLAGS.SILENT (\\Deleted)")
    ok(w, "EXPUNGE")
    added = [append_ok(w, 20), append_ok(w, 21)]
    ok(w, "UID STORE %d +FLAGS.SILENT (\\Flagged)" % base[0])
    ok(w, "UID STORE %d +FLAGS.SILENT (\\Deleted)" % added[1])
    ok(w, "UID EXPUNGE %d" % added[1])
    added.append(append_ok(w, 22))
    want = [base[0], base[2], base[4], base[5], added[0], added[2]]

    def settled(it):
        return (it.uids == want or
                (len(it.uids) == len(want) and
                 all(h in (None, u) for h, u in zip(it.uids, want)))) and \
            "\\Flagged" in it.flags.get(base[0], ())
    for it in idlers:
        it.until(settled)
    for it in idlers:
        truth = it.done()
        assert [u for u, _ in truth] == want
        assert "\\Flagged" in dict(truth)[base[0]]
    for r in conns + [w]:
        r.close()


def drop(md, name):
    """Deliver a file the way another Maildir program would."""
    with open(os.path.join(md, "tmp", name), "w") as f:
        f.write("Subject: %s\r\n\r\nfrom outside\r\n" % name)
    os.rename(os.path.join(md, "tmp", name), os.path.join(md, "new", name))


def test_external_delivery_reaches_every_idler(server_factory):
    srv = server_factory({"server.workers": "2"})
    md = os.path.join(srv.dir, "data", "users", "alice", "Maildir")
    conns = connect_all(srv, 16)
    for r in conns:
        ok(r, "SELECT INBOX", "s")
    idlers = [Idler(r, []) for r in conns]
    drop(md, "1700000000.a.host")
    for it in idlers:
        it.until(lambda it: len(it.uids) == 1, timeout=5)
    # sessions leave IDLE, then hang up (the shared watch loses
    # references): the rest still hear at once
    quitters = idlers[:6]
    for it in quitters:
        it.done()
    stay = idlers[6:]
    drop(md, "1700000001.b.host")
    drop(md, "1700000002.c.host")
    for it in stay:
        it.until(lambda it: len(it.uids) == 3, timeout=5)
    for it in quitters:
        it.r.close()
    drop(md, "1700000003.d.host")
    for it in stay:
        it.until(lambda it: len(it.uids) == 4, timeout=5)
    for it in stay:
        assert len(it.done()) == 4
    for r in conns:
        r.close()
