"""The selected state: SELECT EXAMINE CLOSE UNSELECT CHECK EXPUNGE APPEND
FETCH (metadata items) STORE COPY MOVE UID IDLE, \\Recent and [UNSEEN],
UID stability across sessions and restarts, and what other sessions on the
same mailbox are told (RFC 9051 6.3-6.4, 7.5.1; RFC 3501; RFC 4315;
RFC 6851; RFC 3502; RFC 2177)."""
import os
import re
import statistics
import time
from datetime import datetime

import pytest

from conftest import Raw


# ---------------------------------------------------------------- helpers

@pytest.fixture
def login(server):
    """login(n=1, srv=server) -> a logged-in Raw (or a list of n).  The
    LOGINs are sent on every connection before any reply is read, so the
    password hashing runs on both workers at once."""
    made = []

    def make(n=1, srv=None, user="alice", password="wonderland"):
        srv = srv or server
        out = []
        for _ in range(n):
            r = Raw(srv.connect())
            made.append(r)
            g = r.line()
            assert g.startswith("* OK"), g
            r.send("l LOGIN %s %s\r\n" % (user, password))
            out.append(r)
        for r in out:
            lines = r.until_tagged("l", timeout=30)
            assert lines[-1].startswith("l OK"), lines
        return out[0] if n == 1 else out

    yield make
    for r in made:
        r.close()


def cmd(r, text, tag="t", timeout=10):
    if isinstance(text, str):
        text = text.encode()
    r.send(tag.encode() + b" " + text + b"\r\n")
    return r.until_tagged(tag, timeout=timeout)


def ok(r, text, tag="t"):
    lines = cmd(r, text, tag)
    assert lines[-1].startswith(tag + " OK"), lines
    return lines[:-1]


def no(r, text, code=None, tag="t"):
    lines = cmd(r, text, tag)
    assert lines[-1].startswith(tag + " NO"), lines
    if code:
        assert lines[-1].startswith("%s NO [%s" % (tag, code)), lines
    return lines


def bad(r, text, tag="t"):
    lines = cmd(r, text, tag)
    assert lines[-1].startswith(tag + " BAD"), lines
    return lines


def append(r, body, mailbox="INBOX", flags=None, date=None, tag="a"):
    """APPEND with a LITERAL+ literal; all lines up to the tagged reply."""
    if isinstance(body, str):
        body = body.encode()
    head = "%s APPEND %s" % (tag, mailbox)
    if flags is not None:
        head += " (%s)" % flags
    if date is not None:
        head += ' "%s"' % date
    r.send(head.encode() + b" {%d+}\r\n" % len(body) + body + b"\r\n")
    return r.until_tagged(tag)


def append_ok(r, body, mailbox="INBOX", flags=None, date=None):
    """APPEND that must succeed; returns (uidvalidity, uid)."""
    lines = append(r, body, mailbox, flags, date)
    m = re.match(r"a OK \[APPENDUID (\d+) (\d+)\]", lines[-1])
    assert m, lines
    return int(m.group(1)), int(m.group(2))


def msg(i):
    return "From: a@example.com\r\nSubject: message %d\r\n\r\nbody %d\r\n" % (i, i)


def fill(r, n, mailbox="INBOX", flags=None):
    """n messages into mailbox; their UIDs."""
    return [append_ok(r, msg(i), mailbox, flags)[1] for i in range(n)]


FETCH_RE = re.compile(r"\* (\d+) FETCH \((.*)\)$")
ITEM_RE = re.compile(r'(UID|RFC822\.SIZE) (\d+)|FLAGS \(([^)]*)\)|INTERNALDATE "([^"]*)"')


def parse_fetch(line):
    m = FETCH_RE.match(line)
    assert m, line
    items = {}
    for it in ITEM_RE.finditer(m.group(2)):
        if it.group(1):
            items[it.group(1)] = int(it.group(2))
        elif it.group(3) is not None:
            items["FLAGS"] = set(it.group(3).split())
        else:
            items["INTERNALDATE"] = it.group(4)
    return int(m.group(1)), items


def fetches(lines):
    """[(seq, items)] for the FETCH responses among lines, in order."""
    return [parse_fetch(ln) for ln in lines if FETCH_RE.match(ln)]


def expunges(lines):
    return [int(m.group(1)) for m in (re.match(r"\* (\d+) EXPUNGE$", ln) for ln in lines) if m]


def untagged_num(lines, word):
    """n from '* n WORD' (the last one), or None."""
    got = None
    for ln in lines:
        m = re.match(r"\* (\d+) %s$" % word, ln)
        if m:
            got = int(m.group(1))
    return got


def code_num(lines, code):
    for ln in lines:
        m = re.search(r"\[%s (\d+)\]" % code, ln)
        if m:
            return int(m.group(1))
    return None


def uid_seq(r):
    """The UIDs of the selected mailbox in sequence order."""
    f = fetches(ok(r, "UID FETCH 1:* UID"))
    assert [s for s, _ in f] == list(range(1, len(f) + 1)), f
    return [it["UID"] for _, it in f]


def apply_expunges(uids, seqs):
    """The UID list a client holds after the EXPUNGE responses seqs."""
    uids = list(uids)
    for s in seqs:
        assert 1 <= s <= len(uids), (s, uids)
        del uids[s - 1]
    return uids


def uid_set(text):
    out = []
    for part in text.split(","):
        if ":" in part:
            a, b = (int(x) for x in part.split(":"))
            out.extend(range(min(a, b), max(a, b) + 1))
        else:
            out.append(int(part))
    return out


def restart(srv):
    """Stop the daemon and start it again on the same data directory (the
    old log moves aside: start() looks for the ports in the log)."""
    srv.stop()
    n = 1
    while os.path.exists("%s.%d" % (srv.log_path, n)):
        n += 1
    os.rename(srv.log_path, "%s.%d" % (srv.log_path, n))
    srv.ports = {}
    srv.start()


def status(r, mailbox, items="MESSAGES UIDNEXT UIDVALIDITY"):
    line = [ln for ln in ok(r, "STATUS %s (%s)" % (mailbox, items))
            if ln.startswith("* STATUS ")][-1]
    m = re.match(r"\* STATUS \S+ \((.*)\)$", line)
    assert m, line
    toks = m.group(1).split()
    return {toks[i]: int(toks[i + 1]) for i in range(0, len(toks), 2)}


# ---------------------------------------------------------------- SELECT / EXAMINE

def check_select_lines(lines, exists, recent, uidnext, unseen=None, readonly=False,
                       keywords=()):
    tagged = lines[-1]
    flags = "\\Answered \\Flagged \\Deleted \\Seen \\Draft"
    if keywords:
        flags += " " + " ".join(keywords)
    perm = "" if readonly else flags + " \\*"
    want = [
        r"\* FLAGS \(%s\)$" % re.escape(flags),
        r"\* OK \[PERMANENTFLAGS \(%s\)\]" % re.escape(perm),
        r"\* %d EXISTS$" % exists,
        r"\* %d RECENT$" % recent,
        r"\* OK \[UIDVALIDITY [1-9]\d*\]",
        r"\* OK \[UIDNEXT %d\]" % uidnext,
    ]
    if unseen is not None:
        want.append(r"\* OK \[UNSEEN %d\]" % unseen)
    untagged = lines[:-1]
    assert len(untagged) == len(want), lines
    for pat in want:
        assert sum(1 for ln in untagged if re.match(pat, ln)) == 1, (pat, lines)
    code = "READ-ONLY" if readonly else "READ-WRITE"
    assert tagged.startswith("t OK [%s]" % code), lines
    return code_num(lines, "UIDVALIDITY")


def test_select_empty_inbox_exact(login):
    r = login()
    lines = cmd(r, "SELECT INBOX")
    check_select_lines(lines, exists=0, recent=0, uidnext=1)


def test_select_and_examine_with_messages_exact(login):
    r = login()
    v1, _ = append_ok(r, msg(1), flags="\\Seen")
    append_ok(r, msg(2), flags="\\Seen $Label1")
    append_ok(r, msg(3))
    lines = cmd(r, "SELECT inbox")  # INBOX is case-insensitive
    v = check_select_lines(lines, exists=3, recent=3, uidnext=4, unseen=3,
                           keywords=("$Label1",))
    assert v == v1
    lines = cmd(r, "EXAMINE INBOX")  # this session has claimed them: 0 RECENT
    assert check_select_lines(lines, exists=3, recent=0, uidnext=4, unseen=3,
                              readonly=True, keywords=("$Label1",)) == v1


def test_uidvalidity_stable_across_sessions_and_restart(server, login):
    a, b = login(2)
    va = code_num(ok(a, "SELECT INBOX"), "UIDVALIDITY")
    vb = code_num(ok(b, "EXAMINE INBOX"), "UIDVALIDITY")
    assert va == vb and va > 0
    vs = status(a, "Sent")["UIDVALIDITY"]
    ok(a, "CREATE Work")
    vw = status(a, "Work")["UIDVALIDITY"]
    append_ok(a, msg(1))
    restart(server)
    c = login()
    assert code_num(ok(c, "SELECT INBOX"), "UIDVALIDITY") == va
    assert status(c, "Sent")["UIDVALIDITY"] == vs
    assert status(c, "Work")["UIDVALIDITY"] == vw


