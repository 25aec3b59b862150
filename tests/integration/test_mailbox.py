"""Mailbox management: CREATE DELETE RENAME SUBSCRIBE UNSUBSCRIBE LIST LSUB
LIST-EXTENDED SPECIAL-USE LIST-STATUS NAMESPACE STATUS, hostile names."""
import os
import re
import time

import pytest

from conftest import Raw


@pytest.fixture
def cli(raw):
    def make():
        r = raw()
        r.send("l LOGIN alice wonderland\r\n")
        assert r.until_tagged("l")[-1].startswith("l OK")
        return r
    return make


def cmd(r, text, tag="t"):
    r.send("%s %s\r\n" % (tag, text))
    return r.until_tagged(tag)


def ok(r, text):
    lines = cmd(r, text)
    assert lines[-1].startswith("t OK"), lines
    return lines[:-1]


def no(r, text, code=None):
    lines = cmd(r, text)
    assert lines[-1].startswith("t NO"), lines
    if code:
        assert "[%s]" % code in lines[-1], lines
    return lines


def listed(lines):
    """{name: set(attrs)} from LIST/LSUB lines."""
    out = {}
    for ln in lines:
        m = re.match(r'\* (?:LIST|LSUB) \(([^)]*)\) "/" (.*)$', ln)
        if m:
            name = m.group(2)
            if name.startswith('"'):
                name = name[1:-1]
            out[name] = set(m.group(1).split())
    return out


def test_capabilities_advertised(cli):
    r = cli()
    caps = ok(r, "CAPABILITY")[0].split()
    for c in ("NAMESPACE", "LIST-EXTENDED", "LIST-STATUS", "SPECIAL-USE",
              "CREATE-SPECIAL-USE", "STATUS=SIZE", "CHILDREN"):
        assert c in caps, caps


def test_default_mailboxes_with_special_use(cli):
    r = cli()
    got = listed(ok(r, 'LIST "" "*"'))
    assert "INBOX" in got
    for name, use in (("Drafts", "\\Drafts"), ("Sent", "\\Sent"), ("Trash", "\\Trash"),
                      ("Junk", "\\Junk"), ("Archive", "\\Archive")):
        assert use in got[name], got
    got = listed(ok(r, 'LIST (SPECIAL-USE) "" "*"'))
    assert "INBOX" not in got and "Sent" in got


def test_create_list_delete(cli):
    r = cli()
    ok(r, "CREATE Work/Projects/Alpha")
    got = listed(ok(r, 'LIST "" "Work*"'))
    assert set(got) == {"Work", "Work/Projects", "Work/Projects/Alpha"}
    assert "\\HasChildren" in got["Work"]
    assert "\\HasNoChildren" in got["Work/Projects/Alpha"]
    got = listed(ok(r, 'LIST "" "Work/%"'))
    assert set(got) == {"Work/Projects"}
    got = listed(ok(r, 'LIST "Work/" "%"'))
    assert set(got) == {"Work/Projects"}
    no(r, "CREATE Work", "ALREADYEXISTS")
    no(r, "CREATE inbox", "ALREADYEXISTS")
    ok(r, "CREATE Plans/")  # trailing separator
    assert "Plans" in listed(ok(r, 'LIST "" Plans'))
    # DELETE a mailbox with children: it becomes \Noselect
    ok(r, "DELETE Work/Projects")
    got = listed(ok(r, 'LIST "" "Work*"'))
    assert "\\Noselect" in got["Work/Projects"], got
    assert "Work/Projects/Alpha" in got
    no(r, "DELETE Work/Projects", "HASCHILDREN")
    ok(r, "DELETE Work/Projects/Alpha")
    ok(r, "DELETE Work/Projects")
    no(r, "DELETE Nope", "NONEXISTENT")
    no(r, "DELETE INBOX")


def test_list_unquoted_wildcards(cli):
    """curl and many clients send LIST "" * with a bare list-mailbox."""
    r = cli()
    ok(r, "CREATE Top/Sub")
    got = listed(ok(r, 'LIST "" *'))
    assert "INBOX" in got and "Top/Sub" in got, got
    got = listed(ok(r, 'LIST "" %'))
    assert "Top" in got and "Top/Sub" not in got, got
    got = listed(ok(r, "LIST Top/ %"))
    assert set(got) == {"Top/Sub"}, got
    got = listed(ok(r, 'LSUB "" *'))
    assert "INBOX" in got


