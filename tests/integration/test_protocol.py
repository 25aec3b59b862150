"""Framing and grammar: literals (sync, LITERAL+), pipelining, every class
of malformed input (the connection survives), limits, timeouts, SIGTERM."""
import signal
import socket
import time

import pytest

from conftest import Raw


def test_sync_literal_gets_continuation(raw):
    r = raw()
    r.send("a LOGIN {5}\r\n")
    assert r.line().startswith("+ ")
    r.send("alice {10}\r\n")
    assert r.line().startswith("+ ")
    r.send("wonderland\r\n")
    assert r.until_tagged("a")[-1].startswith("a OK")


def test_nonsync_literal(raw):
    r = raw()
    r.send("a LOGIN {5+}\r\nalice {10+}\r\nwonderland\r\n")
    assert r.until_tagged("a")[-1].startswith("a OK")


def test_literal_with_crlf_and_nul_bytes(raw):
    r = raw()
    r.send(b'a ID ("name" {6+}\r\nx\r\ny\x00z)\r\n')
    lines = r.until_tagged("a")
    assert lines[-1].startswith("a OK")


def test_pipelining(raw):
    r = raw()
    r.send("".join("p%d NOOP\r\n" % i for i in range(50)) + "q LOGIN alice wonderland\r\nr CAPABILITY\r\n")
    for i in range(50):
        assert r.until_tagged("p%d" % i)[-1].startswith("p%d OK" % i)
    assert r.until_tagged("q")[-1].startswith("q OK")
    assert r.until_tagged("r")[-1].startswith("r OK")


def test_long_pipelined_batch_keeps_order(server):
    """A batch's replies are collected and sent together at its end; one
    whose replies outgrow that buffer and what the socket takes at once,
    sent to a client that starts reading late through a small receive
    window, still gets every reply, whole and in order."""
    import threading
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # set before connecting, so the window stays small: the server's
    # sends come back short and the rest must be queued
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    sock.settimeout(30)
    sock.connect(("127.0.0.1", server.ports["imap"]))
    r = Raw(sock)
    try:
        assert r.line().startswith("* OK")
        r.send("a LOGIN alice wonderland\r\n")
        assert r.until_tagged("a")[-1].startswith("a OK")
        n = 24000
        batch = "".join("n%d NOOP\r\nc%d CAPABILITY\r\n" % (i, i)
                        for i in range(n))
        errors = []

        def sender():
            try:
                r.send(batch + "z LOGOUT\r\n")
            except OSError as e:
                errors.append(e)
        th = threading.Thread(target=sender, daemon=True)
        th.start()
        time.sleep(0.5)  # the server's output piles up meanwhile
        for i in range(n):
            assert r.until_tagged("n%d" % i, 30)[-1] == "n%d OK NOOP completed" % i
            got = r.until_tagged("c%d" % i, 30)
            assert len(got) == 2 and got[0].startswith("* CAPABILITY IMAP4rev1"), got
            assert got[1].startswith("c%d OK" % i), got
        got = r.until_tagged("z", 30)
        assert got[0].startswith("* BYE") and got[-1].startswith("z OK"), got
        assert r.closed()
        th.join(10)
        assert not errors
    finally:
        sock.close()


@pytest.mark.parametrize("bad", [
    b"\r\n",
    b"   \r\n",
    b"+ NOOP\r\n",
    b"* NOOP\r\n",
    b"a\r\n",
    b"a \r\n",
    b"a  NOOP\r\n",
    b"(a) NOOP\r\n",
    b'a ID ("unterminated\r\n',
    b"a ID ((((\r\n",
    b"a ID ))\r\n",
    b'a LOGIN "x\\q" y\r\n',
    b"a LOGIN {abc}\r\n",
    b"a LOGIN {99999999999999999999999}\r\n",
    b"a\x00b NOOP\r\n",
    b"a NO\x00OP\r\n",
    b"a LOGIN alice\r\n",
    b"a LOGIN alice wonderland extra\r\n",
    b"a LOGIN (alice) wonderland\r\n",
    b"a AUTHENTICATE\r\n",
    b"a AUTHENTICATE (PLAIN)\r\n",
    b"\xff\xfe\xfd\r\n",
])
def test_malformed_input_gets_bad_and_connection_survives(raw, bad):
    r = raw()
    r.send(bad)
    line = r.line()
    assert " BAD " in line or line.startswith("* BAD") or line.startswith("a NO"), line
    r.send("z NOOP\r\n")
    assert r.until_tagged("z")[-1] == "z OK NOOP completed"