def test_uidvalidity_changes_when_a_name_is_reused(login):
    r = login()
    ok(r, "CREATE Box")
    v1 = status(r, "Box")["UIDVALIDITY"]
    append_ok(r, msg(1), "Box")
    ok(r, "DELETE Box")
    ok(r, "CREATE Box")
    st = status(r, "Box")
    # RFC 9051 2.3.1.1: a new mailbox with the old name must not reuse
    # UIDVALIDITY with UIDs that could clash
    assert st["UIDVALIDITY"] != v1 or st["UIDNEXT"] > 1, st


def test_recent_semantics(login):
    a, b, c = login(3)
    fill(a, 3)
    assert status(c, "INBOX", "RECENT")["RECENT"] == 3
    # the first SELECT session gets them
    lines = ok(a, "SELECT INBOX")
    assert untagged_num(lines, "RECENT") == 3
    f = fetches(ok(a, "FETCH 1:* FLAGS"))
    assert len(f) == 3 and all("\\Recent" in it["FLAGS"] for _, it in f), f
    # a second session (and an EXAMINE after that) sees none
    lines = ok(b, "SELECT INBOX")
    assert untagged_num(lines, "RECENT") == 0
    f = fetches(ok(b, "FETCH 1:* FLAGS"))
    assert len(f) == 3 and not any("\\Recent" in it["FLAGS"] for _, it in f), f
    lines = ok(c, "EXAMINE INBOX")
    assert untagged_num(lines, "RECENT") == 0
    # the first session keeps its \Recent for as long as it is selected
    f = fetches(ok(a, "FETCH 1:* FLAGS"))
    assert all("\\Recent" in it["FLAGS"] for _, it in f), f
    # STATUS RECENT agrees
    assert status(c, "INBOX", "RECENT")["RECENT"] == 0
    # and it lasts: a new session of a's doesn't get them back
    ok(a, "CLOSE")
    assert untagged_num(ok(a, "SELECT INBOX"), "RECENT") == 0


def test_examine_sees_recent_without_claiming(login):
    """RFC 3501 2.3.2 \\Recent: "if the session is read-only, subsequent
    sessions will also see \\Recent set"; 6.3.2 EXAMINE: "MUST NOT cause
    messages to lose the \\Recent flag"."""
    a, c = login(2)
    fill(a, 3)
    lines = ok(c, "EXAMINE INBOX")
    f = fetches(ok(c, "FETCH 1:* FLAGS"))
    assert untagged_num(lines, "RECENT") == 3, lines
    assert all("\\Recent" in it["FLAGS"] for _, it in f), f
    ok(c, "CLOSE")
    assert status(c, "INBOX", "RECENT")["RECENT"] == 3
    assert untagged_num(ok(a, "SELECT INBOX"), "RECENT") == 3


def test_new_message_is_recent_to_one_session_only(login):
    a, b, c = login(3)
    ok(a, "SELECT INBOX")
    ok(b, "SELECT INBOX")
    append_ok(c, msg(1))
    la = ok(a, "NOOP")
    lb = ok(b, "NOOP")
    assert untagged_num(la, "EXISTS") == 1 and untagged_num(lb, "EXISTS") == 1, (la, lb)
    ra = untagged_num(la, "RECENT")
    rb = untagged_num(lb, "RECENT")
    assert sorted([ra, rb]) == [0, 1], (la, lb)
    fa = fetches(ok(a, "FETCH 1 FLAGS"))[0][1]["FLAGS"]
    fb = fetches(ok(b, "FETCH 1 FLAGS"))[0][1]["FLAGS"]
    assert ("\\Recent" in fa) != ("\\Recent" in fb), (fa, fb)
    assert ("\\Recent" in fa) == (ra == 1)


def test_unseen_code_is_first_unseen_sequence_number(login):
    r = login()
    append_ok(r, msg(1), flags="\\Seen")
    append_ok(r, msg(2))
    append_ok(r, msg(3), flags="\\Seen")
    append_ok(r, msg(4))
    assert code_num(ok(r, "SELECT INBOX"), "UNSEEN") == 2
    ok(r, "STORE 2 +FLAGS.SILENT (\\Seen)")
    assert code_num(ok(r, "SELECT INBOX"), "UNSEEN") == 4
    ok(r, "STORE 4 +FLAGS.SILENT (\\Seen)")
    # all seen: no [UNSEEN] at all
    lines = ok(r, "SELECT INBOX")
    assert code_num(lines, "UNSEEN") is None, lines
    ok(r, "STORE 1 -FLAGS.SILENT (\\Seen)")
    assert code_num(ok(r, "EXAMINE INBOX"), "UNSEEN") == 1


def test_imap4rev2_updates_have_no_recent(login):
    a, b = login(2)
    ok(b, "ENABLE IMAP4rev2")
    ok(b, "SELECT INBOX")
    append_ok(a, msg(1))
    lines = ok(b, "NOOP")
    assert lines == ["* 1 EXISTS"], lines
    ok(a, "SELECT INBOX")
    ok(a, "STORE 1 +FLAGS.SILENT (\\Seen)")
    assert ok(b, "NOOP") == ["* 1 FETCH (UID 1 FLAGS (\\Seen))"]


def test_imap4rev2_select(login):
    r = login()
    append_ok(r, msg(1))
    ok(r, "ENABLE IMAP4rev2")
    lines = ok(r, "SELECT INBOX")
    assert untagged_num(lines, "EXISTS") == 1
    assert not any(re.match(r"\* \d+ RECENT", ln) for ln in lines), lines
    assert code_num(lines, "UNSEEN") is None, lines
    assert '* LIST () "/" INBOX' in lines, lines
    f = fetches(ok(r, "FETCH 1 FLAGS"))
    assert "\\Recent" not in f[0][1]["FLAGS"]
    # re-SELECT: the old mailbox is closed first with OK [CLOSED]
    lines = ok(r, "EXAMINE Sent")
    assert lines[0].startswith("* OK [CLOSED]"), lines
    assert '* LIST () "/" Sent' in lines, lines
    # and a failing SELECT still closes the old one
    lines = no(r, "SELECT Nope", "NONEXISTENT")
    assert lines[0].startswith("* OK [CLOSED]"), lines
    bad(r, "FETCH 1 FLAGS")


def test_failed_select_deselects(login):
    r = login()
    append_ok(r, msg(1))
    ok(r, "SELECT INBOX")
    lines = no(r, "SELECT Nope", "NONEXISTENT")
    assert not any("CLOSED" in ln for ln in lines), lines  # rev1 client
    lines = bad(r, "FETCH 1 FLAGS")
    lines = bad(r, "EXPUNGE")


def test_reselect_does_not_expunge(login):
    r = login()
    fill(r, 2)
    ok(r, "SELECT INBOX")
    ok(r, "STORE 1 +FLAGS.SILENT (\\Deleted)")
    lines = ok(r, "SELECT INBOX")
    assert untagged_num(lines, "EXISTS") == 2, lines
    assert not expunges(lines)


def test_select_invalid_names_no(login):
    r = login()
    ok(r, "CREATE Work/Child")
    ok(r, "DELETE Work")  # Work stays as \Noselect: it has a child
    for name in ['""', "Nope", "../INBOX", "INBOX/../INBOX", "a//b", "/INBOX", "&Jjo",
                 '"' + "x" * 2000 + '"', "Work", "INBOX/"]:
        ok(r, "SELECT INBOX")
        for verb in ("SELECT", "EXAMINE"):
            lines = no(r, "%s %s" % (verb, name))
            assert re.match(r"t NO \[[A-Z-]+\]", lines[-1]), lines  # RFC 5530 code
            bad(r, "FETCH 1 FLAGS")  # a failed SELECT leaves no mailbox selected
    ok(r, "NOOP")


def test_select_syntax_errors_bad(login):
    r = login()
    bad(r, "SELECT")
    bad(r, "SELECT INBOX extra")
    bad(r, "EXAMINE")
    ok(r, "SELECT INBOX")
    bad(r, "CLOSE now")
    bad(r, "UNSELECT x")
    bad(r, "EXPUNGE 1")
    bad(r, "CHECK x")
    ok(r, "CHECK")
    ok(r, "NOOP")


# ---------------------------------------------------------------- APPEND

def test_append_flags_and_appenduid(login):
    r = login()
    v, u1 = append_ok(r, msg(1), flags="\\Seen \\Flagged")
    _, u2 = append_ok(r, msg(2), flags="")
    _, u3 = append_ok(r, msg(3), flags="\\Answered \\Draft \\Deleted")
    assert (u1, u2, u3) == (1, 2, 3)
    body = msg(4).encode()  # a synchronizing literal
    r.send(b"a APPEND INBOX (\\Seen) {%d}\r\n" % len(body))
    assert r.line().startswith("+")
    r.send(body + b"\r\n")
    assert r.until_tagged("a")[-1].startswith("a OK [APPENDUID %d 4]" % v)
    assert v == status(r, "INBOX")["UIDVALIDITY"]
    ok(r, "EXAMINE INBOX")
    f = fetches(ok(r, "FETCH 1:4 FLAGS"))
    assert [it["FLAGS"] - {"\\Recent"} for _, it in f] == [
        {"\\Seen", "\\Flagged"}, set(), {"\\Answered", "\\Draft", "\\Deleted"}, {"\\Seen"}]


