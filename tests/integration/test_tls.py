"""IMAPS (RFC 8314), STARTTLS (RFC 9051 6.2.1) incl. the injection case,
TLS version floor, certificate reload on SIGHUP."""
import signal
import socket
import ssl
import time

import pytest

from conftest import Raw, client_ctx, make_cert


def test_imaps_login(server):
    m = server.imaps()
    caps = m.capabilities
    assert "STARTTLS" not in caps  # already TLS
    assert "AUTH=PLAIN" in caps
    assert m.login("alice", "wonderland")[0] == "OK"
    m.logout()
    assert "tls=yes" in server.log()


def test_starttls_then_login(server):
    m = server.imap()
    assert "STARTTLS" in m.capabilities
    m.starttls(client_ctx())
    typ, data = m.capability()
    caps = data[0].decode().split()
    assert "STARTTLS" not in caps
    assert m.login("alice", "wonderland")[0] == "OK"
    m.logout()


def test_starttls_twice_refused(server):
    m = server.imap()
    m.starttls(client_ctx())
    r = m._new_tag()
    m.send(r + b" STARTTLS\r\n")
    line = m.readline()
    assert line.startswith(r + b" BAD"), line
    m.logout()


def test_starttls_injection_discarded(server):
    """Commands pipelined after STARTTLS in plaintext must never run."""
    s = server.connect()
    r = Raw(s)
    r.line()
    # One segment: STARTTLS plus an injected command.
    s.sendall(b"a STARTTLS\r\nb LOGIN alice wonderland\r\nc CAPABILITY\r\n")
    assert r.line() == "a OK Begin TLS negotiation now"
    assert r.buf == b""  # nothing else came in plaintext
    tls = client_ctx().wrap_socket(s, server_hostname="localhost")
    t = Raw(tls)
    t.send("d NOOP\r\n")
    lines = t.until_tagged("d")
    # Neither b nor c was answered, and we are not logged in.
    assert lines == ["d OK NOOP completed"], lines
    t.send("e CAPABILITY\r\n")
    caps = t.until_tagged("e")[0]
    assert "AUTH=PLAIN" in caps  # still not authenticated
    t.close()


def test_tls12_accepted_by_default(server):
    ctx = client_ctx()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    s = socket.create_connection(("127.0.0.1", server.ports["imaps"]), timeout=5)
    t = ctx.wrap_socket(s, server_hostname="localhost")
    assert t.version() == "TLSv1.2"
    assert t.recv(100).startswith(b"* OK")
    t.close()


def test_tls13_only_setting(server_factory):
    srv = server_factory({"tls.min_version": "TLSv1.3"})
    ctx = client_ctx()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    s = socket.create_connection(("127.0.0.1", srv.ports["imaps"]), timeout=5)
    with pytest.raises((ssl.SSLError, ConnectionResetError, OSError)):
        t = ctx.wrap_socket(s, server_hostname="localhost")
        t.recv(100)
    s.close()
    m = srv.imaps()
    assert m.sock.version() == "TLSv1.3"
    m.logout()


def peer_cn(server):
    s = socket.create_connection(("127.0.0.1", server.ports["imaps"]), timeout=5)
    t = client_ctx().wrap_socket(s, server_hostname="localhost")
    der = t.getpeercert(binary_form=True)
    t.close()
    return der


def test_sighup_reloads_certificate_keeps_connections(server):
    m = server.imaps()
    m.login("alice", "wonderland")
    before = peer_cn(server)
    # Replace the certificate files in place, then SIGHUP.
    import os
    import shutil
    cert, key = make_cert(server.dir, "renewed")
    conf = open(server.conf_path).read()
    old_cert = [l.split("=", 1)[1].strip() for l in conf.splitlines() if l.startswith("cert")][0]
    old_key = [l.split("=", 1)[1].strip() for l in conf.splitlines() if l.startswith("key")][0]
    shutil.copy(cert, old_cert)
    shutil.copy(key, old_key)
    server.signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if peer_cn(server) != before:
            break
        time.sleep(0.1)
    assert peer_cn(server) != before
    # the connection made before the reload is still alive
    assert m.noop()[0] == "OK"
    m.logout()


def test_sighup_with_broken_certificate_keeps_old(server):
    before = peer_cn(server)
    conf = open(server.conf_path).read()
    old_cert = [l.split("=", 1)[1].strip() for l in conf.splitlines() if l.startswith("cert")][0]
    with open(old_cert, "w") as f:
        f.write("garbage\n")
    server.signal(signal.SIGHUP)
    time.sleep(0.5)
    assert peer_cn(server) == before
    assert "TLS reload failed" in server.log()
