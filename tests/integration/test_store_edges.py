"""Store edge cases: disk full gives NO [OVERQUOTA] with nothing half
written; another Maildir program's changes reach selected and idling
sessions."""
import os
import subprocess
import time

import pytest

from conftest import Raw


def login_select(srv, mailbox="INBOX"):
    r = Raw(srv.connect())
    r.line()
    r.send("l LOGIN alice wonderland\r\n")
    assert r.until_tagged("l")[-1].startswith("l OK")
    r.send("s SELECT %s\r\n" % mailbox)
    assert r.until_tagged("s")[-1].startswith("s OK")
    return r


def test_disk_full_gives_overquota(server_factory):
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    srv = server_factory(start=False)
    data = os.path.join(srv.dir, "data")
    os.makedirs(data)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", data],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount tmpfs here")
    try:
        srv.start()
        r = Raw(srv.connect())
        r.line()
        r.send("l LOGIN alice wonderland\r\n")
        assert r.until_tagged("l")[-1].startswith("l OK")
        body = b"Subject: big\r\n\r\n" + b"y" * 200000 + b"\r\n"
        oks = 0
        last = ""
        for i in range(40):
            r.send(b"a APPEND INBOX {%d+}\r\n" % len(body) + body + b"\r\n")
            last = r.until_tagged("a", timeout=20)[-1]
            if not last.startswith("a OK"):
                break
            oks += 1
        assert last.startswith("a NO [OVERQUOTA]"), last
        assert oks > 0
        # nothing half-written: the index and the Maildir agree
        r.send("st STATUS INBOX (MESSAGES)\r\n")
        st = r.until_tagged("st")[0]
        assert "MESSAGES %d" % oks in st, (st, oks)
        md = os.path.join(data, "users", "alice", "Maildir")
        assert len(os.listdir(os.path.join(md, "cur"))) == oks
        assert os.listdir(os.path.join(md, "tmp")) == []
        r.send("n NOOP\r\n")
        assert r.until_tagged("n")[-1].startswith("n OK")
        r.close()
        srv.stop()
    finally:
        if srv.proc is not None:
            srv.stop(check=False)
        subprocess.run(["umount", "-l", data], capture_output=True)


def test_external_maildir_changes(server_factory):
    srv = server_factory()
    a = login_select(srv)
    md = os.path.join(srv.dir, "data", "users", "alice", "Maildir")
    # a new message dropped by another program into new/
    with open(os.path.join(md, "tmp", "ext1"), "w") as f:
        f.write("Subject: external\r\n\r\nhello\r\n")
    os.rename(os.path.join(md, "tmp", "ext1"), os.path.join(md, "new", "1700000000.ext1.host"))
    a.send("n NOOP\r\n")
    lines = a.until_tagged("n")
    assert "* 1 EXISTS" in lines, lines
    # another tool marks it seen by renaming
    os.rename(os.path.join(md, "new", "1700000000.ext1.host"),
              os.path.join(md, "cur", "1700000000.ext1.host:2,S"))
    a.send("n NOOP\r\n")
    lines = a.until_tagged("n")
    assert any("FETCH" in l and "\\Seen" in l for l in lines), lines
    # and deletes it
    os.unlink(os.path.join(md, "cur", "1700000000.ext1.host:2,S"))
    a.send("n NOOP\r\n")
    assert "* 1 EXPUNGE" in a.until_tagged("n")
    # an idling session hears of a new file at once (inotify)
    a.send("i IDLE\r\n")
    assert a.line().startswith("+")
    t0 = time.monotonic()
    with open(os.path.join(md, "tmp", "ext2"), "w") as f:
        f.write("Subject: external 2\r\n\r\nhello\r\n")
    os.rename(os.path.join(md, "tmp", "ext2"), os.path.join(md, "new", "1700000001.ext2.host"))
    line = a.line(timeout=5)
    assert line == "* 1 EXISTS", line
    assert time.monotonic() - t0 < 1.0
    a.send("DONE\r\n")
    assert a.until_tagged("i")[-1] == "i OK IDLE terminated"
    a.close()