def test_deep_nesting_refused(raw):
    r = raw()
    r.send("a ID " + "(" * 200 + ")" * 200 + "\r\n")
    assert r.until_tagged("a")[-1].startswith("a BAD")
    r.send("z NOOP\r\n")
    assert r.until_tagged("z")[-1].startswith("z OK")


def test_too_many_arguments_refused(server_factory):
    srv = server_factory({"imap.max_args": "100"})
    r = Raw(srv.connect())
    r.line()
    r.send("a ID (" + " ".join(['"k" "v"'] * 60) + ")\r\n")
    assert r.until_tagged("a")[-1].startswith("a BAD")
    r.send("z NOOP\r\n")
    assert r.until_tagged("z")[-1].startswith("z OK")
    r.close()


def test_overlong_line(server_factory):
    srv = server_factory({"imap.max_line_length": "2048"})
    r = Raw(srv.connect())
    r.line()
    r.send("a NOOP " + "x" * 10000 + "\r\n")
    line = r.line()
    assert line.startswith("a BAD") and "TOOBIG" in line, line
    r.send("z NOOP\r\n")
    assert r.until_tagged("z")[-1].startswith("z OK")
    r.close()


def test_huge_sync_literal_refused_before_data(server_factory):
    srv = server_factory({"imap.max_literal_size": "1k"})
    r = Raw(srv.connect())
    r.line()
    r.send("a LOGIN {5000000000}\r\n")
    line = r.line()
    assert line.startswith("a BAD") and "TOOBIG" in line, line
    r.send("z NOOP\r\n")
    assert r.until_tagged("z")[-1].startswith("z OK")
    r.close()


def test_huge_nonsync_literal_is_skipped_not_executed(server_factory):
    srv = server_factory({"imap.max_literal_size": "1k"})
    r = Raw(srv.connect())
    r.line()
    payload = b"x LOGIN alice wonderland\r\n" * 200  # 5200 bytes > 1k
    r.send(b"a LOGIN {%d+}\r\n" % len(payload) + payload + b" pw\r\n")
    line = r.line()
    assert line.startswith("a BAD") and "TOOBIG" in line, line
    r.send("z CAPABILITY\r\n")
    lines = r.until_tagged("z")
    assert "AUTH=PLAIN" in lines[0]  # the payload never logged us in
    assert not any(l.startswith("x ") for l in lines)
    r.close()


def test_many_small_literals_bounded_by_command_size(server_factory):
    srv = server_factory({"imap.max_literal_size": "1k", "imap.max_command_size": "4k",
                          "imap.max_line_length": "1024"})
    r = Raw(srv.connect())
    r.line()
    parts = b"".join(b'"k" {1000+}\r\n' + b"v" * 1000 + b" " for _ in range(10))
    r.send(b"a ID (" + parts + b")\r\n")
    line = r.until_tagged("a")[-1]
    assert line.startswith("a BAD"), line
    r.send("z NOOP\r\n")
    assert r.until_tagged("z")[-1].startswith("z OK")
    r.close()


def test_byte_at_a_time(raw):
    r = raw()
    for b in b"a LOGIN {5}\r\n":
        r.send(bytes([b]))
    assert r.line().startswith("+")
    for b in b"alice wonderland\r\n":
        r.send(bytes([b]))
        time.sleep(0.002)
    assert r.until_tagged("a")[-1].startswith("a OK")


def test_half_closed_client(server):
    s = server.connect()
    r = Raw(s)
    r.line()
    s.sendall(b"a NOOP\r\n")
    s.shutdown(socket.SHUT_WR)
    assert r.until_tagged("a")[-1].startswith("a OK")
    assert r.closed()
    s.close()
    # the server is fine
    m = server.imap()
    m.login("alice", "wonderland")
    m.logout()