def test_append_internaldate_roundtrip(login):
    r = login()
    dates = ["05-Mar-2021 14:30:00 +0200", " 7-Nov-1999 23:59:59 -0730",
             "29-Feb-2024 00:00:00 +0000"]
    for d in dates:
        append_ok(r, msg(1), date=d)
    ok(r, "SELECT INBOX")
    f = fetches(ok(r, "FETCH 1:* INTERNALDATE"))
    assert len(f) == 3
    fmt = "%d-%b-%Y %H:%M:%S %z"
    for (_, it), d in zip(f, dates):
        assert datetime.strptime(it["INTERNALDATE"].strip(), fmt) == \
            datetime.strptime(d.strip(), fmt), (it, d)
    # without a date: about now
    append_ok(r, msg(1))
    it = fetches(ok(r, "FETCH 4 (INTERNALDATE)"))[0][1]
    t = datetime.strptime(it["INTERNALDATE"].strip(), fmt).timestamp()
    assert abs(t - time.time()) < 120, it


def test_append_invalid_date_bad(login):
    r = login()
    for date in ["31-Feb-2021 10:00:00 +0000", "05-Foo-2021 10:00:00 +0000",
                 "05-Mar-2021 24:00:00 +0000", "05-Mar-2021 10:00:00",
                 "2021-03-05T10:00:00Z", "5-Mar-2021 10:00:00 +0000", ""]:
        lines = append(r, msg(1), date=date)
        assert lines[-1].startswith("a BAD"), (date, lines)
    assert status(r, "INBOX")["MESSAGES"] == 0


def test_append_keywords_persist_across_reconnect(server, login):
    r = login()
    append_ok(r, msg(1), flags="\\Flagged $Label1 Project-X")
    append_ok(r, msg(2), flags="$label1")
    r.send("z LOGOUT\r\n")
    r.until_tagged("z")
    r = login()
    lines = ok(r, "SELECT INBOX")
    flags_line = [ln for ln in lines if ln.startswith("* FLAGS")][0]
    assert "$Label1" in flags_line and "Project-X" in flags_line, lines
    f = fetches(ok(r, "FETCH 1:2 FLAGS"))
    assert f[0][1]["FLAGS"] - {"\\Recent"} == {"\\Flagged", "$Label1", "Project-X"}, f
    # keywords are case-insensitive: one keyword, however it was spelled
    assert {k.lower() for k in f[1][1]["FLAGS"] - {"\\Recent"}} == {"$label1"}, f
    restart(server)
    r = login()
    ok(r, "SELECT INBOX")
    f = fetches(ok(r, "FETCH 1 FLAGS"))
    assert f[0][1]["FLAGS"] - {"\\Recent"} == {"\\Flagged", "$Label1", "Project-X"}, f


def test_append_bad_flags(login):
    r = login()
    for fl in ("\\Bogus", "\\Seen \\Bogus", "(nested)", '"quoted"', "a[b"):
        lines = append(r, msg(1), flags=fl)
        assert lines[-1].startswith("a BAD"), (fl, lines)
    assert status(r, "INBOX")["MESSAGES"] == 0
    # \Recent can't be set by APPEND: refused, or accepted without effect
    lines = append(r, msg(1), flags="\\Recent")
    assert lines[-1].startswith("a BAD") or lines[-1].startswith("a OK"), lines
    ok(r, "SELECT INBOX")
    ok(r, "SELECT INBOX")  # the second SELECT sees nothing \Recent
    assert not any("\\Recent" in it["FLAGS"] for _, it in fetches(ok(r, "UID FETCH 1:* FLAGS")))


def test_multiappend(login):
    r = login()
    b1, b2, b3 = (msg(i).encode() for i in range(3))
    r.send(b'a APPEND INBOX (\\Seen) {%d+}\r\n%s {%d+}\r\n%s (\\Flagged) "01-Jan-2020 00:00:00 +0000" {%d+}\r\n%s\r\n'
           % (len(b1), b1, len(b2), b2, len(b3), b3))
    lines = r.until_tagged("a")
    m = re.match(r"a OK \[APPENDUID (\d+) (\S+)\]", lines[-1])
    assert m, lines
    assert uid_set(m.group(2)) == [1, 2, 3], lines
    ok(r, "EXAMINE INBOX")
    f = fetches(ok(r, "FETCH 1:* (FLAGS INTERNALDATE)"))
    assert [it["FLAGS"] - {"\\Recent"} for _, it in f] == [{"\\Seen"}, set(), {"\\Flagged"}]
    assert f[2][1]["INTERNALDATE"].startswith("01-Jan-2020 00:00:00")


def test_multiappend_all_or_nothing(login):
    r = login()
    b1 = msg(1).encode()
    # second message: invalid date -> BAD, nothing appended
    r.send(b'a APPEND INBOX {%d+}\r\n%s "99-Jan-2020 00:00:00 +0000" {%d+}\r\n%s\r\n'
           % (len(b1), b1, len(b1), b1))
    lines = r.until_tagged("a")
    assert lines[-1].startswith("a BAD"), lines
    # second message empty -> refused, nothing appended
    r.send(b'a APPEND INBOX {%d+}\r\n%s {0+}\r\n\r\n' % (len(b1), b1))
    lines = r.until_tagged("a")
    assert lines[-1].startswith("a NO") or lines[-1].startswith("a BAD"), lines
    st = status(r, "INBOX")
    assert st["MESSAGES"] == 0, st
    # and the UIDs weren't burned either? (not required; just no messages)
    ok(r, "SELECT INBOX")
    assert uid_seq(r) == []


def test_multiappend_many_then_expunge_every_third(login):
    r = login()
    bodies = [msg(i).encode() for i in range(30)]
    data = b"a APPEND INBOX" + b"".join(b" {%d+}\r\n%s" % (len(b), b) for b in bodies) + b"\r\n"
    r.send(data)
    lines = r.until_tagged("a")
    m = re.match(r"a OK \[APPENDUID \d+ (\S+)\]", lines[-1])
    assert m and uid_set(m.group(1)) == list(range(1, 31)), lines
    ok(r, "SELECT INBOX")
    ok(r, "STORE %s +FLAGS.SILENT (\\Deleted)" % ",".join(str(i) for i in range(3, 31, 3)))
    lines = ok(r, "EXPUNGE")
    want = [u for u in range(1, 31) if u % 3]
    assert apply_expunges(range(1, 31), expunges(lines)) == want, lines
    assert uid_seq(r) == want
    f = fetches(ok(r, "FETCH 20:* (UID)"))
    assert [(s, it["UID"]) for s, it in f] == [(s, want[s - 1]) for s in range(20, 21)], f


def test_append_to_missing_mailbox_trycreate(login):
    r = login()
    lines = append(r, msg(1), mailbox="Nope")
    assert lines[-1].startswith("a NO [TRYCREATE]"), lines
    lines = append(r, msg(1), mailbox="Nope/Deeper")
    assert lines[-1].startswith("a NO [TRYCREATE]"), lines
    # a \Noselect parent can't take messages either
    ok(r, "CREATE P/C")
    ok(r, "DELETE P")
    lines = append(r, msg(1), mailbox="P")
    assert lines[-1].startswith("a NO"), lines
    assert status(r, "P/C")["MESSAGES"] == 0


def test_append_zero_length_refused_with_code(login):
    r = login()
    r.send(b"a APPEND INBOX {0+}\r\n\r\n")
    lines = r.until_tagged("a")
    assert lines[-1].startswith("a NO [") or lines[-1].startswith("a BAD"), lines


def test_append_zero_length_refused(login):
    r = login()
    r.send(b"a APPEND INBOX {0+}\r\n\r\n")
    lines = r.until_tagged("a")
    assert lines[-1].startswith("a NO") or lines[-1].startswith("a BAD"), lines
    assert status(r, "INBOX")["MESSAGES"] == 0
    ok(r, "NOOP")


def test_append_8bit_and_binary_bodies(server, login):
    r = login()
    eightbit = "Subject: caf\u00e9\r\n\r\nna\u00efve \u65e5\u672c\r\n".encode("utf-8")
    # every byte but NUL, CR and LF, on CRLF-terminated lines
    binary = b"Subject: bin\r\n\r\n" + bytes(b for b in range(1, 256) if b not in (10, 13)) + b"\r\n" \
        + bytes(range(255, 0, -1)).replace(b"\r", b"").replace(b"\n", b"") + b"\r\n"
    append_ok(r, eightbit)
    append_ok(r, binary)
    ok(r, "SELECT INBOX")
    f = fetches(ok(r, "FETCH 1:2 RFC822.SIZE"))
    assert [it["RFC822.SIZE"] for _, it in f] == [len(eightbit), len(binary)], f
    # the bytes reach the disk intact (line ends may be stored as LF)
    found = set()
    for root, _, files in os.walk(server.dir):
        for fn in files:
            try:
                with open(os.path.join(root, fn), "rb") as fh:
                    data = fh.read()
            except OSError:
                continue
            for name, body in (("8bit", eightbit), ("bin", binary)):
                if body.replace(b"\r\n", b"\n") == data.replace(b"\r\n", b"\n"):
                    found.add(name)
    assert found == {"8bit", "bin"}, found


