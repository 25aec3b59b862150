"""Integration harness: a real `satchel serve` on ephemeral loopback ports.

Each test gets a fresh data directory and configuration; the daemon's log
names the ports it bound ("listening proto=imap addr=127.0.0.1:NNNN"), so
nothing races for a port.  Teardown stops the daemon with SIGTERM, checks it
exited 0 and that the sanitizers reported nothing.
"""
import os
import re
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import shutil

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SATCHEL = os.environ.get("SATCHEL_BIN", os.path.join(ROOT, "build", "satchel"))
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0

_cert_cache = {}
_hash_cache = {}


def make_cert(directory, name="cert"):
    cert = os.path.join(directory, name + ".pem")
    key = os.path.join(directory, name + ".key")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=" + name,
         "-days", "2", "-keyout", key, "-out", cert],
        check=True, capture_output=True, timeout=30)
    return cert, key


def pw_hash(password, scheme="SHA512-CRYPT"):
    k = (password, scheme)
    if k not in _hash_cache:
        r = subprocess.run([SATCHEL, "pw", "hash", "--scheme", scheme],
                           input=password + "\n", capture_output=True,
                           text=True, timeout=30, check=True)
        _hash_cache[k] = r.stdout.strip()
    return _hash_cache[k]


def client_ctx():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Server:
    """One running daemon."""

    def __init__(self, tmp, settings, users):
        self.dir = tmp
        self.log_path = os.path.join(tmp, "satchel.log")
        self.conf_path = os.path.join(tmp, "satchel.conf")
        self.passwd = os.path.join(tmp, "passwd")
        self.proc = None
        self.ports = {}
        with open(self.passwd, "w") as f:
            for name, (pw, scheme) in users.items():
                f.write("%s:%s::::::\n" % (name, pw_hash(pw, scheme)))
        sections = {}
        for key, value in settings.items():
            sec, k = key.split(".", 1)
            sections.setdefault(sec, {})[k] = value
        with open(self.conf_path, "w") as f:
            for sec, kv in sections.items():
                f.write("[%s]\n" % sec)
                for k, v in kv.items():
                    f.write("%s = %s\n" % (k, v))

    def start(self):
        offset = len(self.log())  # a restart appends: read only what's new
        self.ports = {}
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [SATCHEL, "serve", "-c", self.conf_path], stdout=self.logf,
            stderr=self.logf, cwd=self.dir)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            text = self.log()[offset:]
            if "ready workers=" in text:
                break
            if self.proc.poll() is not None:
                raise RuntimeError("satchel exited %s:\n%s" % (self.proc.returncode, text))
            time.sleep(0.05)
        else:
            raise RuntimeError("satchel did not start:\n" + self.log())
        for proto, port in re.findall(r"listening proto=(\w+) addr=\S+:(\d+)", self.log()[offset:]):
            self.ports.setdefault(proto, int(port))
        return self

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, check=True):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                raise AssertionError("satchel did not stop on SIGTERM:\n" + self.log()[-4000:])
        rc = self.proc.returncode
        self.logf.close()
        self.proc = None
        if check:
            text = self.log()
            assert "ERROR: AddressSanitizer" not in text, text[-6000:]
            assert "ERROR: LeakSanitizer" not in text, text[-6000:]
            assert "runtime error:" not in text, text[-6000:]
            assert rc == 0, "exit status %s\n%s" % (rc, text[-4000:])
        return rc

    # --- clients ---
    def connect(self, proto="imap", timeout=10):
        s = socket.create_connection(("127.0.0.1", self.ports[proto]), timeout=timeout)
        if proto == "imaps":
            s = client_ctx().wrap_socket(s, server_hostname="localhost")
        return s

    def imap(self, timeout=10):
        import imaplib
        return imaplib.IMAP4("127.0.0.1", self.ports["imap"], timeout=timeout)

    def imaps(self, timeout=10):
        import imaplib
        return imaplib.IMAP4_SSL("127.0.0.1", self.ports["imaps"],
                                 ssl_context=client_ctx(), timeout=timeout)


DEFAULT_USERS = {"alice": ("wonderland", "SHA512-CRYPT"),
                 "bob": ("builder", "SCRAM-SHA-256")}


@pytest.fixture
def server_factory():
    made = []
    tmps = []

    def make(settings=None, users=None, start=True):
        tmp = tempfile.mkdtemp(prefix="satchel-test-")
        tmps.append(tmp)
        cert, key = make_cert(tmp)
        conf = {
            "server.user": "",
            "server.data_dir": os.path.join(tmp, "data"),
            "server.workers": "2",
            "server.log_level": "debug",
            "imap.listen": "127.0.0.1:0",
            "imap.listen_tls": "127.0.0.1:0",
            "imap.timeout_preauth": "60",
            "tls.cert": cert,
            "tls.key": key,
            "auth.passwd_file": os.path.join(tmp, "passwd"),
            "auth.default_scheme": "SHA512-CRYPT",
            "auth.failure_delay_ms": "50",
            "auth.failure_delay_max_ms": "400",
        }
        conf.update(settings or {})
        srv = Server(tmp, conf, DEFAULT_USERS if users is None else users)
        made.append(srv)
        if start:
            srv.start()
        return srv

    yield make
    errors = []
    for srv in made:
        try:
            srv.stop()
        except AssertionError as e:
            errors.append(str(e))
    for tmp in tmps:
        shutil.rmtree(tmp, ignore_errors=True)
    if errors:
        pytest.fail("\n".join(errors))


@pytest.fixture
def server(server_factory):
    return server_factory()


class Raw:
    """A line-level IMAP client on a plain socket, for what imaplib hides."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def line(self, timeout=10):
        self.sock.settimeout(timeout)
        deadline = time.monotonic() + timeout
        while b"\r\n" not in self.buf:
            if time.monotonic() > deadline:
                raise TimeoutError("no line; have %r" % self.buf)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("closed; have %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def until_tagged(self, tag, timeout=10):
        """Lines up to and including the tagged reply for `tag`."""
        out = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no tagged reply for %s: %r" % (tag, out))
            ln = self.line(left)
            out.append(ln)
            if ln.startswith(tag + " "):
                return out

    def closed(self, timeout=5):
        """True if the server closes the connection within timeout."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (socket.timeout, TimeoutError):
            return False
        except (ConnectionResetError, ssl.SSLError, OSError):
            return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


@pytest.fixture
def raw(server):
    clients = []

    def make(proto="imap", greet=True):
        r = Raw(server.connect(proto))
        clients.append(r)
        if greet:
            g = r.line()
            assert g.startswith("* OK"), g
        return r

    yield make
    for c in clients:
        c.close()
