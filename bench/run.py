#!/usr/bin/python3
"""Side-by-side benchmark: Satchel against Dovecot 2.3 on the same machine.

Starts both servers on loopback ports under a temporary directory (Dovecot
with its own generated configuration and base_dir, never /etc/dovecot),
drives them with bench/loadgen.c (built by Meson as satchel-loadgen) and
prints a Markdown table, also written to bench/results/latest.md:

  * connections+LOGIN+LOGOUT per second, plaintext and implicit TLS, with
    SHA512-CRYPT and with {PLAIN} stored passwords (the same hash strings
    for both servers), plus the servers' CPU time per login in the window;
  * memory per idle authenticated connection: the sum of PSS over the
    server's process tree with N connections held, minus the same before
    any connection, divided by N.

It builds nothing: it expects ./build/satchel and ./build/bench/satchel-loadgen
(`make build`).  It only stops processes it started, by PID.
"""
import argparse
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PASSWORD = "benchpw"
USER_PREFIX = "u"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 60.0
NOFILE = 262144
CLK_TCK = os.sysconf("SC_CLK_TCK")
# Dovecot runs its mail processes as this (existing) unprivileged user.
MAIL_UID, MAIL_GID = 65534, 65534


def log(msg):
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr,
          flush=True)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, what, timeout=START_TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("%s exited with status %s" % (what, proc.returncode))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("%s did not listen on port %d within %.0f s"
                       % (what, port, timeout))


# ---- /proc helpers ----

def proc_tree(root_pid):
    """PIDs of root_pid and all its descendants."""
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(name))
    out, todo = [], [root_pid]
    while todo and len(out) < 1000000:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def tree_pss_kb(root_pid):
    total, nproc = 0, 0
    for pid in proc_tree(root_pid):
        try:
            with open("/proc/%d/smaps_rollup" % pid) as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        nproc += 1
                        break
        except OSError:
            continue
    return total, nproc


def machine_busy():
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v) - idle, sum(v)


def tree_cpu_s(root_pid):
    """User+system CPU of the tree, including reaped children (cutime)."""
    ticks = 0
    for pid in proc_tree(root_pid):
        try:
            with open("/proc/%d/stat" % pid) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        ticks += sum(int(x) for x in fields[11:15])
    return ticks / CLK_TCK


# ---- servers ----