def _uids_flags(srv):
    r = login_select(srv)
    r.send("f UID FETCH 1:* (UID FLAGS)\r\n")
    lines = r.until_tagged("f")[:-1]
    r.send("s STATUS INBOX (UIDVALIDITY UIDNEXT)\r\n")
    st = r.until_tagged("s")[0]
    r.close()
    return lines, st


def test_index_rebuild_and_check(server_factory):
    import re
    from conftest import SATCHEL
    srv = server_factory()
    r = login_select(srv)
    for i in range(3):
        m = b"Subject: %d\r\n\r\nbody\r\n" % i
        r.send(b"a APPEND INBOX (\\Flagged $Blue) {%d+}\r\n" % len(m) + m + b"\r\n")
        assert r.until_tagged("a")[-1].startswith("a OK")
    r.send("d UID STORE 2 +FLAGS.SILENT (\\Deleted)\r\ne EXPUNGE\r\n")
    r.until_tagged("e")
    r.close()
    before, st_before = _uids_flags(srv)
    assert len(before) == 2
    srv.stop()
    env = dict(os.environ, SATCHEL_CONFIG=srv.conf_path)
    chk = subprocess.run([SATCHEL, "index", "check", "alice"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert chk.returncode == 0, chk.stdout + chk.stderr
    reb = subprocess.run([SATCHEL, "index", "rebuild", "alice"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert reb.returncode == 0, reb.stdout + reb.stderr
    assert "kept 2 messages" in reb.stdout, reb.stdout
    srv.start()
    after, st_after = _uids_flags(srv)
    assert after == before  # same UIDs, flags and keywords
    assert st_after == st_before  # same UIDVALIDITY and UIDNEXT
    srv.stop()
    # a file removed behind the index's back: check notices
    md = os.path.join(srv.dir, "data", "users", "alice", "Maildir", "cur")
    os.unlink(os.path.join(md, sorted(os.listdir(md))[0]))
    chk = subprocess.run([SATCHEL, "index", "check", "alice"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert chk.returncode == 1, chk.stdout
    # a corrupt index is rebuilt automatically at login
    db = os.path.join(srv.dir, "data", "users", "alice", "satchel.db")
    with open(db, "r+b") as f:
        f.write(b"garbage" * 200)
    for suffix in ("-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.unlink(db + suffix)
    srv.start()
    after, _ = _uids_flags(srv)
    assert len(after) == 1, after
    assert "corrupt" in srv.log()


def _kill9(srv):
    """kill -9 our own daemon (by PID), leaving it ready to start again."""
    import signal as sig
    srv.proc.send_signal(sig.SIGKILL)
    srv.proc.wait(10)
    srv.logf.close()
    srv.proc = None


def _flag_names(md):
    names = os.listdir(os.path.join(md, "cur"))
    return names, sum(1 for n in names if n.split(":2,", 1)[-1].find("S") >= 0)


def test_store_flags_reach_file_names(server_factory):
    """STORE answers once the index has the flags; the Maildir names follow
    in the background, also after a kill -9 right after the STORE, and a
    sync in between never takes the old names for another program's
    change."""
    srv = server_factory()
    md = os.path.join(srv.dir, "data", "users", "alice", "Maildir")
    n = 3000
    r = login_select(srv)
    body = b"Subject: m\r\n\r\nx\r\n"
    chunk = b"".join(b"a%d APPEND INBOX {%d+}\r\n%s\r\n" % (i, len(body), body)
                     for i in range(n))
    r.send(chunk)
    r.until_tagged("a%d" % (n - 1), timeout=120)
    r.send("s SELECT INBOX\r\n")
    assert "* %d EXISTS" % n in r.until_tagged("s")
    r.send("t STORE 1:* +FLAGS.SILENT (\\Seen \\Flagged)\r\n")
    assert r.until_tagged("t", timeout=60)[-1].startswith("t OK")
    _kill9(srv)
    srv.start()
    r = login_select(srv)
    r.send("f FETCH 1:* (FLAGS)\r\n")
    lines = r.until_tagged("f", timeout=60)
    assert sum(1 for l in lines if "\\Seen \\Flagged" in l or
               "\\Flagged \\Seen" in l) == n, lines[:3]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        names, seen = _flag_names(md)
        if seen == n:
            break
        time.sleep(0.1)
    names, seen = _flag_names(md)
    assert seen == n and all(x.endswith(":2,FS") for x in names), names[:3]
    # -FLAGS, then another program marks message 1 answered before or
    # after our rename: its change wins, the others end with no flags
    r.send("t STORE 1:* -FLAGS.SILENT (\\Seen \\Flagged)\r\n")
    assert r.until_tagged("t", timeout=60)[-1].startswith("t OK")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        names, seen = _flag_names(md)
        if seen == 0 and all(x.endswith(":2,") for x in names):
            break
        time.sleep(0.1)
    names, _ = _flag_names(md)
    assert all(x.endswith(":2,") for x in names), [x for x in names if not x.endswith(":2,")][:3]
    first = sorted(names)[0]
    os.rename(os.path.join(md, "cur", first),
              os.path.join(md, "cur", first[:-len(":2,")] + ":2,R"))
    r.send("n NOOP\r\n")
    r.until_tagged("n")
    r.send("f FETCH 1:* (FLAGS)\r\n")
    lines = r.until_tagged("f", timeout=60)[:-1]
    answered = [l for l in lines if "\\Answered" in l]
    assert len(answered) == 1, answered
    assert sum(1 for l in lines if "FLAGS ()" in l) == n - 1
    r.close()


def test_status_sees_external_delivery(server_factory):
    """STATUS looks at the folder (at most once a second): mail another
    program drops in is counted without a SELECT."""
    srv = server_factory()
    r = Raw(srv.connect())
    r.line()
    r.send("l LOGIN alice wonderland\r\n")
    assert r.until_tagged("l")[-1].startswith("l OK")
    r.send("s STATUS INBOX (MESSAGES UNSEEN)\r\n")
    assert "MESSAGES 0" in r.until_tagged("s")[0]
    md = os.path.join(srv.dir, "data", "users", "alice", "Maildir")
    with open(os.path.join(md, "tmp", "x1"), "w") as f:
        f.write("Subject: external\r\n\r\nhello\r\n")
    os.rename(os.path.join(md, "tmp", "x1"), os.path.join(md, "new", "1700000000.x1.host"))
    time.sleep(1.1)
    r.send("s STATUS INBOX (MESSAGES UNSEEN)\r\n")
    st = r.until_tagged("s")[0]
    assert "MESSAGES 1" in st and "UNSEEN 1" in st, st
    r.close()


def test_index_rebuild_keeps_flags_whose_renames_were_pending(server_factory):
    """kill -9 right after a big STORE leaves renames pending; `satchel
    index rebuild` then keeps the stored flags (finishing the renames)
    rather than taking the old file names for the truth."""
    from conftest import SATCHEL
    srv = server_factory()
    md = os.path.join(srv.dir, "data", "users", "alice", "Maildir", "cur")
    n = 2000
    r = login_select(srv)
    body = b"Subject: m\r\n\r\nx\r\n"
    r.send(b"".join(b"a%d APPEND INBOX {%d+}\r\n%s\r\n" % (i, len(body), body)
                    for i in range(n)))
    r.until_tagged("a%d" % (n - 1), timeout=120)
    r.send("s SELECT INBOX\r\n")
    r.until_tagged("s")
    r.send("t STORE 1:* +FLAGS.SILENT (\\Answered)\r\n")
    assert r.until_tagged("t", timeout=60)[-1].startswith("t OK")
    _kill9(srv)
    env = dict(os.environ, SATCHEL_CONFIG=srv.conf_path)
    reb = subprocess.run([SATCHEL, "index", "rebuild", "alice"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert reb.returncode == 0, reb.stdout + reb.stderr
    names = os.listdir(md)
    assert len(names) == n and all(x.endswith(":2,R") for x in names), \
        [x for x in names if not x.endswith(":2,R")][:3]
    srv.start()
    r = login_select(srv)
    r.send("f FETCH 1:* (FLAGS)\r\n")
    lines = r.until_tagged("f", timeout=60)[:-1]
    assert sum(1 for l in lines if "FLAGS (\\Answered)" in l) == n, lines[:3]
    r.close()
