"""LOGIN, AUTHENTICATE (PLAIN, LOGIN, SCRAM-SHA-256, SASL-IR), failures,
throttling, plaintext refusal, user database changes while running."""
import base64
import hashlib
import hmac
import imaplib
import os
import subprocess
import time

import pytest

from conftest import SATCHEL


def b64(b):
    return base64.b64encode(b).decode()


def test_login_good_and_bad(server):
    m = server.imap()
    with pytest.raises(imaplib.IMAP4.error) as e:
        m.login("alice", "wrong")
    assert "AUTHENTICATIONFAILED" in str(e.value)
    assert m.login("alice", "wonderland")[0] == "OK"
    m.logout()
    m = server.imap()
    with pytest.raises(imaplib.IMAP4.error):
        m.login("nosuchuser", "x")
    m.logout()
    log = server.log()
    assert "event=login mech=LOGIN-command" in log
    assert "user=alice" in log
    assert "event=auth-failed" in log
    assert "wonderland" not in log  # passwords never logged


def test_login_quoted_and_literal(raw):
    r = raw()
    r.send('a LOGIN "alice" {10}\r\n')
    assert r.line().startswith("+ ")
    r.send("wonderland\r\n")
    assert r.until_tagged("a")[-1].startswith("a OK")


def test_login_scram_stored_user_with_login(server):
    # bob's stored value is SCRAM-SHA-256: LOGIN still works (PBKDF2 check)
    m = server.imap()
    assert m.login("bob", "builder")[0] == "OK"
    m.logout()


def test_authenticate_plain_with_and_without_ir(raw):
    r = raw()
    r.send("a AUTHENTICATE PLAIN %s\r\n" % b64(b"\0alice\0wonderland"))
    assert r.until_tagged("a")[-1].startswith("a OK [CAPABILITY")
    r2 = raw()
    r2.send("b AUTHENTICATE PLAIN\r\n")
    assert r2.line() == "+ "
    r2.send(b64(b"alice\0alice\0wonderland") + "\r\n")
    assert r2.until_tagged("b")[-1].startswith("b OK")


def test_authenticate_plain_authzid_mismatch(raw):
    r = raw()
    r.send("a AUTHENTICATE PLAIN %s\r\n" % b64(b"bob\0alice\0wonderland"))
    assert r.until_tagged("a")[-1].startswith("a NO")


def test_authenticate_login_mechanism(raw):
    r = raw()
    r.send("a AUTHENTICATE LOGIN\r\n")
    ch = r.line()
    assert base64.b64decode(ch[2:]) == b"Username:"
    r.send(b64(b"alice") + "\r\n")
    ch = r.line()
    assert base64.b64decode(ch[2:]) == b"Password:"
    r.send(b64(b"wonderland") + "\r\n")
    assert r.until_tagged("a")[-1].startswith("a OK")


def test_authenticate_cancel_and_bad_base64(raw):
    r = raw()
    r.send("a AUTHENTICATE PLAIN\r\n")
    assert r.line().startswith("+")
    r.send("*\r\n")
    assert r.until_tagged("a")[-1].startswith("a BAD")
    r.send("b AUTHENTICATE PLAIN\r\n")
    assert r.line().startswith("+")
    r.send("!!!notbase64\r\n")
    assert r.until_tagged("b")[-1].startswith("b BAD")
    r.send("c AUTHENTICATE PLAIN !!!\r\n")
    assert r.until_tagged("c")[-1].startswith("c BAD")
    r.send("d AUTHENTICATE X-UNKNOWN\r\n")
    assert r.until_tagged("d")[-1].startswith("d NO")
    r.send("e NOOP\r\n")
    assert r.until_tagged("e")[-1].startswith("e OK")


def scram_login(r, user, password, tag="s", tamper=False):
    cnonce = b64(os.urandom(18))
    first_bare = "n=%s,r=%s" % (user, cnonce)
    r.send("%s AUTHENTICATE SCRAM-SHA-256 %s\r\n" % (tag, b64(("n,," + first_bare).encode())))
    ln = r.line()
    if not ln.startswith("+ "):
        return [ln]
    server_first = base64.b64decode(ln[2:]).decode()
    attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
    assert attrs["r"].startswith(cnonce)
    salt = base64.b64decode(attrs["s"])
    it = int(attrs["i"])
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, it)
    ckey = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored = hashlib.sha256(ckey).digest()
    final_wo = "c=biws,r=" + attrs["r"]
    auth_msg = ",".join([first_bare, server_first, final_wo]).encode()
    sig = hmac.new(stored, auth_msg, hashlib.sha256).digest()
    proof = bytes(a ^ b for a, b in zip(ckey, sig))
    if tamper:
        proof = bytes([proof[0] ^ 1]) + proof[1:]
    r.send(b64((final_wo + ",p=" + b64(proof)).encode()) + "\r\n")
    ln = r.line()
    if not ln.startswith("+ "):
        return [ln]
    server_final = base64.b64decode(ln[2:]).decode()
    skey = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    expect = b64(hmac.new(skey, auth_msg, hashlib.sha256).digest())
    assert server_final == "v=" + expect
    r.send("\r\n")
    return r.until_tagged(tag)


