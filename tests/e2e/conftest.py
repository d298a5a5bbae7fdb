"""Fixtures for end-to-end tests: a real skiffd on a free loopback port with a
temporary data dir, driven by Debian's aws CLI (/usr/bin/aws) and boto3.

SKIFF_BUILD selects the build directory (default: build; CI also runs the
suite against build-asan)."""
import configparser
import json
import os
import signal
import subprocess
import tempfile
import time

import boto3
import botocore.config
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, os.environ.get("SKIFF_BUILD", "build"))
SKIFFD = os.path.join(BUILD, "skiffd")
SKIFF = os.path.join(BUILD, "skiff")
AWS = "/usr/bin/aws"
REGION = "us-east-1"


SANITIZER_MARKS = ("runtime error:", "AddressSanitizer", "LeakSanitizer")


def sanitizer_excerpt(text):
    """The sanitizer report in a daemon's log, or None: from a few lines
    before its first line, so that CI output that keeps only the start of
    a failure still shows the stack, then the log's last lines."""
    starts = [i for i in (text.find(m) for m in SANITIZER_MARKS) if i >= 0]
    if not starts:
        return None
    begin = text.rfind("\n", 0, min(starts))
    for _ in range(5):
        if begin <= 0:
            break
        begin = text.rfind("\n", 0, begin)
    report = text[max(begin, 0):][:16000]
    tail = text[-2000:] if len(text) - max(begin, 0) > 16000 else ""
    return report + ("\n[...]\n" + tail if tail else "")


def log_sanitizer_excerpt(path):
    try:
        with open(path, errors="replace") as f:
            return sanitizer_excerpt(f.read())
    except OSError:
        return None