def test_list_empty_pattern_and_inbox_case(cli):
    r = cli()
    assert ok(r, 'LIST "" ""') == ['* LIST (\\Noselect) "/" ""']
    got = listed(ok(r, 'LIST "" "inbox"'))
    assert set(got) == {"INBOX"}
    assert ok(r, "STATUS inBoX (MESSAGES)")[0].startswith("* STATUS INBOX (MESSAGES 0)")


def test_rename_with_children(cli):
    r = cli()
    ok(r, "CREATE A/B/C")
    ok(r, "SUBSCRIBE A/B")
    st1 = ok(r, "STATUS A/B (UIDVALIDITY)")[0]
    ok(r, "RENAME A X")
    got = listed(ok(r, 'LIST "" "*"'))
    assert {"X", "X/B", "X/B/C"} <= set(got)
    assert not any(n.startswith("A") and n != "Archive" for n in got), got
    st2 = ok(r, "STATUS X/B (UIDVALIDITY)")[0]
    assert st1.split("(")[1] == st2.split("(")[1]  # UIDVALIDITY kept
    assert "X/B" in listed(ok(r, 'LSUB "" "*"'))  # subscription follows
    no(r, "RENAME Nope Other", "NONEXISTENT")
    no(r, "RENAME X Sent", "ALREADYEXISTS")
    no(r, "RENAME X X/Y")


def test_rename_inbox_moves_messages(cli):
    r = cli()
    r.send("a APPEND INBOX {12}\r\n")
    assert r.line().startswith("+")
    r.send("Subject: x\r\n\r\n")
    assert r.until_tagged("a")[-1].startswith("a OK")
    ok(r, "RENAME INBOX Old")
    assert "MESSAGES 1" in ok(r, "STATUS Old (MESSAGES)")[0]
    assert "MESSAGES 0" in ok(r, "STATUS INBOX (MESSAGES)")[0]


def test_rename_inbox_tells_sessions_and_keeps_flags(cli, server):
    """A session with INBOX selected hears the messages go; flags just
    stored (their file renames maybe still pending) come along."""
    r, w = cli(), cli()
    for i in range(50):
        r.send("a APPEND INBOX {12+}\r\nSubject: x\r\n\r\n")
        assert r.until_tagged("a")[-1].startswith("a OK")
    ok(r, "SELECT INBOX")
    ok(w, "SELECT INBOX")
    ok(r, "STORE 1:* +FLAGS.SILENT (\\Flagged)")
    ok(r, "RENAME INBOX Old")
    lines = ok(w, "NOOP")
    assert sum(1 for l in lines if l.endswith(" EXPUNGE")) == 50, lines
    ok(w, "SELECT Old")
    lines = ok(w, "FETCH 1:* (FLAGS)")
    assert sum(1 for l in lines if "\\Flagged" in l) == 50, lines
    md = os.path.join(server.dir, "data", "users", "alice", "Maildir", ".Old")
    # the Maildir names say it too, now or a moment later
    for _ in range(100):
        names = os.listdir(os.path.join(md, "cur"))
        if len(names) == 50 and all(n.endswith(":2,F") for n in names):
            break
        time.sleep(0.05)
    assert len(names) == 50 and all(n.endswith(":2,F") for n in names), names[:3]


def test_subscribe_lsub_and_list_extended(cli):
    r = cli()
    ok(r, "CREATE Foo/Bar")
    ok(r, "SUBSCRIBE Foo/Bar")
    ok(r, "SUBSCRIBE Gone")  # subscriptions may name missing mailboxes
    got = listed(ok(r, 'LSUB "" "%"'))
    assert "\\Noselect" in got["Foo"]  # parent of a subscribed child
    got = listed(ok(r, 'LSUB "" "*"'))
    assert "Foo/Bar" in got and "Gone" in got
    got = listed(ok(r, 'LIST (SUBSCRIBED) "" "*"'))
    assert "\\Subscribed" in got["Foo/Bar"]
    assert "\\NonExistent" in got["Gone"]
    lines = ok(r, 'LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"')
    foo = [l for l in lines if l.endswith(' "/" Foo') or ' Foo (' in l]
    assert foo and 'CHILDINFO' in foo[0], lines
    got = listed(ok(r, 'LIST "" "*" RETURN (SUBSCRIBED CHILDREN)'))
    assert "\\Subscribed" in got["Foo/Bar"]
    assert "\\Subscribed" not in got["Foo"]
    ok(r, "UNSUBSCRIBE Foo/Bar")
    assert "Foo/Bar" not in listed(ok(r, 'LSUB "" "*"'))
    cmd(r, "LIST (RECURSIVEMATCH) \"\" \"*\"")[-1].startswith("t BAD")
    assert cmd(r, 'LIST (BOGUS) "" "*"')[-1].startswith("t BAD")
    got = listed(ok(r, 'LIST "" ("Foo" "Sent")'))
    assert set(got) == {"Foo", "Sent"}