class Server:
    name = "?"

    def __init__(self, tmp):
        self.dir = tmp
        self.proc = None
        self.port = free_port()
        self.tls_port = free_port()
        self.logf = None

    def start(self):
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv(), stdout=self.logf,
                                     stderr=self.logf, stdin=subprocess.DEVNULL,
                                     cwd=self.dir)
        log("%s started, pid %d, ports %d (imap) %d (imaps)"
            % (self.name, self.proc.pid, self.port, self.tls_port))
        wait_port(self.port, self.proc, self.name)
        wait_port(self.tls_port, self.proc, self.name)
        return self

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            tree = proc_tree(self.proc.pid)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                log("%s did not stop on SIGTERM; killing its processes" % self.name)
                for pid in tree:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
                self.proc.wait(10)
        log("%s stopped, status %s" % (self.name, self.proc.returncode))
        self.proc = None
        self.logf.close()

    def problems(self):
        """Log lines worth reporting (errors, crashes)."""
        try:
            with open(self.log_path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return []
        return [ln for ln in text.splitlines() if self.bad_line.search(ln)]


class Satchel(Server):
    name = "Satchel"
    bad_line = re.compile(r"\b(ERROR|FATAL|error|fatal)\b|Sanitizer|runtime error")

    def __init__(self, tmp, binary, passwd, cert, key, scheme):
        super().__init__(tmp)
        self.binary = binary
        self.conf = os.path.join(tmp, "satchel.conf")
        self.log_path = os.path.join(tmp, "satchel.log")
        with open(self.conf, "w") as f:
            f.write(
                "[server]\n"
                "user =\n"
                "data_dir = %s\n"
                "workers = 2\n"
                "log_level = warn\n"
                "max_connections = 100000\n"
                "[imap]\n"
                "listen = 127.0.0.1:%d\n"
                "listen_tls = 127.0.0.1:%d\n"
                "timeout_preauth = 300\n"
                "timeout_auth = 3600\n"
                "[tls]\n"
                "cert = %s\n"
                "key = %s\n"
                "[auth]\n"
                "passwd_file = %s\n"
                "allow_plaintext = yes\n"
                "allow_plain_scheme = %s\n"
                "failure_delay_ms = 0\n"
                "ip_failure_limit = 1000000\n"
                "user_failure_limit = 1000000\n"
                % (os.path.join(tmp, "data"), self.port, self.tls_port, cert, key,
                   passwd, "yes" if scheme == "PLAIN" else "no"))

    def argv(self):
        return [self.binary, "serve", "-c", self.conf]


class Dovecot(Server):
    name = "Dovecot"
    bad_line = re.compile(r"\b(Error|Fatal|Panic)\b|client_limit|process_limit")

    def __init__(self, tmp, binary, passwd, cert, key, max_conns, tuned=False):
        super().__init__(tmp)
        if tuned:
            self.name = "Dovecot-tuned"
        # The tuned variant is Dovecot's documented "high-performance"
        # login mode plus pre-forked spare processes: the default spawns
        # one process per connection, one at a time.
        tuning = """service imap-login {
  service_count = 0
  process_min_avail = %d
}
service imap {
  process_min_avail = %d
}
""" % ((os.cpu_count() or 2,) * 2) if tuned else ""
        self.binary = binary
        self.conf = os.path.join(tmp, "dovecot.conf")
        self.log_path = os.path.join(tmp, "dovecot.log")
        mail = os.path.join(tmp, "mail")
        os.makedirs(mail)
        os.chown(mail, MAIL_UID, MAIL_GID)
        # Limits only: Dovecot's process model stays at its defaults
        # (imap-login and imap with service_count = 1).  Every process holds
        # a connection to log, anvil, stats..., so the default client limit
        # must cover all of them.
        procs = max_conns + 1000
        with open(self.conf, "w") as f:
            f.write("""# Generated by satchel bench/run.py; not the system's /etc/dovecot.
base_dir = {tmp}/run
state_dir = {tmp}/state
instance_name = satchel-bench-dovecot
protocols = imap
listen = 127.0.0.1
log_path = {tmp}/dovecot.log
# Satchel runs at log_level = warn: keep only warnings and errors here too.
info_log_path = /dev/null
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{mail}/%u
first_valid_uid = {uid}
passdb {{
  driver = passwd-file
  args = {passwd}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={mail}/%u
}}
default_client_limit = {clients}
default_vsz_limit = 1G
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
  process_limit = {procs}
}}
service imap {{
  process_limit = {procs}
}}
protocol imap {{
  # 100 users share the held connections (default 10 per user and IP).
  mail_max_userip_connections = {procs}
}}
""".format(tmp=tmp, cert=cert, key=key, mail=mail, uid=MAIL_UID, gid=MAIL_GID,
           passwd=passwd, clients=4 * procs, procs=procs, port=self.port,
           tls_port=self.tls_port))
            f.write(tuning)

    def argv(self):
        return [self.binary, "-F", "-c", self.conf]


# ---- measurements ----

def run_loadgen(argv, timeout, on_line=None, stdin=None):
    """Run the load generator; returns (json result, other stdout lines)."""
    log("loadgen: " + " ".join(argv[1:]))
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stdin=stdin,
                            text=True)
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    result, lines = None, []
    try:
        for line in proc.stdout:
            line = line.strip()
            if line.startswith("{"):
                result = json.loads(line)
            else:
                lines.append(line)
                if on_line is not None:
                    on_line(line, proc)
        proc.wait(10)
    finally:
        timer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    if result is None:
        raise RuntimeError("loadgen gave no result (status %s)" % proc.returncode)
    return result