def test_append_in_selected_state_reports_exists(login):
    r = login()
    ok(r, "SELECT INBOX")
    lines = append(r, msg(1))
    assert untagged_num(lines, "EXISTS") == 1, lines
    assert lines[-1].startswith("a OK [APPENDUID")
    # to another mailbox: no EXISTS for the selected one
    lines = append(r, msg(1), mailbox="Sent")
    assert untagged_num(lines, "EXISTS") is None, lines


# ---------------------------------------------------------------- FETCH

def test_fetch_by_sequence(login):
    r = login()
    fill(r, 5)
    ok(r, "SELECT INBOX")

    def seqs(text):
        return [s for s, _ in fetches(ok(r, "FETCH %s (UID)" % text))]
    assert seqs("1:3") == [1, 2, 3]
    assert sorted(seqs("3:1")) == [1, 2, 3]
    assert seqs("*") == [5]
    assert sorted(seqs("4:*")) == [4, 5]
    assert sorted(seqs("*:4")) == [4, 5]
    assert sorted(seqs("1,3,5")) == [1, 3, 5]
    assert sorted(set(seqs("1:2,2:3,1"))) == [1, 2, 3]
    assert sorted(seqs("1:*")) == [1, 2, 3, 4, 5]
    for text in ("6", "1:6", "6:*", "0", "0:3", "1,0", "-1", "1:", ":1", "1::2",
                 "a", "1,,2", "4294967296", "4294967294", "6:4294967294",
                 "99999999999999999999"):
        bad(r, "FETCH %s (UID)" % text)
    # FETCH response items
    it = fetches(ok(r, "FETCH 2 (UID FLAGS INTERNALDATE RFC822.SIZE)"))[0][1]
    assert set(it) == {"UID", "FLAGS", "INTERNALDATE", "RFC822.SIZE"}
    assert it["UID"] == 2 and it["RFC822.SIZE"] == len(msg(1))
    it = fetches(ok(r, "FETCH 2 FAST"))[0][1]
    assert set(it) == {"FLAGS", "INTERNALDATE", "RFC822.SIZE"}
    bad(r, "FETCH 1 ()")
    bad(r, "FETCH 1")
    bad(r, "FETCH 1 (BOGUS)")
    ok(r, "NOOP")


def test_fetch_by_uid(login):
    r = login()
    fill(r, 6)
    ok(r, "SELECT INBOX")
    ok(r, "STORE 2,4 +FLAGS.SILENT (\\Deleted)")
    ok(r, "EXPUNGE")
    assert uid_seq(r) == [1, 3, 5, 6]

    def uids(text):
        f = fetches(ok(r, "UID FETCH %s FLAGS" % text))
        for s, it in f:
            assert "UID" in it  # RFC 9051 6.4.9: UID FETCH always includes UID
        return sorted((it["UID"], s) for s, it in f)
    assert uids("1:4") == [(1, 1), (3, 2)]
    assert uids("4:1") == [(1, 1), (3, 2)]
    assert uids("2") == []
    assert uids("100:200") == []
    assert uids("7") == []
    # n:* always includes the highest UID, even with n beyond it (RFC 9051 6.4.9)
    assert uids("100:*") == [(6, 4)]
    assert uids("*") == [(6, 4)]
    assert uids("1:*") == [(1, 1), (3, 2), (5, 3), (6, 4)]
    assert uids("1:4294967295") == [(1, 1), (3, 2), (5, 3), (6, 4)]
    bad(r, "UID FETCH 0 FLAGS")
    bad(r, "UID FETCH 4294967296 FLAGS")
    ok(r, "NOOP")


def test_huge_sequence_sets(login):
    r = login()
    fill(r, 3)
    ok(r, "SELECT INBOX")
    # a long list of ranges (under the line limit): answered, connection lives
    text = ",".join("%d:%d" % (i % 3 + 1, 3 - i % 3) for i in range(5000))
    lines = cmd(r, "FETCH %s (UID)" % text)
    assert lines[-1].startswith("t OK") or lines[-1].startswith("t BAD"), lines[-1]
    if lines[-1].startswith("t OK"):
        assert {s for s, _ in fetches(lines)} == {1, 2, 3}
    text = ",".join(str(i) for i in range(1, 8000))
    bad(r, "FETCH %s (UID)" % text)  # 4..7999 don't exist
    lines = cmd(r, "UID FETCH %s (UID)" % text)
    assert lines[-1].startswith("t OK") or lines[-1].startswith("t BAD"), lines[-1]
    if lines[-1].startswith("t OK"):
        assert sorted(it["UID"] for _, it in fetches(lines)) == [1, 2, 3]
    bad(r, "FETCH %s (UID)" % ",".join(["1"] * 15000))  # too many ranges
    lines = cmd(r, "UID STORE 1:4294967295 +FLAGS.SILENT (\\Flagged)")
    assert lines[-1].startswith("t OK"), lines
    f = fetches(ok(r, "FETCH 1:* FLAGS"))
    assert all("\\Flagged" in it["FLAGS"] for _, it in f), f
    ok(r, "NOOP")


# ---------------------------------------------------------------- STORE

def test_store_modes(login):
    r = login()
    fill(r, 3)
    ok(r, "SELECT INBOX")

    def flags(lines):
        return {s: it["FLAGS"] - {"\\Recent"} for s, it in fetches(lines)}
    assert flags(ok(r, "STORE 1 FLAGS (\\Seen \\Flagged)")) == {1: {"\\Seen", "\\Flagged"}}
    assert flags(ok(r, "STORE 1 +FLAGS (\\Answered)")) == {1: {"\\Seen", "\\Flagged", "\\Answered"}}
    assert flags(ok(r, "STORE 1 -FLAGS (\\Seen \\Draft)")) == {1: {"\\Flagged", "\\Answered"}}
    assert flags(ok(r, "STORE 1 FLAGS ()")) == {1: set()}
    # flags as bare atoms (no list)
    assert flags(ok(r, "STORE 1:2 +FLAGS \\Seen \\Draft")) == {1: {"\\Seen", "\\Draft"},
                                                             2: {"\\Seen", "\\Draft"}}
    # unchanged messages are reported too (RFC 9051 6.4.6)
    assert flags(ok(r, "STORE 1:3 +FLAGS (\\Seen)")) == {
        1: {"\\Seen", "\\Draft"}, 2: {"\\Seen", "\\Draft"}, 3: {"\\Seen"}}
    # the \Recent flag stays in the FETCH response
    f = fetches(ok(r, "STORE 3 FLAGS (\\Flagged)"))
    assert f[0][1]["FLAGS"] == {"\\Flagged", "\\Recent"}, f
    # .SILENT: no FETCH, but the change is made
    assert ok(r, "STORE 1:3 FLAGS.SILENT (\\Deleted)") == []
    assert ok(r, "STORE 2 -FLAGS.SILENT (\\Deleted)") == []
    assert ok(r, "STORE 3 +FLAGS.SILENT (\\Seen)") == []
    assert flags(ok(r, "FETCH 1:3 FLAGS")) == {1: {"\\Deleted"}, 2: set(),
                                               3: {"\\Deleted", "\\Seen"}}
    # UID STORE: FETCH carries UID
    f = fetches(ok(r, "UID STORE 2 +FLAGS (\\Flagged)"))
    assert f == [(2, {"UID": 2, "FLAGS": {"\\Flagged", "\\Recent"}})], f
    assert ok(r, "UID STORE 2 +FLAGS.SILENT (\\Seen)") == []
    assert ok(r, "UID STORE 99 +FLAGS (\\Seen)") == []
    bad(r, "STORE 4 +FLAGS (\\Seen)")
    bad(r, "STORE 1 FLAGZ (\\Seen)")
    bad(r, "STORE 1 +FLAGS.LOUD (\\Seen)")
    bad(r, "STORE 1 +FLAGS")
    bad(r, "STORE 1")


def test_store_keywords(login):
    r = login()
    fill(r, 2)
    lines = ok(r, "SELECT INBOX")
    f = fetches(ok(r, "STORE 1 +FLAGS ($Forwarded Junk my-tag)"))
    assert f[0][1]["FLAGS"] - {"\\Recent"} == {"$Forwarded", "Junk", "my-tag"}, f
    f = fetches(ok(r, "STORE 1 -FLAGS (Junk)"))
    assert f[0][1]["FLAGS"] - {"\\Recent"} == {"$Forwarded", "my-tag"}, f
    f = fetches(ok(r, "STORE 2 FLAGS (\\Seen my-tag)"))
    assert f[0][1]["FLAGS"] - {"\\Recent"} == {"\\Seen", "my-tag"}, f
    for kw in ("a[b", "x]", "%", "*", '"q"', "\\Bogus", "(a)"):
        bad(r, "STORE 1 +FLAGS (%s)" % kw)
    # the keywords show up in a new SELECT's FLAGS and PERMANENTFLAGS
    lines = ok(r, "SELECT INBOX")
    fl = [ln for ln in lines if ln.startswith("* FLAGS")][0]
    pf = [ln for ln in lines if "PERMANENTFLAGS" in ln][0]
    for kw in ("$Forwarded", "my-tag"):
        assert kw in fl and kw in pf, lines


