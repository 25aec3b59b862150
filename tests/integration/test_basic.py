"""Greeting, CAPABILITY per state, NOOP, LOGOUT, ID, ENABLE, state gate."""
import imaplib

import pytest


def caps_of(line):
    assert "CAPABILITY" in line, line
    return line.split("CAPABILITY", 1)[1].split("]")[0].split()


def test_greeting_has_capabilities(raw):
    r = raw(greet=False)
    g = r.line()
    assert g.startswith("* OK [CAPABILITY ")
    caps = caps_of(g)
    for c in ("IMAP4rev1", "IMAP4rev2", "LITERAL+", "SASL-IR", "ID", "ENABLE",
              "STARTTLS", "AUTH=PLAIN", "AUTH=SCRAM-SHA-256"):
        assert c in caps, caps
    # loopback counts as secure by default: no LOGINDISABLED
    assert "LOGINDISABLED" not in caps


def test_capability_command_per_state(server):
    m = server.imap()
    assert "STARTTLS" in m.capabilities
    assert "AUTH=PLAIN" in m.capabilities
    m.login("alice", "wonderland")
    typ, data = m.capability()
    assert typ == "OK"
    caps = data[0].decode().split()
    assert "IMAP4rev2" in caps and "ENABLE" in caps
    # authentication-only capabilities disappear once logged in
    assert "STARTTLS" not in caps
    assert not any(c.startswith("AUTH=") for c in caps)
    m.logout()


def test_capability_in_login_ok(raw):
    r = raw()
    r.send("a LOGIN alice wonderland\r\n")
    lines = r.until_tagged("a")
    assert lines[-1].startswith("a OK [CAPABILITY ")
    assert "AUTH=" not in lines[-1]


def test_noop_and_logout(raw):
    r = raw()
    r.send("t1 NOOP\r\n")
    assert r.until_tagged("t1") == ["t1 OK NOOP completed"]
    r.send("t2 LOGOUT\r\n")
    lines = r.until_tagged("t2")
    assert lines[0].startswith("* BYE")
    assert lines[-1].startswith("t2 OK")
    assert r.closed()


def test_arguments_where_none_allowed(raw):
    r = raw()
    for cmd in ("NOOP x", "CAPABILITY x", "LOGOUT now", "STARTTLS x"):
        r.send("z %s\r\n" % cmd)
        assert r.until_tagged("z")[-1].startswith("z BAD")


def test_id(raw):
    r = raw()
    r.send('i1 ID ("name" "pytest" "version" "1.0")\r\n')
    lines = r.until_tagged("i1")
    assert lines[0].startswith('* ID ("name" "Satchel"')
    assert lines[-1] == "i1 OK ID completed"
    r.send("i2 ID NIL\r\n")
    assert r.until_tagged("i2")[-1].startswith("i2 OK")
    r.send('i3 ID ("name")\r\n')
    assert r.until_tagged("i3")[-1].startswith("i3 BAD")
    r.send("i4 ID (" + " ".join('"f%d" "v"' % i for i in range(31)) + ")\r\n")
    assert r.until_tagged("i4")[-1].startswith("i4 BAD")
    r.send('i5 ID ("%s" "v")\r\n' % ("x" * 31))
    assert r.until_tagged("i5")[-1].startswith("i5 BAD")
    r.send("i6 ID\r\n")
    assert r.until_tagged("i6")[-1].startswith("i6 BAD")


def test_enable(raw):
    r = raw()
    r.send("e0 ENABLE IMAP4rev2\r\n")
    assert r.until_tagged("e0")[-1].startswith("e0 BAD")  # not authenticated
    r.send("l LOGIN alice wonderland\r\n")
    assert r.until_tagged("l")[-1].startswith("l OK")
    r.send("e1 ENABLE IMAP4rev2 X-UNKNOWN\r\n")
    assert r.until_tagged("e1") == ["* ENABLED IMAP4rev2", "e1 OK ENABLE completed"]
    r.send("e2 ENABLE IMAP4rev2\r\n")  # already enabled: not listed again
    assert r.until_tagged("e2") == ["* ENABLED", "e2 OK ENABLE completed"]
    r.send("e3 ENABLE\r\n")
    assert r.until_tagged("e3")[-1].startswith("e3 BAD")


def test_unknown_and_wrong_state_commands(raw):
    r = raw()
    r.send("u1 FROBNICATE\r\n")
    assert r.until_tagged("u1") == ["u1 BAD Unknown command"]
    r.send("u2 SELECT INBOX\r\n")
    assert r.until_tagged("u2")[-1].startswith("u2 BAD")
    r.send("l LOGIN alice wonderland\r\n")
    r.until_tagged("l")
    r.send("u3 LOGIN alice wonderland\r\n")
    assert r.until_tagged("u3")[-1].startswith("u3 BAD")
    r.send("u4 AUTHENTICATE PLAIN\r\n")
    assert r.until_tagged("u4")[-1].startswith("u4 BAD")
    r.send("u5 STARTTLS\r\n")
    assert r.until_tagged("u5")[-1].startswith("u5 BAD")
    r.send("u6 NOOP\r\n")
    assert r.until_tagged("u6")[-1] == "u6 OK NOOP completed"


def test_command_names_case_insensitive(raw):
    r = raw()
    r.send("c1 capability\r\nc2 NoOp\r\n")
    assert r.until_tagged("c1")[-1].startswith("c1 OK")
    assert r.until_tagged("c2")[-1].startswith("c2 OK")


def test_imaplib_roundtrip(server):
    m = server.imap()
    typ, _ = m.login("alice", "wonderland")
    assert typ == "OK"
    assert m.noop()[0] == "OK"
    assert m.logout()[0] == "BYE"
