"""satchel config check, user add/passwd/del/list, pw hash, serve refusing a
bad configuration."""
import os
import subprocess
import tempfile

from conftest import SATCHEL, ROOT


def run(args, **kw):
    return subprocess.run([SATCHEL] + args, capture_output=True, text=True,
                          timeout=60, **kw)


def test_example_config_is_valid():
    r = run(["config", "check", "-c", os.path.join(ROOT, "satchel.conf.example")])
    assert r.returncode == 0, r.stderr


def test_config_check_reports_every_problem(tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text("[imap]\n"
                    "max_line_lenght = 10\n"      # line 2: typo
                    "timeout_preauth = soon\n"    # line 3: not a number
                    "[server]\n"
                    "log_level = chatty\n"        # line 5: bad enum
                    "[nosuch]\n"
                    "x = 1\n")                    # line 6: unknown section
    r = run(["config", "check", "-c", str(conf)])
    assert r.returncode != 0
    err = r.stderr
    assert "bad.conf:2:" in err and "max_line_length" in err, err
    assert "bad.conf:3:" in err, err
    assert "bad.conf:5:" in err, err
    assert "bad.conf:6:" in err and "unknown section" in err, err


def test_serve_refuses_bad_config(tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text("[imap]\nlisten = 127.0.0.1:notaport\n")
    r = run(["serve", "-c", str(conf)])
    assert r.returncode != 0
    assert "bad.conf:2:" in r.stderr


def test_user_commands(tmp_path):
    passwd = tmp_path / "passwd"
    conf = tmp_path / "s.conf"
    conf.write_text("[auth]\npasswd_file = %s\ndefault_scheme = SHA512-CRYPT\n" % passwd)
    c = ["-c", str(conf)]
    r = run(["user", "add", "dora"] + c, input="pw-one\npw-one\n")
    assert r.returncode == 0, r.stderr
    line = passwd.read_text().splitlines()[0]
    assert line.startswith("dora:{SHA512-CRYPT}$6$")
    assert "pw-one" not in passwd.read_text()
    r = run(["user", "add", "dora"] + c, input="x\nx\n")
    assert r.returncode != 0  # exists
    r = run(["user", "add", "eve"] + c, input="a\nb\n")
    assert r.returncode != 0 and "match" in r.stderr
    r = run(["user", "add", "../evil"] + c, input="a\na\n")
    assert r.returncode != 0
    r = run(["user", "add", "eve", "--scheme", "ARGON2ID"] + c, input="pw2\npw2\n")
    assert r.returncode == 0, r.stderr
    assert "eve:{ARGON2ID}$argon2id$" in passwd.read_text()
    r = run(["user", "list"] + c)
    assert r.stdout.split() == ["dora", "eve"]
    r = run(["user", "del", "dora"] + c)
    assert r.returncode == 0
    r = run(["user", "list"] + c)
    assert r.stdout.split() == ["eve"]
    r = run(["user", "del", "dora"] + c)
    assert r.returncode != 0


def test_pw_hash_schemes():
    for scheme, prefix in [("SHA512-CRYPT", "{SHA512-CRYPT}$6$"),
                           ("BLF-CRYPT", "{BLF-CRYPT}$2"),
                           ("ARGON2ID", "{ARGON2ID}$argon2id$"),
                           ("SCRAM-SHA-256", "{SCRAM-SHA-256}4096,")]:
        r = run(["pw", "hash", "--scheme", scheme], input="secret\n")
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith(prefix), r.stdout
        assert "secret" not in r.stdout
    r = run(["pw", "hash", "--scheme", "MD5"], input="secret\n")
    assert r.returncode != 0


def test_password_never_from_argv():
    r = run(["user", "add", "x", "secret"])
    assert r.returncode != 0
