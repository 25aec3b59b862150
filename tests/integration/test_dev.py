"""`satchel serve --dev`: ./var set-up, self-signed certificate, demo
account, fixed loopback ports, `satchel user add` in the same directory."""
import imaplib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from conftest import SATCHEL, client_ctx


def port_free(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def test_dev_mode():
    if not (port_free(1143) and port_free(1993)):
        pytest.skip("dev ports 1143/1993 are in use on this machine")
    d = tempfile.mkdtemp(prefix="satchel-dev-")
    log = open(os.path.join(d, "log"), "wb")
    p = subprocess.Popen([SATCHEL, "serve", "--dev"], cwd=d, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            text = open(os.path.join(d, "log"), "rb").read().decode()
            if "ready workers=" in text:
                break
            assert p.poll() is None, text
            time.sleep(0.05)
        assert "demo / demo" in text
        assert "127.0.0.1:1143" in text and "127.0.0.1:1993" in text
        assert os.path.exists(os.path.join(d, "var", "tls", "cert.pem"))
        assert oct(os.stat(os.path.join(d, "var", "tls", "key.pem")).st_mode & 0o777) == "0o600"
        m = imaplib.IMAP4_SSL("127.0.0.1", 1993, ssl_context=client_ctx(), timeout=10)
        assert m.login("demo", "demo")[0] == "OK"
        m.logout()
        m = imaplib.IMAP4("127.0.0.1", 1143, timeout=10)
        m.starttls(client_ctx())
        assert m.login("demo", "demo")[0] == "OK"
        m.logout()
        # only loopback
        text = open(os.path.join(d, "log"), "rb").read().decode()
        assert "0.0.0.0" not in text
        r = subprocess.run([SATCHEL, "user", "add", "frank"], cwd=d,
                           input="frank-pw\nfrank-pw\n", capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        m = imaplib.IMAP4("127.0.0.1", 1143, timeout=10)
        assert m.login("frank", "frank-pw")[0] == "OK"
        m.logout()
    finally:
        p.send_signal(signal.SIGTERM)
        rc = p.wait(30)
        log.close()
        shutil.rmtree(d, ignore_errors=True)
    assert rc == 0