def test_many_keywords_persist_across_restart(server, login):
    """More keywords than Maildir's 26 filename letters."""
    r = login()
    fill(r, 2)
    ok(r, "SELECT INBOX")
    kws = {"kw%02d" % i for i in range(40)}
    ok(r, "STORE 1 +FLAGS.SILENT (%s)" % " ".join(sorted(kws)))
    ok(r, "STORE 2 +FLAGS.SILENT (kw39 \\Seen)")
    f = fetches(ok(r, "FETCH 1:2 FLAGS"))
    assert f[0][1]["FLAGS"] - {"\\Recent"} == kws, f
    restart(server)
    r = login()
    ok(r, "SELECT INBOX")
    f = fetches(ok(r, "FETCH 1:2 FLAGS"))
    assert f[0][1]["FLAGS"] == kws, f
    assert f[1][1]["FLAGS"] == {"kw39", "\\Seen"}, f


def test_keyword_limit_per_message(login):
    r = login()
    fill(r, 1)
    ok(r, "SELECT INBOX")
    ok(r, "STORE 1 +FLAGS.SILENT (%s)" % " ".join("k%d" % i for i in range(100)))
    lines = cmd(r, "STORE 1 +FLAGS.SILENT (one-too-many)")
    f = fetches(ok(r, "FETCH 1 FLAGS"))
    assert len(f[0][1]["FLAGS"] - {"\\Recent"}) <= 100, f
    assert lines[-1].startswith("t NO [LIMIT]"), lines


def test_store_bogus_system_flag_bad(login):
    r = login()
    fill(r, 1)
    ok(r, "SELECT INBOX")
    bad(r, "STORE 1 +FLAGS (\\Bogus)")
    bad(r, "STORE 1 FLAGS (\\Seen \\Bogus)")
    f = fetches(ok(r, "FETCH 1 FLAGS"))
    assert f[0][1]["FLAGS"] == {"\\Recent"}, f  # nothing applied


def test_recent_cannot_be_stored(login):
    a, b = login(2)
    fill(a, 1)
    ok(a, "SELECT INBOX")
    ok(b, "SELECT INBOX")  # b doesn't have it as \Recent
    for text in ("+FLAGS (\\Recent)", "FLAGS (\\Recent \\Seen)"):
        lines = cmd(b, "STORE 1 %s" % text)
        assert lines[-1].startswith("t OK") or lines[-1].startswith("t BAD"), lines
    f = fetches(ok(b, "FETCH 1 FLAGS"))
    assert "\\Recent" not in f[0][1]["FLAGS"], f
    # and a's can't be removed
    lines = cmd(a, "STORE 1 -FLAGS (\\Recent)")
    assert lines[-1].startswith("t OK") or lines[-1].startswith("t BAD"), lines
    lines = cmd(a, "STORE 1 FLAGS ()")
    f = fetches(ok(a, "FETCH 1 FLAGS"))
    assert "\\Recent" in f[0][1]["FLAGS"], f
    assert status(b, "INBOX", "RECENT")["RECENT"] in (0, 1)


def test_examine_is_read_only(login):
    r = login()
    fill(r, 2)
    ok(r, "EXAMINE INBOX")
    no(r, "STORE 1 +FLAGS (\\Seen)", "READ-ONLY")
    no(r, "UID STORE 1 +FLAGS (\\Seen)", "READ-ONLY")
    no(r, "MOVE 1 Sent", "READ-ONLY")
    no(r, "EXPUNGE", "READ-ONLY")
    no(r, "UID EXPUNGE 1", "READ-ONLY")
    # COPY from a read-only mailbox is fine
    assert ok(r, "COPY 1 Sent") == []
    # CLOSE in EXAMINE doesn't expunge
    ok(r, "CLOSE")
    ok(r, "SELECT INBOX")
    ok(r, "STORE 1 +FLAGS.SILENT (\\Deleted)")
    ok(r, "EXAMINE INBOX")
    ok(r, "CLOSE")
    assert status(r, "INBOX")["MESSAGES"] == 2
    # nothing changed flags
    ok(r, "EXAMINE INBOX")
    f = fetches(ok(r, "FETCH 1:2 FLAGS"))
    assert [it["FLAGS"] - {"\\Recent"} for _, it in f] == [{"\\Deleted"}, set()]


# ---------------------------------------------------------------- EXPUNGE / CLOSE / UNSELECT

def test_expunge_only_deleted(login):
    r = login()
    fill(r, 6)
    ok(r, "SELECT INBOX")
    ok(r, "STORE 2,4,6 +FLAGS.SILENT (\\Deleted)")
    before = uid_seq(r)
    lines = ok(r, "EXPUNGE")
    assert len(expunges(lines)) == 3, lines
    assert apply_expunges(before, expunges(lines)) == [1, 3, 5]
    assert uid_seq(r) == [1, 3, 5]
    assert ok(r, "EXPUNGE") == []
    assert status(r, "INBOX")["MESSAGES"] == 3


def test_uid_expunge_only_within_set(login):
    r = login()
    fill(r, 6)
    ok(r, "SELECT INBOX")
    ok(r, "STORE 1:5 +FLAGS.SILENT (\\Deleted)")
    lines = ok(r, "UID EXPUNGE 2:3,6,100:200")
    assert apply_expunges([1, 2, 3, 4, 5, 6], expunges(lines)) == [1, 4, 5, 6], lines
    assert uid_seq(r) == [1, 4, 5, 6]
    f = fetches(ok(r, "FETCH 1:* FLAGS"))
    assert ["\\Deleted" in it["FLAGS"] for _, it in f] == [True, True, True, False]
    lines = ok(r, "UID EXPUNGE 5:*")
    assert apply_expunges([1, 4, 5, 6], expunges(lines)) == [1, 4, 6], lines
    bad(r, "UID EXPUNGE")
    bad(r, "UID EXPUNGE 0")
    bad(r, "UID EXPUNGE x")


def test_close_expunges_silently_unselect_does_not(login):
    r = login()
    fill(r, 4)
    ok(r, "SELECT INBOX")
    ok(r, "STORE 1,3 +FLAGS.SILENT (\\Deleted)")
    assert ok(r, "UNSELECT") == []
    assert status(r, "INBOX")["MESSAGES"] == 4
    bad(r, "FETCH 1 FLAGS")
    ok(r, "SELECT INBOX")
    lines = ok(r, "CLOSE")
    assert lines == [], lines  # no EXPUNGE responses
    bad(r, "FETCH 1 FLAGS")
    bad(r, "CLOSE")
    bad(r, "UNSELECT")
    ok(r, "SELECT INBOX")
    assert uid_seq(r) == [2, 4]


def test_close_after_another_session_expunged(login):
    a, b = login(2)
    fill(a, 3)
    ok(a, "SELECT INBOX")
    ok(b, "SELECT INBOX")
    ok(a, "STORE 2 +FLAGS.SILENT (\\Deleted)")
    ok(a, "EXPUNGE")
    assert ok(b, "CLOSE") == []  # the pending EXPUNGE isn't sent after CLOSE
    ok(b, "SELECT INBOX")
    assert uid_seq(b) == [1, 3]


# ---------------------------------------------------------------- COPY / MOVE

def test_copy_copyuid(login):
    r = login()
    fill(r, 5)
    ok(r, "SELECT INBOX")
    ok(r, "STORE 2 +FLAGS.SILENT (\\Flagged $Work)")
    vs = status(r, "Sent")["UIDVALIDITY"]
    lines = cmd(r, "COPY 2,4 Sent")
    assert lines[-1].startswith("t OK [COPYUID %d 2,4 1:2]" % vs), lines
    lines = cmd(r, "COPY 4,2 Sent")
    assert lines[-1].startswith("t OK [COPYUID %d 2,4 3:4]" % vs), lines
    lines = cmd(r, "UID COPY 5,1 Sent")
    m = re.match(r"t OK \[COPYUID (\d+) (\S+) (\S+)\]", lines[-1])
    assert m and int(m.group(1)) == vs, lines
    src, dst = uid_set(m.group(2)), uid_set(m.group(3))
    assert sorted(zip(src, dst)) == [(1, 5), (5, 6)], lines
    lines = cmd(r, "UID COPY 100:200 Sent")
    assert lines[-1].startswith("t OK") and "COPYUID" not in lines[-1], lines
    # source untouched, flags copied, copies are \Recent in the target
    assert uid_seq(r) == [1, 2, 3, 4, 5]
    ok(r, "EXAMINE Sent")
    f = fetches(ok(r, "FETCH 1:* (UID FLAGS RFC822.SIZE)"))
    assert [it["UID"] for _, it in f] == [1, 2, 3, 4, 5, 6]
    assert f[0][1]["FLAGS"] - {"\\Recent"} == {"\\Flagged", "$Work"}, f
    assert f[1][1]["FLAGS"] - {"\\Recent"} == set(), f
    assert all(it["RFC822.SIZE"] == len(msg(1)) for _, it in f)