def measure_login(args, server, tls):
    marks = {}
    root = server.proc.pid

    def on_line(line, proc):
        if line in ("start", "end"):
            marks[line] = tree_cpu_s(root)
            marks[line + "-machine"] = machine_busy()

    argv = [args.loadgen, "login", "--host", "127.0.0.1",
            "--port", str(server.tls_port if tls else server.port),
            "--users-prefix", USER_PREFIX, "--users", str(args.users),
            "--password", PASSWORD, "--concurrency", str(args.concurrency),
            "--threads", str(args.threads), "--seconds", str(args.seconds),
            "--warmup", str(args.warmup)]
    if tls:
        argv.append("--tls")
    r = run_loadgen(argv, args.warmup + args.seconds + 120, on_line)
    if "start" in marks and "end" in marks and r["completed"] > 0:
        r["server_cpu_ms_per_login"] = \
            (marks["end"] - marks["start"]) * 1000.0 / r["completed"]
        r["server_cpu_share"] = (marks["end"] - marks["start"]) / r["seconds"]
        (b0, t0), (b1, t1) = marks["start-machine"], marks["end-machine"]
        r["machine_busy"] = (b1 - b0) / max(1, t1 - t0)
    if server.proc.poll() is not None:
        raise RuntimeError("%s died during the login test" % server.name)
    log("%s %s: %.0f logins/s, %d errors%s" % (
        server.name, "TLS" if tls else "plain", r["rate"], r["errors"],
        (" (first: %s)" % r["first_error"]) if r["errors"] else ""))
    return r


def measure_idle(args, server, count, tls):
    root = server.proc.pid
    time.sleep(2)  # let pre-forked processes (tuned Dovecot) finish starting
    base_kb, base_n = tree_pss_kb(root)
    argv = [args.loadgen, "hold", "--host", "127.0.0.1",
            "--port", str(server.tls_port if tls else server.port),
            "--users-prefix", USER_PREFIX, "--users", str(args.users),
            "--password", PASSWORD, "--count", str(count),
            "--concurrency", "64", "--setup-seconds", str(args.setup_seconds),
            "--hold-seconds", str(args.setup_seconds + 600)]
    if tls:
        argv.append("--tls")
    out = {"baseline_kb": base_kb, "baseline_procs": base_n}

    def on_line(line, proc):
        m = re.match(r"ready (\d+)$", line)
        if not m:
            return
        held = int(m.group(1))
        # Let Dovecot's short-lived login processes exit and everything
        # settle before measuring.
        time.sleep(args.settle)
        kb, n = tree_pss_kb(root)
        out.update(held=held, loaded_kb=kb, loaded_procs=n)
        proc.stdin.close()

    r = run_loadgen(argv, args.setup_seconds + args.settle + 300, on_line,
                    stdin=subprocess.PIPE)
    # "held" stays the count at measuring time; the JSON's is at exit.
    out.update({k: v for k, v in r.items() if k != "held"})
    out["held_at_exit"] = r.get("held")
    if "held" not in out or out["held"] == 0:
        raise RuntimeError("%s: no connection could be held: %s" % (server.name, r))
    out["kb_per_conn"] = (out["loaded_kb"] - base_kb) / out["held"]
    if server.proc.poll() is not None:
        raise RuntimeError("%s died during the idle test" % server.name)
    log("%s idle %s N=%d: held %d, %.1f KB PSS per connection (%d -> %d KB, "
        "%d -> %d processes), dropped %d, errors %d" % (
            server.name, "TLS" if tls else "plain", count, out["held"],
            out["kb_per_conn"], base_kb, out["loaded_kb"], base_n,
            out["loaded_procs"], r["dropped"], r["errors"]))
    return out