def test_list_status_and_status(cli):
    r = cli()
    lines = ok(r, 'LIST "" "Sent" RETURN (STATUS (MESSAGES UIDNEXT UNSEEN SIZE))')
    assert lines[0].startswith("* LIST")
    assert lines[1].startswith("* STATUS Sent (MESSAGES 0 UIDNEXT 1 UNSEEN 0 SIZE 0)"), lines
    st = ok(r, "STATUS INBOX (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE APPENDLIMIT)")[0]
    assert re.match(r"\* STATUS INBOX \(MESSAGES 0 RECENT 0 UIDNEXT 1 UIDVALIDITY \d+ UNSEEN 0 DELETED 0 SIZE 0 APPENDLIMIT \d+\)", st), st
    assert cmd(r, "STATUS INBOX (BOGUS)")[-1].startswith("t BAD")
    assert cmd(r, "STATUS INBOX")[-1].startswith("t BAD")
    no(r, "STATUS Nope (MESSAGES)", "NONEXISTENT")


def test_namespace(cli):
    r = cli()
    assert ok(r, "NAMESPACE") == ['* NAMESPACE (("" "/")) NIL NIL']


def test_create_special_use(cli):
    r = cli()
    ok(r, "CREATE MyFlagged (USE (\\Flagged))")
    assert "\\Flagged" in listed(ok(r, 'LIST "" MyFlagged'))["MyFlagged"]
    no(r, "CREATE Bad (USE (\\Bogus))", "USEATTR")


@pytest.mark.parametrize("name", [
    "../x", "a//b", "/abs", "x/../../etc", '"a\\\\b"', "&Jjo", "&AGEAYgBj-",
    '"' + "x" * 10000 + '"', '"bad\\x01"',
])
def test_hostile_names(cli, server, name):
    r = cli()
    lines = cmd(r, "CREATE %s" % name)
    if lines[-1].startswith("t OK"):
        # whatever was accepted must live inside the user's Maildir
        for root, dirs, files in os.walk(server.dir):
            assert ".." not in root.split(os.sep)
        got = listed(ok(r, 'LIST "" "*"'))
        assert got
    else:
        assert lines[-1].startswith("t NO") or lines[-1].startswith("t BAD"), lines
    # nothing escaped the data directory
    parent = os.path.dirname(server.dir)
    assert not os.path.exists(os.path.join(parent, "x"))
    assert not os.path.exists("/etc/Maildir")
    ok(r, "NOOP")


def test_utf7_names(cli):
    r = cli()
    ok(r, "CREATE &ZeVnLIqe-")  # RFC 3501 example (Japanese)
    got = listed(ok(r, 'LIST "" "*"'))
    assert "&ZeVnLIqe-" in got
    ok(r, "ENABLE IMAP4rev2")
    got = listed(ok(r, 'LIST "" "*"'))
    assert "\u65e5\u672c\u8a9e" in got, got


def test_mailbox_commands_need_auth(raw):
    r = raw()
    for c in ("CREATE x", "DELETE x", "LIST \"\" *", "STATUS INBOX (MESSAGES)", "NAMESPACE"):
        r.send("t %s\r\n" % c)
        assert r.until_tagged("t")[-1].startswith("t BAD")


def test_autocreate_configurable(server_factory):
    srv = server_factory({"imap.autocreate": "Notes, Sent Items \\Sent"})
    r = Raw(srv.connect())
    r.line()
    r.send("l LOGIN alice wonderland\r\n")
    r.until_tagged("l")
    got = listed(ok(r, 'LIST "" "*"'))
    assert set(got) == {"INBOX", "Notes", "Sent Items"}, got
    assert "\\Sent" in got["Sent Items"]
    r.close()
