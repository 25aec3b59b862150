"""Real clients against the daemon: curl's IMAP support (LIST, APPEND,
FETCH flags, a custom command) over plaintext and IMAPS."""
import shutil
import subprocess

import pytest


def curl(*args):
    return subprocess.run(["curl", "-sS", "--max-time", "20", "-k"] + list(args),
                          capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_curl_list_append_fetch(server, tmp_path):
    base = "imap://127.0.0.1:%d" % server.ports["imap"]
    tls = "imaps://127.0.0.1:%d" % server.ports["imaps"]
    r = curl("--url", base + "/", "--user", "alice:wonderland")
    assert r.returncode == 0, r.stderr
    assert '"/" INBOX' in r.stdout and "\\Sent" in r.stdout, r.stdout
    msg = tmp_path / "m.eml"
    msg.write_bytes(b"From: a@example.org\r\nSubject: via curl\r\n\r\nhello\r\n")
    r = curl("--url", tls + "/INBOX", "--user", "alice:wonderland", "-T", str(msg))
    assert r.returncode == 0, r.stderr
    r = curl("--url", tls + "/INBOX", "--user", "alice:wonderland",
             "-X", "FETCH 1:* (FLAGS RFC822.SIZE)")
    assert r.returncode == 0, r.stderr
    assert "RFC822.SIZE %d" % msg.stat().st_size in r.stdout, r.stdout
    r = curl("--url", base + "/", "--user", "alice:wrong")
    assert r.returncode != 0