class Skiffd:
    """One skiffd process and its data dir."""

    # Every daemon a test made, so that the session can clean up after the
    # ones a test stopped without cleanup_host (see cleanup_stray_daemons).
    instances = []

    def __init__(self, data_dir, extra_args=()):
        self.data_dir = data_dir
        self.extra_args = list(extra_args)
        self.proc = None
        self.port = None
        self.log_path = os.path.join(data_dir, "skiffd.log")
        # Each daemon owns its run dir and cgroup parent, so that daemons of
        # concurrent tests never reconcile away each other's tasks.
        tag = os.urandom(4).hex()
        self.run_dir = "/run/skiff-t" + tag
        self.cgroup_parent = "/skiff-t" + tag
        Skiffd.instances.append(self)

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.port

    @property
    def credentials(self):
        return os.path.join(self.data_dir, "credentials")

    def profile(self, name="default"):
        cp = configparser.ConfigParser()
        cp.read(self.credentials)
        return dict(cp[name])

    def start(self, port=0):
        listen = "127.0.0.1:%d" % (port or self.port or 0)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [SKIFFD, "--data-dir", self.data_dir, "--listen", listen,
             "--run-dir", self.run_dir, "--cgroup-parent", self.cgroup_parent] + self.extra_args,
            stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        line = self.proc.stdout.readline().decode()
        if "listening on" not in line:
            self.proc.wait(timeout=10)
            raise RuntimeError("skiffd did not start: %r\n%s" % (line, self.log()))
        self.port = int(line.rsplit(":", 1)[1])
        self.wait_healthy()
        return self

    def wait_healthy(self, timeout=10):
        import urllib.request
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(self.endpoint + "/healthz", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("skiffd not healthy\n" + self.log())

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    @property
    def pid(self):
        return self.proc.pid

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.proc.stdout.close()
            rc = self.proc.returncode
            self.proc = None
            return rc
        return None

    def cleanup_host(self):
        """After the daemon stopped: ends what its tasks left running (only
        processes started for this daemon: their command line or cgroup
        names its run dir, data dir or cgroup parent), unmounts and removes
        its run dir, and removes its cgroups."""
        marks = (self.run_dir, self.data_dir, self.cgroup_parent + "/")
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) == os.getpid():
                continue
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    cmd = f.read().decode(errors="replace")
                with open("/proc/%s/cgroup" % pid) as f:
                    cg = f.read()
            except OSError:
                continue
            if any(m in cmd for m in marks) or (self.cgroup_parent + "/") in cg:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except OSError:
                    pass
        time.sleep(0.2)
        # Task disks (loop-mounted ext4 under DATA-DIR/tasks/*/rw) and the
        # run dir's namespace mounts: deepest first.
        with open("/proc/self/mountinfo") as f:
            mounts = [line.split()[4] for line in f]
        mine = [m for m in mounts if m.startswith(self.run_dir + "/") or m == self.run_dir
                or m.startswith(self.data_dir + "/")]
        for m in sorted(mine, key=len, reverse=True):
            subprocess.run(["umount", "-l", m], stderr=subprocess.DEVNULL)
        subprocess.run(["rm", "-rf", self.run_dir])
        for root, dirs, _ in os.walk("/sys/fs/cgroup"):
            if os.path.basename(root) == self.cgroup_parent.lstrip("/"):
                for sub, _, _ in sorted(os.walk(root), key=lambda w: -len(w[0])):
                    try:
                        os.rmdir(sub)
                    except OSError:
                        pass
                dirs[:] = []
            elif root.count("/") > 4:
                dirs[:] = []

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc.stdout.close()
        self.proc = None

    def restart(self):
        self.stop()
        return self.start(self.port)

    def env(self, profile="default"):
        env = dict(os.environ)
        for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                  "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONFIG_FILE"):
            env.pop(k, None)
        env["AWS_SHARED_CREDENTIALS_FILE"] = self.credentials
        env["AWS_CONFIG_FILE"] = os.devnull
        env["AWS_PROFILE"] = profile
        env["AWS_PAGER"] = ""
        env["AWS_MAX_ATTEMPTS"] = "1"
        env["SKIFF_ENDPOINT"] = self.endpoint
        return env

    def aws(self, *args, profile="default", check=False, timeout=60):
        """Runs /usr/bin/aws against this skiffd. Returns (rc, parsed JSON or
        stdout text, stderr)."""
        cmd = [AWS, "--endpoint-url", self.endpoint, "--region", REGION, "--output", "json"]
        cmd += list(args)
        p = subprocess.run(cmd, env=self.env(profile), capture_output=True, text=True,
                           timeout=timeout)
        out = p.stdout
        try:
            out = json.loads(out) if out.strip() else {}
        except ValueError:
            pass
        if check and p.returncode != 0:
            raise AssertionError("aws %s failed (%d): %s" % (" ".join(args), p.returncode,
                                                             p.stderr))
        return p.returncode, out, p.stderr

    def client(self, service="ecs", profile="default", retries=0):
        prof = self.profile(profile)
        return boto3.client(
            service, endpoint_url=self.endpoint, region_name=REGION,
            aws_access_key_id=prof["aws_access_key_id"],
            aws_secret_access_key=prof["aws_secret_access_key"],
            aws_session_token=prof.get("aws_session_token"),
            config=botocore.config.Config(retries={"max_attempts": retries + 1,
                                                   "mode": "standard"}))

    def add_profile(self, name, account_id, access_key, secret, session_token=None):
        """Appends a profile (another account) and makes skiffd reload."""
        with open(self.credentials, "a") as f:
            f.write("\n[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
                    "account_id = %s\n" % (name, access_key, secret, account_id))
            if session_token:
                f.write("aws_session_token = %s\n" % session_token)
        self.proc.send_signal(signal.SIGHUP)
        # The reload is asynchronous: wait until the new key is known (on a
        # loaded machine that can take well over the moment it usually does).
        ecs = self.client(profile=name)
        deadline = time.monotonic() + 30
        while True:
            try:
                ecs.list_clusters(maxResults=1)
                return
            except botocore.exceptions.ClientError as e:
                code = e.response["Error"]["Code"]
                if code not in ("UnrecognizedClientException", "InvalidSignatureException") \
                        or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Parallel runs (make check: pytest-xdist --dist loadgroup) keep each
    file's tests on one worker, so module fixtures are made once. (Files
    with task networking run side by side too: each skiffd has its own
    scope of link names and nftables tables; docs/network.md.)"""
    for item in items:
        item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))

@pytest.fixture(scope="session", autouse=True)
def cleanup_stray_daemons():
    """At the end of the session: stops any daemon still running and removes
    the run dirs, mounts, cgroups and task processes of every daemon made."""
    yield
    for s in Skiffd.instances:
        if s.proc is not None:
            s.stop()
        s.cleanup_host()


@pytest.fixture
def make_skiffd():
    """Factory: make_skiffd(*extra_args) starts a skiffd; all are stopped at
    the end of the test."""
    started = []
    dirs = []

    def make(*extra_args):
        d = tempfile.mkdtemp(prefix="skiff-e2e-")
        dirs.append(d)
        s = Skiffd(d, extra_args).start()
        started.append(s)
        return s

    yield make
    for s in started:
        s.stop()
        s.cleanup_host()
    # Under an ASan/UBSan build a sanitizer report fails the test.
    reports = [r for r in (log_sanitizer_excerpt(s.log_path) for s in started) if r]
    for d in dirs:
        subprocess.run(["rm", "-rf", d])
    if reports:
        pytest.fail("sanitizer report in skiffd.log:\n" + "\n".join(reports), pytrace=False)


@pytest.fixture
def skiffd(make_skiffd):
    """A fresh skiffd with throttling relaxed so tests are not rate limited."""
    return make_skiffd("--throttle-read", "off", "--throttle-write", "off")