def test_copy_to_missing_mailbox_trycreate(login):
    r = login()
    fill(r, 1)
    ok(r, "SELECT INBOX")
    no(r, "COPY 1 Nope", "TRYCREATE")
    no(r, "UID COPY 1 Nope", "TRYCREATE")
    no(r, "MOVE 1 Nope", "TRYCREATE")
    no(r, "UID MOVE 1 Nope", "TRYCREATE")
    assert uid_seq(r) == [1]
    bad(r, "COPY 2 Sent")
    bad(r, "COPY 1")
    bad(r, "MOVE 0 Sent")


def test_copy_to_self(login):
    r = login()
    fill(r, 2)
    ok(r, "SELECT INBOX")
    v = status(r, "INBOX")["UIDVALIDITY"]
    lines = cmd(r, "COPY 1:2 INBOX")
    assert lines[-1].startswith("t OK [COPYUID %d 1:2 3:4]" % v), lines
    assert untagged_num(lines, "EXISTS") in (None, 4)
    assert uid_seq(r) == [1, 2, 3, 4]


def test_move(login):
    r = login()
    fill(r, 5)
    ok(r, "SELECT INBOX")
    vt = status(r, "Trash")["UIDVALIDITY"]
    lines = ok(r, "MOVE 2:3 Trash")
    # RFC 6851 4.3: untagged OK [COPYUID] before the EXPUNGEs
    assert lines[0].startswith("* OK [COPYUID %d 2:3 1:2]" % vt), lines
    assert all(re.match(r"\* \d+ EXPUNGE$", ln) for ln in lines[1:]), lines
    assert apply_expunges([1, 2, 3, 4, 5], expunges(lines)) == [1, 4, 5]
    assert uid_seq(r) == [1, 4, 5]
    lines = ok(r, "UID MOVE 5,1 Trash")
    m = re.match(r"\* OK \[COPYUID (\d+) (\S+) (\S+)\]", lines[0])
    assert m and int(m.group(1)) == vt, lines
    assert sorted(zip(uid_set(m.group(2)), uid_set(m.group(3)))) == [(1, 3), (5, 4)], lines
    assert apply_expunges([1, 4, 5], expunges(lines)) == [4], lines
    lines = ok(r, "UID MOVE 100:200 Trash")
    assert not expunges(lines) and not any("COPYUID" in ln for ln in lines), lines
    assert status(r, "Trash")["MESSAGES"] == 4
    assert status(r, "INBOX")["MESSAGES"] == 1


def test_move_seen_by_other_session(login):
    a, b = login(2)
    fill(a, 3)
    ok(a, "SELECT INBOX")
    ok(b, "SELECT INBOX")
    ok(a, "MOVE 1 Trash")
    lines = ok(b, "NOOP")
    assert expunges(lines) == [1], lines
    assert uid_seq(b) == [2, 3]


def test_selected_mailbox_deleted_or_renamed_by_other_session(login):
    a, b = login(2)
    ok(a, "CREATE Box")
    fill(a, 2, "Box")
    ok(a, "SELECT Box")
    ok(b, "DELETE Box")
    # a's session survives: whatever it is told, it can go on
    for text in ("NOOP", "FETCH 1:* FLAGS", "STORE 1 +FLAGS (\\Seen)", "UID FETCH 1:* FLAGS",
                 "EXPUNGE", "CHECK"):
        lines = cmd(a, text)
        assert re.match(r"t (OK|NO)", lines[-1]), (text, lines)
    lines = cmd(a, "CLOSE")
    assert re.match(r"t (OK|NO)", lines[-1]), lines
    ok(a, "SELECT INBOX")
    # a rename: the session follows the mailbox to its new name
    ok(b, "CREATE Old")
    ok(a, "SELECT Old")
    ok(b, "RENAME Old New")
    append_ok(b, msg(1), "New")
    assert untagged_num(ok(a, "NOOP"), "EXISTS") == 1


# ---------------------------------------------------------------- UIDs

def test_uids_never_reused(server, login):
    r = login()
    assert fill(r, 3) == [1, 2, 3]
    ok(r, "SELECT INBOX")
    ok(r, "STORE 3 +FLAGS.SILENT (\\Deleted)")
    ok(r, "EXPUNGE")
    assert code_num(ok(r, "SELECT INBOX"), "UIDNEXT") == 4
    assert append_ok(r, msg(4))[1] == 4
    ok(r, "STORE 3 +FLAGS.SILENT (\\Deleted)")
    ok(r, "EXPUNGE")
    ok(r, "UNSELECT")
    assert status(r, "INBOX")["UIDNEXT"] == 5
    restart(server)
    r = login()
    lines = ok(r, "SELECT INBOX")
    assert code_num(lines, "UIDNEXT") == 5, lines
    assert append_ok(r, msg(5))[1] == 5
    assert uid_seq(r) == [1, 2, 5]
    # an emptied mailbox doesn't start over either
    ok(r, "STORE 1:* +FLAGS.SILENT (\\Deleted)")
    ok(r, "CLOSE")
    restart(server)
    r = login()
    assert status(r, "INBOX")["UIDNEXT"] == 6
    assert append_ok(r, msg(6))[1] == 6


def test_uidnext_monotonic(login):
    a, b = login(2)
    seen = []
    ok(b, "SELECT INBOX")
    for i in range(4):
        _, uid = append_ok(a, msg(i))
        seen.append(status(a, "INBOX")["UIDNEXT"])
        assert seen[-1] == uid + 1
        ok(b, "STORE 1:* +FLAGS.SILENT (\\Deleted)")
        ok(b, "EXPUNGE")
        seen.append(status(a, "INBOX")["UIDNEXT"])
        seen.append(code_num(ok(a, "EXAMINE INBOX"), "UIDNEXT"))
        ok(a, "UNSELECT")
    assert seen == sorted(seen) and seen[-1] == 5, seen
    # COPY and MOVE into a mailbox advance its UIDNEXT too
    fill(a, 2)
    before = status(a, "Trash")["UIDNEXT"]
    ok(b, "NOOP")
    ok(b, "MOVE 1 Trash")
    ok(b, "COPY 1 Trash")
    assert status(a, "Trash")["UIDNEXT"] == before + 2


# ---------------------------------------------------------------- other sessions

def test_two_sessions_flags_appends_expunges(login):
    a, b = login(2)
    fill(a, 3)
    ok(a, "SELECT INBOX")
    ok(b, "SELECT INBOX")
    # flags -> FETCH at the other's next NOOP
    ok(a, "STORE 2 +FLAGS.SILENT (\\Seen $Done)")
    lines = ok(b, "NOOP")
    f = fetches(lines)
    assert [s for s, _ in f] == [2], lines
    assert f[0][1]["FLAGS"] - {"\\Recent"} == {"\\Seen", "$Done"}, lines
    assert ok(b, "NOOP") == []  # told once
    # appends -> EXISTS (and RECENT for a rev1 client)
    append_ok(a, msg(4))
    append_ok(a, msg(5))
    lines = ok(b, "NOOP")
    assert untagged_num(lines, "EXISTS") == 5, lines
    assert untagged_num(lines, "RECENT") is not None, lines
    # expunges -> EXPUNGE
    ok(a, "STORE 1,4 +FLAGS.SILENT (\\Deleted)")
    ok(a, "EXPUNGE")
    lines = ok(b, "NOOP")
    assert apply_expunges([1, 2, 3, 4, 5], expunges(lines)) == [2, 3, 5], lines
    assert uid_seq(b) == [2, 3, 5]