def test_scram_sha256(raw):
    r = raw()
    assert scram_login(r, "bob", "builder")[-1].startswith("s OK")


def test_scram_wrong_password_and_unknown_user(raw):
    r = raw()
    assert scram_login(r, "bob", "builder", tamper=True)[-1].startswith("s NO")
    r2 = raw()
    # unknown users get a challenge too (no user enumeration)
    assert scram_login(r2, "nobody-here", "x")[-1].startswith("s NO")


def test_scram_needs_stored_keys(raw):
    # alice has a SHA512-CRYPT hash: SCRAM can't work for her, and fails
    r = raw()
    assert scram_login(r, "alice", "wonderland")[-1].startswith("s NO")


def test_failure_delay_and_max_attempts(server_factory):
    srv = server_factory({"auth.failure_delay_ms": "300",
                          "auth.failure_delay_max_ms": "2000",
                          "auth.max_auth_attempts": "3"})
    from conftest import Raw
    r = Raw(srv.connect())
    r.line()
    t0 = time.monotonic()
    r.send("a LOGIN alice bad1\r\n")
    assert r.until_tagged("a")[-1].startswith("a NO [AUTHENTICATIONFAILED]")
    d1 = time.monotonic() - t0
    assert d1 >= 0.28, d1
    t0 = time.monotonic()
    r.send("b LOGIN alice bad2\r\n")
    assert r.until_tagged("b")[-1].startswith("b NO")
    d2 = time.monotonic() - t0
    assert d2 >= 0.55, d2  # doubled
    r.send("c LOGIN alice bad3\r\n")
    lines = r.until_tagged("c")
    assert any(ln.startswith("* BYE") for ln in lines), lines
    assert r.closed()
    r.close()


def test_delay_does_not_block_other_connections(server_factory):
    srv = server_factory({"auth.failure_delay_ms": "3000", "auth.failure_delay_max_ms": "6000",
                          "server.workers": "1"})
    from conftest import Raw
    slow = Raw(srv.connect())
    slow.line()
    slow.send("a LOGIN alice wrong\r\n")
    time.sleep(0.1)
    t0 = time.monotonic()
    m = srv.imap()
    m.login("alice", "wonderland")
    m.logout()
    assert time.monotonic() - t0 < 2.5  # well inside the 3 s delay
    assert slow.until_tagged("a")[-1].startswith("a NO")
    slow.close()


def test_ip_throttle(server_factory):
    srv = server_factory({"auth.failure_delay_ms": "1",
                          "auth.failure_delay_max_ms": "1",
                          "auth.ip_failure_limit": "4",
                          "auth.max_auth_attempts": "10"})
    from conftest import Raw
    r = Raw(srv.connect())
    r.line()
    for i in range(4):
        r.send("f%d LOGIN alice nope\r\n" % i)
        assert r.until_tagged("f%d" % i)[-1].startswith("f%d NO" % i)
    # over the limit: even the right password is refused for now
    r.send("g LOGIN alice wonderland\r\n")
    last = r.until_tagged("g")[-1]
    assert last.startswith("g NO [UNAVAILABLE]"), last
    r.close()


def test_plaintext_refused_when_not_secure(server_factory):
    srv = server_factory({"auth.loopback_is_secure": "no"})
    from conftest import Raw
    r = Raw(srv.connect())
    g = r.line()
    assert "LOGINDISABLED" in g
    assert "AUTH=PLAIN" not in g
    assert "AUTH=SCRAM-SHA-256" in g  # SCRAM never reveals the password
    r.send("a LOGIN alice wonderland\r\n")
    assert r.until_tagged("a")[-1].startswith("a NO [PRIVACYREQUIRED]")
    r.send("b AUTHENTICATE PLAIN %s\r\n" % b64(b"\0alice\0wonderland"))
    assert r.until_tagged("b")[-1].startswith("b NO [PRIVACYREQUIRED]")
    assert scram_login(r, "bob", "builder", tag="c")[-1].startswith("c OK")
    r.close()
    # after STARTTLS plaintext logins are fine
    m = srv.imap()
    from conftest import client_ctx
    m.starttls(client_ctx())
    assert "LOGINDISABLED" not in m.capabilities
    assert "AUTH=PLAIN" in m.capabilities
    assert m.login("alice", "wonderland")[0] == "OK"
    m.logout()


def test_user_added_while_running(server):
    env = dict(os.environ, SATCHEL_CONFIG=server.conf_path)
    r = subprocess.run([SATCHEL, "user", "add", "carol"], input="s3cret-pw\ns3cret-pw\n",
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    m = server.imap()
    assert m.login("carol", "s3cret-pw")[0] == "OK"
    m.logout()
    r = subprocess.run([SATCHEL, "user", "passwd", "carol"], input="other-pw\nother-pw\n",
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    m = server.imap()
    with pytest.raises(imaplib.IMAP4.error):
        m.login("carol", "s3cret-pw")
    m.logout()
    m = server.imap()
    assert m.login("carol", "other-pw")[0] == "OK"
    m.logout()
    r = subprocess.run([SATCHEL, "user", "del", "carol"], capture_output=True,
                       text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    m = server.imap()
    with pytest.raises(imaplib.IMAP4.error):
        m.login("carol", "other-pw")
    m.logout()