def attempt(results, fn, args, server, *rest):
    """One measurement; a failure is reported, not fatal to the others."""
    try:
        return fn(args, server, *rest)
    except Exception as e:
        msg = "%s %s%r failed: %s" % (server.name, fn.__name__, rest, e)
        log(msg)
        results["problems"].append(msg)
        if server.proc is not None and server.proc.poll() is not None:
            results["problems"].append("%s exited with status %s" % (
                server.name, server.proc.returncode))
        return None


# ---- setup ----

def make_cert(tmp):
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=localhost",
                    "-days", "2", "-keyout", key, "-out", cert],
                   check=True, capture_output=True, timeout=60)
    os.chmod(key, 0o644)
    return cert, key


def make_passwd(args, tmp, scheme):
    """One passwd-file per scheme, shared verbatim by both servers."""
    path = os.path.join(tmp, "passwd-" + scheme.lower())
    with open(path, "w") as f:
        for i in range(args.users):
            if scheme == "PLAIN":
                h = "{PLAIN}" + PASSWORD
            else:
                h = subprocess.run(
                    [args.satchel, "pw", "hash", "--scheme", scheme],
                    input=PASSWORD + "\n", capture_output=True, text=True,
                    timeout=30, check=True).stdout.strip()
                if not h.startswith("{%s}" % scheme):
                    raise RuntimeError("unexpected hash from satchel pw hash: %r" % h)
            f.write("%s%d:%s::::::\n" % (USER_PREFIX, i, h))
    os.chmod(path, 0o644)
    return path


class Pair:
    """Satchel and Dovecot (and optionally a tuned Dovecot), each in its own
    directory, started together and stopped together."""

    def __init__(self, args, tmp, label, passwd, cert, key, scheme, max_conns,
                 which=("Satchel", "Dovecot")):
        base = os.path.join(tmp, label)
        os.makedirs(base)
        os.chmod(base, 0o755)
        self.servers = []
        for name in which:
            d = os.path.join(base, name.lower())
            os.makedirs(d)
            os.chmod(d, 0o755)
            if name == "Satchel":
                srv = Satchel(d, args.satchel, passwd, cert, key, scheme)
            else:
                srv = Dovecot(d, args.dovecot, passwd, cert, key, max_conns,
                              tuned=(name == "Dovecot-tuned"))
            self.servers.append(srv)

    def __enter__(self):
        try:
            for s in self.servers:
                s.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        for s in self.servers:
            try:
                s.stop()
            except Exception as e:  # keep stopping the others
                log("stopping %s: %s" % (s.name, e))

    def __exit__(self, *exc):
        self.stop()
        for s in self.servers:
            for ln in s.problems()[:20]:
                log("%s log: %s" % (s.name, ln))
        return False


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(hard, NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def environment(args):
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    dv = subprocess.run([args.dovecot, "--version"], capture_output=True,
                        text=True, timeout=30).stdout.strip()
    with open("/proc/loadavg") as f:
        loadavg = " ".join(f.read().split()[:3])
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(),
            "loadavg": loadavg,
            "dovecot": dv, "mem_gib": round(os.sysconf("SC_PHYS_PAGES") *
                                            os.sysconf("SC_PAGE_SIZE") / 2**30, 1)}


# ---- report ----

def fmt_rate(r):
    if r is None:
        return "failed"
    s = "%.0f" % r["rate"]
    if r["errors"]:
        s += " (%d errors)" % r["errors"]
    return s


def ratio(a, b):
    if not a or not b:
        return "n/a"
    return "%.2f" % (a / b)