def test_no_expunge_during_fetch_by_sequence(login):
    a, b = login(2)
    fill(a, 4)
    ok(a, "SELECT INBOX")
    ok(b, "SELECT INBOX")
    ok(a, "STORE 2 +FLAGS.SILENT (\\Deleted)")
    ok(a, "EXPUNGE")
    append_ok(a, msg(5))
    # RFC 9051 7.5.1: no EXPUNGE while answering FETCH/STORE by number
    lines = cmd(b, "FETCH 1:* (UID FLAGS)")
    assert not expunges(lines), lines
    assert lines[-1].startswith("t OK") or lines[-1].startswith("t NO"), lines
    # b's numbering is unchanged: message 2 is still UID 2, 3 is UID 3
    f = dict(fetches(lines))
    assert f[3]["UID"] == 3 and f[4]["UID"] == 4, lines
    assert untagged_num(lines, "EXISTS") in (None, 5), lines
    lines = cmd(b, "STORE 3 +FLAGS (\\Flagged)")
    assert not expunges(lines), lines
    assert [s for s, _ in fetches(lines)] == [3], lines
    lines = cmd(b, "COPY 3 Sent")
    assert not expunges(lines) and lines[-1].startswith("t OK"), lines
    lines = ok(b, "NOOP")
    assert expunges(lines) == [2], lines  # the NOOP delivers it
    assert uid_seq(b) == [1, 3, 4, 5]
    # the STORE by number hit b's message 3 (UID 3), not a's
    f = {it["UID"]: it["FLAGS"] - {"\\Recent"} for _, it in fetches(ok(b, "UID FETCH 1:* FLAGS"))}
    assert f == {1: set(), 3: {"\\Flagged"}, 4: set(), 5: set()}, f
    assert ok(b, "NOOP") == []
    # MOVE by number may deliver pending expunges after its own, in order
    ok(a, "NOOP")
    ok(a, "STORE 1 +FLAGS.SILENT (\\Deleted)")
    ok(a, "EXPUNGE")
    lines = ok(b, "MOVE 3 Trash")
    assert lines[0].startswith("* OK [COPYUID "), lines
    held = apply_expunges([1, 3, 4, 5], expunges(lines))
    assert held in ([1, 3, 5], [3, 5]), lines
    held = apply_expunges(held, expunges(ok(b, "NOOP")))
    assert held == [3, 5]
    assert uid_seq(b) == [3, 5]
    assert ok(b, "NOOP") == []


def test_own_expunge_with_others_pending(login):
    a, b = login(2)
    fill(a, 5)
    ok(a, "SELECT INBOX")
    ok(b, "SELECT INBOX")
    ok(b, "STORE 2 +FLAGS.SILENT (\\Deleted)")
    ok(b, "UID EXPUNGE 2")
    ok(a, "FETCH 1 FLAGS")  # keeps b's expunge pending in a
    ok(a, "STORE 4 +FLAGS.SILENT (\\Deleted)")  # a's 4 is UID 4
    lines = ok(a, "EXPUNGE")
    assert apply_expunges([1, 2, 3, 4, 5], expunges(lines)) == [1, 3, 5], lines
    assert uid_seq(a) == [1, 3, 5]
    assert uid_seq(b) == [1, 3, 5]


def test_expunge_delivered_at_uid_fetch_or_noop(login):
    a, b = login(2)
    fill(a, 3)
    ok(a, "SELECT INBOX")
    ok(b, "SELECT INBOX")
    ok(a, "STORE 1 +FLAGS.SILENT (\\Deleted)")
    ok(a, "EXPUNGE")
    lines = ok(b, "UID FETCH 1:* (FLAGS)")
    # UID FETCH may carry it; either way the sequence numbers must match
    held = apply_expunges([1, 2, 3], expunges(lines))
    f = fetches(lines)
    for s, it in f:
        assert held[s - 1] == it["UID"], (held, lines)
    lines = ok(b, "NOOP")
    held = apply_expunges(held, expunges(lines))
    assert held == [2, 3]


def test_three_sessions(login):
    a, b, c = login(3)
    fill(a, 2)
    for r in (a, b, c):
        ok(r, "SELECT INBOX")
    ok(a, "STORE 1 +FLAGS.SILENT (\\Answered)")
    lb = ok(b, "STORE 2 +FLAGS.SILENT (\\Flagged)")  # may carry a's change
    la = ok(a, "NOOP")
    lc = ok(c, "NOOP")
    lb += ok(b, "NOOP")
    fa = {s: it["FLAGS"] - {"\\Recent"} for s, it in fetches(la)}
    fb = {s: it["FLAGS"] - {"\\Recent"} for s, it in fetches(lb)}
    fc = {s: it["FLAGS"] - {"\\Recent"} for s, it in fetches(lc)}
    assert fa == {2: {"\\Flagged"}}, la
    assert fb == {1: {"\\Answered"}}, lb
    assert fc == {1: {"\\Answered"}, 2: {"\\Flagged"}}, lc
    append_ok(c, msg(3))
    for r in (a, b):
        assert untagged_num(ok(r, "NOOP"), "EXISTS") == 3
    ok(b, "UID STORE 3 +FLAGS.SILENT (\\Deleted)")
    ok(b, "UID EXPUNGE 3")
    for r in (a, c):
        assert expunges(ok(r, "NOOP")) == [3]


def test_sessions_spread_over_workers(server_factory, login):
    srv = server_factory({"server.workers": "2"})
    conns = login(6, srv=srv)
    fill(conns[0], 2)
    for r in conns:
        ok(r, "SELECT INBOX")
    idler = conns[5]
    idler.send("i IDLE\r\n")
    assert idler.line().startswith("+")
    ok(conns[0], "STORE 1 +FLAGS.SILENT (\\Seen)")
    ln = idler.line(timeout=2)
    seq, it = parse_fetch(ln)
    assert seq == 1 and "\\Seen" in it["FLAGS"], ln
    for r in conns[1:5]:
        f = fetches(ok(r, "NOOP"))
        assert [s for s, _ in f] == [1] and "\\Seen" in f[0][1]["FLAGS"], f
    append_ok(conns[3], msg(3))
    assert idler.line(timeout=2) == "* 3 EXISTS"
    for r in conns[:3]:
        assert untagged_num(ok(r, "NOOP"), "EXISTS") == 3
    idler.send("DONE\r\n")
    assert idler.until_tagged("i")[-1].startswith("i OK")


# ---------------------------------------------------------------- IDLE

def test_idle_done(login):
    r = login()
    r.send("i IDLE\r\n")
    assert r.line().startswith("+ ")  # IDLE is fine in the authenticated state
    r.send("DONE\r\n")
    assert r.until_tagged("i")[-1].startswith("i OK")
    ok(r, "SELECT INBOX")
    r.send("i IDLE\r\n")
    assert r.line().startswith("+ ")
    r.send("done\r\n")  # case-insensitive (RFC 2177 / RFC 9051 9: "DONE")
    assert r.until_tagged("i")[-1].startswith("i OK")
    ok(r, "NOOP")
    # DONE and the next command in one packet
    r.send("i IDLE\r\n")
    assert r.line().startswith("+ ")
    r.send("DONE\r\nn NOOP\r\n")
    assert r.until_tagged("i")[-1].startswith("i OK")
    assert r.until_tagged("n") == ["n OK NOOP completed"]


def test_idle_garbage_instead_of_done(login):
    r = login()
    ok(r, "SELECT INBOX")
    r.send("i IDLE\r\n")
    assert r.line().startswith("+ ")
    r.send("t NOOP\r\n")
    lines = r.until_tagged("i")
    assert lines[-1].startswith("i BAD"), lines
    ok(r, "NOOP")  # the session goes on, still selected
    r.send("i IDLE\r\n")
    assert r.line().startswith("+ ")
    r.send("DONE extra\r\n")
    assert r.until_tagged("i")[-1].startswith("i BAD")
    ok(r, "CHECK")


def test_idle_pushes_exists_expunge_fetch(login):
    a, b = login(2)
    fill(a, 2)
    ok(a, "SELECT INBOX")
    ok(b, "SELECT INBOX")
    b.send("i IDLE\r\n")
    assert b.line().startswith("+ ")
    append_ok(a, msg(3))
    got = [b.line(timeout=2)]
    if re.match(r"\* \d+ EXISTS", got[0]):
        nxt = b.line(timeout=2)  # RECENT follows for a rev1 client
        got.append(nxt)
    assert got[0] == "* 3 EXISTS", got
    ok(a, "STORE 1 +FLAGS.SILENT (\\Flagged)")
    ln = b.line(timeout=2)
    seq, it = parse_fetch(ln)
    assert seq == 1 and "\\Flagged" in it["FLAGS"], ln
    ok(a, "STORE 2 +FLAGS.SILENT (\\Deleted)")
    ln = b.line(timeout=2)
    assert parse_fetch(ln)[0] == 2, ln  # its \Deleted
    ok(a, "EXPUNGE")
    assert b.line(timeout=2) == "* 2 EXPUNGE"
    b.send("DONE\r\n")
    lines = b.until_tagged("i")
    assert lines == ["i OK IDLE terminated"] or lines[-1].startswith("i OK"), lines
    assert not expunges(lines), lines
    assert uid_seq(b) == [1, 3]


def test_idle_push_latency(login):
    """EXISTS, FETCH and EXPUNGE reach an idling session within 100 ms
    (median) of the other session's tagged OK."""
    a, b = login(2)
    fill(a, 1)
    ok(a, "SELECT INBOX")
    ok(b, "SELECT INBOX")
    b.send("i IDLE\r\n")
    assert b.line().startswith("+ ")
    lat = []
    for i in range(21):
        step = i % 3
        if step == 0:
            append_ok(a, msg(i))
            want = r"\* 2 EXISTS$"
        elif step == 1:
            ok(a, "STORE 2 +FLAGS.SILENT (\\Deleted)")
            # \Recent if b, not a, got to claim the new message
            want = r"\* 2 FETCH \(UID \d+ FLAGS \(\\Deleted( \\Recent)?\)\)$"
        else:
            ok(a, "EXPUNGE")
            want = r"\* 2 EXPUNGE$"
        t0 = time.monotonic()
        ln = b.line(timeout=2)
        lat.append(time.monotonic() - t0)
        assert re.match(want, ln), (i, ln)
        if step == 0:
            assert re.match(r"\* \d+ RECENT$", b.line(timeout=2))
    b.send("DONE\r\n")
    assert b.until_tagged("i") == ["i OK IDLE terminated"]
    assert uid_seq(b) == [1]
    assert statistics.median(lat) < 0.1, lat