def test_preauth_timeout(server_factory):
    srv = server_factory({"imap.timeout_preauth": "1"})
    r = Raw(srv.connect())
    r.line()
    t0 = time.monotonic()
    # keep talking: the pre-auth deadline is total, not per command
    for _ in range(5):
        r.send("n NOOP\r\n")
        try:
            r.until_tagged("n", timeout=2)
        except (EOFError, TimeoutError):
            break
        time.sleep(0.2)
    assert r.closed(timeout=5)
    assert time.monotonic() - t0 < 4
    assert "BYE" in r.buf.decode() or True
    r.close()


def test_auth_idle_timeout(server_factory):
    srv = server_factory({"imap.timeout_auth": "1", "imap.timeout_preauth": "30"})
    r = Raw(srv.connect())
    r.line()
    r.send("a LOGIN alice wonderland\r\n")
    r.until_tagged("a")
    time.sleep(1.5)
    line = r.line(timeout=5)
    assert line.startswith("* BYE"), line
    assert r.closed()
    r.close()


def test_slow_reader_does_not_block_others(server_factory):
    srv = server_factory({"imap.output_high_water": "16k", "server.workers": "1"})
    slow = socket.create_connection(("127.0.0.1", srv.ports["imap"]), timeout=5)
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    # flood with commands but never read the replies
    try:
        slow.settimeout(3)
        for _ in range(200):
            slow.sendall(b"".join(b"c%d CAPABILITY\r\n" % i for i in range(100)))
    except (socket.timeout, OSError):
        pass  # the server stopped reading us: good
    t0 = time.monotonic()
    m = srv.imap()
    m.login("alice", "wonderland")
    m.logout()
    assert time.monotonic() - t0 < 3
    slow.close()


def test_sigterm_sends_bye_and_exits_zero(server_factory):
    srv = server_factory()
    r1 = Raw(srv.connect())
    r1.line()
    m = srv.imap()
    m.login("alice", "wonderland")
    srv.signal(signal.SIGTERM)
    line = r1.line(timeout=10)
    assert line.startswith("* BYE"), line
    assert r1.closed()
    srv.proc.wait(15)
    assert srv.proc.returncode == 0
    # no longer accepting
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", srv.ports["imap"]), timeout=2)
    r1.close()


def test_sigterm_lets_running_command_finish(server_factory):
    srv = server_factory({"auth.failure_delay_ms": "1500", "auth.failure_delay_max_ms": "3000"})
    r = Raw(srv.connect())
    r.line()
    r.send("a LOGIN alice wrong\r\n")
    time.sleep(0.2)
    srv.signal(signal.SIGTERM)
    lines = r.until_tagged("a", timeout=10)
    assert lines[-1].startswith("a NO")
    assert r.line(timeout=5).startswith("* BYE")
    srv.proc.wait(15)
    assert srv.proc.returncode == 0
    r.close()


def test_drop_privileges(server_factory):
    import os
    import pwd
    if os.geteuid() != 0:
        pytest.skip("needs root to drop privileges")
    nobody = pwd.getpwnam("nobody")
    srv = server_factory({"server.user": "nobody"}, start=False)
    os.chmod(srv.dir, 0o755)
    for f in os.listdir(srv.dir):
        os.chmod(os.path.join(srv.dir, f), 0o644)
    srv.start()
    with open("/proc/%d/status" % srv.proc.pid) as f:
        status = f.read()
    uid_line = [l for l in status.splitlines() if l.startswith("Uid:")][0]
    assert uid_line.split()[1:] == [str(nobody.pw_uid)] * 4, uid_line
    m = srv.imaps()
    assert m.login("alice", "wonderland")[0] == "OK"
    m.logout()


def test_ipv6_listener(server_factory):
    import re
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        probe = socket.socket(socket.AF_INET6)
        probe.bind(("::1", 0))
        probe.close()
    except OSError:
        pytest.skip("no IPv6 loopback here")
    srv = server_factory({"imap.listen": "127.0.0.1:0, [::1]:0"})
    port = int(re.search(r"listening proto=imap addr=\[::1\]:(\d+)", srv.log()).group(1))
    s = socket.create_connection(("::1", port), timeout=5)
    r = Raw(s)
    assert r.line().startswith("* OK")
    r.send("a LOGIN alice wonderland\r\n")
    assert r.until_tagged("a")[-1].startswith("a OK")  # ::1 is loopback
    r.close()
    assert "ip=::1" in srv.log()