def report(args, env, results):
    login, idle = results["login"], results["idle"]
    rows, extra = [], []

    def kind(tls):
        return "TLS (imaps)" if tls else "plaintext"

    def rate(r):
        return r["rate"] if r else None

    def cpu(r):
        v = r.get("server_cpu_ms_per_login") if r else None
        return ("%.2f" % v, v) if v else ("n/a", None)

    for key in [(sc, t) for sc in args.schemes for t in (False, True)]:
        if key in login:
            s, d = login[key]["Satchel"], login[key]["Dovecot"]
            rows.append(("LOGIN/s, %s, %s" % (kind(key[1]), key[0]),
                         fmt_rate(s), fmt_rate(d), ratio(rate(s), rate(d))))
    for key in [(sc, t) for sc in args.schemes for t in (False, True)]:
        if key in login:
            s, d = login[key]["Satchel"], login[key]["Dovecot"]
            rows.append(("server CPU ms per login, %s, %s" % (kind(key[1]), key[0]),
                         cpu(s)[0], cpu(d)[0], ratio(cpu(s)[1], cpu(d)[1])))
    notes = []
    for (count, tls) in sorted(idle, key=lambda k: (k[1], k[0])):
        per = idle[(count, tls)]
        s = per.get("Satchel")
        if "Dovecot" in per:
            d, mark = per["Dovecot"], ""
        else:
            d, mark = per.get("Dovecot-tuned"), " (tuned Dovecot)"
            notes.append(count)

        def cell(m):
            if m is None:
                return "failed"
            c = "%.1f" % m["kb_per_conn"]
            if m["held"] != count:
                c += " (only %d held)" % m["held"]
            return c
        rows.append(("KB PSS per idle logged-in connection, %s, N=%d%s" % (
            "TLS" if tls else "plaintext", count, mark), cell(s), cell(d),
            ratio(s and s["kb_per_conn"], d and d["kb_per_conn"])))
    for key in [(sc, t) for sc in args.schemes for t in (False, True)]:
        if key in login and "Dovecot-tuned" in login[key]:
            s, d = login[key]["Satchel"], login[key]["Dovecot-tuned"]
            extra.append(("LOGIN/s, %s, %s" % (kind(key[1]), key[0]),
                          fmt_rate(s), fmt_rate(d), ratio(rate(s), rate(d))))
            extra.append(("server CPU ms per login, %s, %s" % (kind(key[1]), key[0]),
                          cpu(s)[0], cpu(d)[0], ratio(cpu(s)[1], cpu(d)[1])))

    lines = ["| metric | Satchel | Dovecot | ratio |",
             "| --- | ---: | ---: | ---: |"]
    lines += ["| %s | %s | %s | %s |" % r for r in rows]
    table = "\n".join(lines)

    detail = ["", "ratio = Satchel / Dovecot (higher is better for LOGIN/s, "
              "lower is better for CPU and memory)."]
    if notes:
        detail += ["", "(tuned Dovecot): Dovecot's default login model spawns "
                   "one login process per connection, one at a time, too "
                   "slowly to open %s connections within the time budget; "
                   "these rows use the tuned login model below to open them. "
                   "A logged-in plaintext connection lives in its own imap "
                   "process in both models (compare the N=%d rows in "
                   "Details)." % (", ".join(str(n) for n in notes),
                                  min(n for n, t in idle if not t))]
    if extra:
        detail += ["", "Against a tuned Dovecot (imap-login service_count = 0 "
                   "and process_min_avail = %d, imap process_min_avail = %d: "
                   "Dovecot's documented high-performance login mode plus "
                   "pre-forked spare processes):" % ((os.cpu_count() or 2,) * 2), "",
                   "| metric | Satchel | Dovecot-tuned | ratio |",
                   "| --- | ---: | ---: | ---: |"]
        detail += ["| %s | %s | %s | %s |" % r for r in extra]
    detail += ["", "## Setup", "",
               "- machine: %s, %s cores, %s GiB, Linux %s; load average at "
               "start %s" % (env["cpu"], env["cores"], env["mem_gib"],
                             env["kernel"], env["loadavg"]),
               "- Dovecot %s with its default process model (imap-login and "
               "imap: service_count = 1, no pre-forked processes), only "
               "limits raised" % env["dovecot"],
               "- Satchel: server.workers = 2, log_level = warn; Dovecot: "
               "info log to /dev/null, warnings and errors to a file",
               "- both servers and the load generator share the machine's "
               "CPUs (and whatever else runs on it: see 'machine busy')",
               "- login rows: %d users, concurrency %d, %d loadgen thread(s), "
               "%d s warm-up then %d s measured; each iteration is connect "
               "(+ full TLS handshake), greeting, LOGIN, LOGOUT, wait for close"
               % (args.users, args.concurrency, args.threads, args.warmup,
                  args.seconds),
               "- server CPU = user+system time of the server's whole process "
               "tree (incl. exited children) during the measured window",
               "- idle rows: {PLAIN} passwords, N connections logged in and "
               "left idle, sum of Pss from /proc/PID/smaps_rollup over the "
               "process tree minus the same before the first connection, / N",
               "", "## Details", "",
               "| run | server | completed | errors | p50 ms | p99 ms | "
               "server CPU share | machine busy | loadgen CPU s |",
               "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for (scheme, tls), per in login.items():
        for name, r in per.items():
            if r is None:
                continue
            detail.append("| %s %s | %s | %d | %d | %.2f | %.2f | %s | %s | %.1f |" % (
                scheme, "TLS" if tls else "plain", name, r["completed"],
                r["errors"], r["p50_ms"], r["p99_ms"],
                "%.0f%%" % (100 * r["server_cpu_share"])
                if "server_cpu_share" in r else "n/a",
                "%.0f%%" % (100 * r["machine_busy"])
                if "machine_busy" in r else "n/a", r["loadgen_cpu_s"]))
            if r["errors"]:
                detail.append("|  | first error: %s | | | | | | | |"
                              % r["first_error"].replace("|", "/"))
    detail += ["", "| idle run | server | held | processes before -> after | "
               "PSS KB before -> after | dropped | errors |",
               "| --- | --- | ---: | --- | --- | ---: | ---: |"]
    for (count, tls), per in idle.items():
        for name, m in per.items():
            if m is None:
                continue
            detail.append("| N=%d %s | %s | %d | %d -> %d | %d -> %d | %d | %d |" % (
                count, "TLS" if tls else "plain", name, m["held"],
                m["baseline_procs"], m["loaded_procs"], m["baseline_kb"],
                m["loaded_kb"], m["dropped"], m["errors"]))
    if results["problems"]:
        detail += ["", "## Server log problems", ""]
        detail += ["- " + p for p in results["problems"][:40]]
    return table, "\n".join(detail)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--satchel", default=os.path.join(ROOT, "build", "satchel"))
    ap.add_argument("--loadgen", default=None,
                    help="default: bench/satchel-loadgen next to --satchel")
    ap.add_argument("--dovecot", default="/usr/sbin/dovecot")
    ap.add_argument("--quick", action="store_true",
                    help="short smoke run (about 2 minutes)")
    ap.add_argument("--seconds", type=int, default=10,
                    help="measured seconds per login row")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1,
                    help="load generator threads for the login rows")
    ap.add_argument("--users", type=int, default=100)
    ap.add_argument("--idle", default="1000,10000",
                    help="connection counts for the plaintext idle rows")
    ap.add_argument("--idle-tls", default="",
                    help="connection counts for the TLS idle rows, e.g. 1000 "
                    "(off by default: Dovecot needs two processes per TLS "
                    "connection and opens them slowly)")
    ap.add_argument("--idle-default-max", type=int, default=2000,
                    help="above this many idle plaintext connections, measure "
                    "only the tuned Dovecot (default Dovecot opens them too "
                    "slowly)")
    ap.add_argument("--settle", type=float, default=3.0,
                    help="seconds between 'all logged in' and measuring")
    ap.add_argument("--setup-seconds", type=int, default=420,
                    help="longest time to open the idle connections")
    ap.add_argument("--schemes", default="SHA512-CRYPT,PLAIN")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "latest.md"))
    ap.add_argument("--keep-tmp", action="store_true")
    ap.add_argument("--no-tuned", dest="tuned", action="store_false",
                    help="skip the extra login rows for a tuned Dovecot")
    args = ap.parse_args()
    if args.quick:
        args.seconds, args.warmup, args.idle, args.idle_tls = 3, 1, "1000", ""
    args.satchel = os.path.abspath(args.satchel)
    if args.loadgen is None:
        args.loadgen = os.path.join(os.path.dirname(args.satchel), "bench",
                                    "satchel-loadgen")
    args.schemes = [s.strip() for s in args.schemes.split(",") if s.strip()]
    idle = [(int(n), False) for n in args.idle.split(",") if n.strip()]
    idle += [(int(n), True) for n in args.idle_tls.split(",") if n.strip()]
    for path in (args.satchel, args.loadgen, args.dovecot):
        if not os.access(path, os.X_OK):
            sys.exit("bench: %s is missing; run `make build` first "
                     "(and install dovecot-imapd)" % path)
    if os.geteuid() != 0:
        sys.exit("bench: Dovecot's master must start as root here "
                 "(it switches its children to dovecot/dovenull)")

    nofile = raise_nofile()
    env = environment(args)
    log("RLIMIT_NOFILE %d; %s" % (nofile, env))
    tmp = tempfile.mkdtemp(prefix="satchel-bench-")
    os.chmod(tmp, 0o755)  # dovenull and the mail user must traverse it
    results = {"login": {}, "idle": {}, "problems": []}
    t0 = time.monotonic()
    try:
        cert, key = make_cert(tmp)
        passwds = {s: make_passwd(args, tmp, s) for s in set(args.schemes + ["PLAIN"])}
        max_idle = max([n for n, _ in idle] + [args.concurrency])

        for scheme in args.schemes:
            with Pair(args, tmp, "login-" + scheme.lower(), passwds[scheme],
                      cert, key, scheme, max(1000, args.concurrency * 4),
                      which=["Satchel", "Dovecot"] +
                      (["Dovecot-tuned"] if args.tuned else [])) as p:
                for tls in (False, True):
                    results["login"][(scheme, tls)] = {
                        srv.name: attempt(results, measure_login, args, srv, tls)
                        for srv in p.servers}
            results["problems"] += ["%s: %s" % (s.name, ln) for s in p.servers
                                    for ln in s.problems()]

        for count, tls in idle:
            # Fresh servers for each N: the baseline is "before any connection".
            # Dovecot's default login model spawns one process at a time
            # (about 10 per second on a busy 2-core VM), so the largest
            # plaintext counts use the tuned login model to open the
            # connections; once logged in, a plaintext connection lives in
            # its own imap process either way (the N=1000 rows show both).
            which = ["Satchel"]
            if tls or count <= args.idle_default_max:
                which.append("Dovecot")
            if not tls and (count > args.idle_default_max or
                            (args.tuned and count == min(n for n, t in idle if not t))):
                which.append("Dovecot-tuned")
            with Pair(args, tmp, "idle-%d-%s" % (count, "tls" if tls else "plain"),
                      passwds["PLAIN"], cert, key, "PLAIN", max_idle,
                      which=which) as p:
                results["idle"][(count, tls)] = {
                    srv.name: attempt(results, measure_idle, args, srv, count, tls)
                    for srv in p.servers}
            results["problems"] += ["%s: %s" % (s.name, ln) for s in p.servers
                                    for ln in s.problems()]
    finally:
        if args.keep_tmp:
            log("kept " + tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    table, detail = report(args, env, results)
    print(table)
    print(detail)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write("# Satchel vs Dovecot (%s)\n\n%s\n%s\n\nTotal time %.0f s%s.\n" % (
            time.strftime("%Y-%m-%d %H:%M"), table, detail,
            time.monotonic() - t0, ", --quick" if args.quick else ""))
    log("wrote %s (%.0f s)" % (args.out, time.monotonic() - t0))


if __name__ == "__main__":
    main()