# ---------------------------------------------------------------- abuse

def test_selected_commands_need_a_mailbox(login):
    r = login()
    append_ok(r, msg(1))
    for text in ["FETCH 1 FLAGS", "UID FETCH 1 FLAGS", "STORE 1 +FLAGS (\\Seen)",
                 "UID STORE 1 +FLAGS (\\Seen)", "COPY 1 Sent", "UID COPY 1 Sent",
                 "MOVE 1 Sent", "UID MOVE 1 Sent", "EXPUNGE", "UID EXPUNGE 1", "CLOSE",
                 "UNSELECT", "CHECK"]:
        bad(r, text)
    assert status(r, "INBOX")["MESSAGES"] == 1
    assert status(r, "Sent")["MESSAGES"] == 0
    ok(r, "SELECT INBOX")
    ok(r, "UNSELECT")
    bad(r, "FETCH 1 FLAGS")


def test_selected_commands_before_login(raw):
    r = raw()
    for text in ("SELECT INBOX", "EXAMINE INBOX", "FETCH 1 FLAGS", "APPEND INBOX {1+}\r\nx",
                 "IDLE", "CLOSE", "EXPUNGE"):
        lines = cmd(r, text)
        assert lines[-1].startswith("t BAD"), (text, lines)
    ok(r, "NOOP")


def test_fetch_zero_and_star_in_empty_mailbox(login):
    r = login()
    ok(r, "SELECT INBOX")
    assert fetches(ok(r, "UID FETCH 1:* FLAGS")) == []
    bad(r, "FETCH 0 FLAGS")
    bad(r, "FETCH * FLAGS")  # nothing to be '*'
    bad(r, "FETCH 1:* FLAGS")
    fill(r, 1)
    bad(r, "FETCH 0 FLAGS")
    bad(r, "FETCH 0:1 FLAGS")
    bad(r, "STORE 0 +FLAGS (\\Seen)")
    bad(r, "COPY 0 Sent")
    assert len(fetches(ok(r, "FETCH * FLAGS"))) == 1


# ------------------------------------------------------ SELECT's kept answer

def quiet_inbox(server):
    """Date INBOX's new/ and cur/ an hour back: the next look at the folder
    trusts their mtimes, and SELECT may keep its answer (it keeps one only
    for a folder whose directories were last changed a while ago)."""
    md = os.path.join(server.dir, "data", "users", "alice", "Maildir")
    old = time.time() - 3600
    for sub in ("new", "cur"):
        os.utime(os.path.join(md, sub), (old, old))
    return md


def kept_selects(server):
    return server.log().count("mailbox=INBOX: select from the kept answer")


def select_twice(server, r):
    """Make INBOX quiet and SELECT it twice: the second comes from the
    kept answer (checked in the log); both must say the same."""
    quiet_inbox(server)
    first = cmd(r, "SELECT INBOX")
    n = kept_selects(server)
    second = cmd(r, "SELECT INBOX")
    assert kept_selects(server) == n + 1, second
    assert [ln for ln in first if "RECENT" not in ln] == \
        [ln for ln in second if "RECENT" not in ln]
    return second


def test_select_kept_answer_follows_every_change(server, login):
    """A SELECT answered without reading the index still shows what
    another session wrote (append, flags, keywords, expunge) and what
    another Maildir program did (a new file, a flag rename)."""
    a, b = login(2)
    fill(b, 3)
    lines = select_twice(server, a)
    check_select_lines(lines, exists=3, recent=0, uidnext=4, unseen=1)

    # another session of the user: append, then flags and a keyword
    append_ok(b, msg(4))
    lines = cmd(a, "SELECT INBOX")
    check_select_lines(lines, exists=4, recent=1, uidnext=5, unseen=1)
    select_twice(server, a)
    ok(b, "SELECT INBOX")
    ok(b, "STORE 1 +FLAGS (\\Seen $Kept)")
    lines = cmd(a, "SELECT INBOX")
    check_select_lines(lines, exists=4, recent=0, uidnext=5, unseen=2,
                       keywords=("$Kept",))
    select_twice(server, a)
    ok(b, "STORE 2 +FLAGS (\\Deleted)")
    ok(b, "EXPUNGE")
    lines = cmd(a, "SELECT INBOX")
    check_select_lines(lines, exists=3, recent=0, uidnext=5, unseen=2,
                       keywords=("$Kept",))

    # another Maildir program: a new file in new/, then an unlink
    md = quiet_inbox(server)
    select_twice(server, a)
    with open(os.path.join(md, "tmp", "1.M1P1.other"), "w") as f:
        f.write("Subject: from elsewhere\r\n\r\nhi\r\n")
    os.rename(os.path.join(md, "tmp", "1.M1P1.other"),
              os.path.join(md, "new", "1.M1P1.other"))
    lines = cmd(a, "SELECT INBOX")
    check_select_lines(lines, exists=4, recent=1, uidnext=6, unseen=2,
                       keywords=("$Kept",))
    select_twice(server, a)
    # and a file another program deletes: message 2 of fill(), UID 3
    cur = os.path.join(md, "cur")
    gone = [n for n in os.listdir(cur)
            if b"Subject: message 2\r\n" in open(os.path.join(cur, n), "rb").read()]
    assert len(gone) == 1, os.listdir(cur)
    os.unlink(os.path.join(cur, gone[0]))
    lines = cmd(a, "SELECT INBOX")
    check_select_lines(lines, exists=3, recent=0, uidnext=6, unseen=2,
                       keywords=("$Kept",))
    assert uid_seq(a) == [1, 4, 5]


def test_select_kept_answer_recent_and_examine(server, login):
    """\\Recent stays right when SELECT skips the index: a message another
    session appended is recent to exactly one SELECT, and EXAMINE from the
    kept answer claims nothing."""
    a, b, c = login(3)
    fill(b, 2)
    select_twice(server, a)
    append_ok(b, msg(3))
    lines = cmd(a, "EXAMINE INBOX")  # sees it recent, claims nothing
    check_select_lines(lines, exists=3, recent=1, uidnext=4, unseen=1,
                       readonly=True)
    lines = cmd(c, "SELECT INBOX")   # claims it
    check_select_lines(lines, exists=3, recent=1, uidnext=4, unseen=1)
    select_twice(server, a)
    lines = cmd(a, "SELECT INBOX")
    check_select_lines(lines, exists=3, recent=0, uidnext=4, unseen=1)
    n = kept_selects(server)
    lines = cmd(a, "EXAMINE INBOX")
    check_select_lines(lines, exists=3, recent=0, uidnext=4, unseen=1,
                       readonly=True)
    assert kept_selects(server) == n + 1


def test_noop_on_a_quiet_folder_reports_every_change(server, login):
    """NOOP on a folder quiet enough that the view keeps its mailbox row
    (no index read while nothing was written) still reports another
    session's append, flag change and expunge, and another program's new
    file and unlink."""
    a, b = login(2)
    fill(b, 3)
    md = quiet_inbox(server)
    ok(a, "SELECT INBOX")
    assert untagged_num(ok(a, "NOOP"), "EXISTS") is None

    append_ok(b, msg(4))
    assert untagged_num(ok(a, "NOOP"), "EXISTS") == 4
    quiet_inbox(server)
    ok(a, "NOOP")   # looks, finds the dates moved, keeps the new row
    ok(a, "NOOP")
    ok(b, "SELECT INBOX")
    ok(b, "STORE 2 +FLAGS (\\Flagged)")
    f = fetches(ok(a, "NOOP"))
    assert [(s, "\\Flagged" in it["FLAGS"]) for s, it in f] == [(2, True)], f
    ok(b, "STORE 3 +FLAGS (\\Deleted)")
    ok(b, "EXPUNGE")
    assert expunges(ok(a, "NOOP")) == [3]

    # another Maildir program
    quiet_inbox(server)
    ok(a, "NOOP")
    ok(a, "NOOP")
    with open(os.path.join(md, "tmp", "2.M1P1.other"), "w") as f:
        f.write("Subject: from elsewhere\r\n\r\nhi\r\n")
    os.rename(os.path.join(md, "tmp", "2.M1P1.other"),
              os.path.join(md, "new", "2.M1P1.other"))
    assert untagged_num(ok(a, "NOOP"), "EXISTS") == 4
    quiet_inbox(server)
    ok(a, "NOOP")
    ok(a, "NOOP")
    cur = os.path.join(md, "cur")
    gone = [n for n in os.listdir(cur)
            if b"Subject: message 0\r\n" in open(os.path.join(cur, n), "rb").read()]
    assert len(gone) == 1, os.listdir(cur)
    os.unlink(os.path.join(cur, gone[0]))
    assert expunges(ok(a, "NOOP")) == [1]
    assert uid_seq(a) == [2, 4, 5]
