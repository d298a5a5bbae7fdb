"""skiff image pull's progress display, through a slow proxy in front of
docker-registry so the pull takes a few seconds: on a terminal one line per
layer redrawn in place (state, bytes done / total, rate, ETA); elsewhere one
plain line per change of a layer's state."""
import os
import pty
import re
import select
import subprocess
import time

import registry as reg
from conftest import SKIFF
from registry import registry  # noqa: F401 (fixture)
from test_cli import clean_env

ORDER = ["Waiting", "Downloading", "Download complete", "Extracting", "Pull complete"]


def short(digest):
    return digest[:len("sha256:") + 12]


def slow_image(registry, tag):
    img = reg.Image([(reg.busybox_layer(), "gzip"),
                     (reg.Layer().file("big", os.urandom(1 << 20)).bytes(), "gzip")])
    reg.Pusher(registry).image("slow", tag, img)
    return img


def test_plain_lines_when_not_a_terminal(skiffd, registry):
    img = slow_image(registry, "plain")
    proxy = reg.Proxy(("127.0.0.1", registry.port), rate=400 << 10)
    try:
        ref = "%s/slow:plain" % proxy.host
        p = subprocess.run([SKIFF, "image", "pull", ref], env=clean_env(skiffd),
                           cwd=skiffd.data_dir, capture_output=True, text=True, timeout=180)
    finally:
        proxy.close()
    assert p.returncode == 0, p.stderr
    lines = p.stderr.splitlines()
    assert lines[0] == "Pulling %s" % ref, lines
    assert re.match(r"^Pulled %s in \d+\.\ds$" % re.escape(ref), lines[-1]), lines
    events = {}
    for line in lines[1:-1]:
        m = re.match(r"^(sha256:[0-9a-f]{12}): (.+)$", line)
        assert m, line
        word = re.sub(r" \(.*\)$", "", m.group(2))
        assert word in ORDER, line
        events.setdefault(m.group(1), []).append((word, m.group(2)))
    big = events[short(img.layer_digests[1])]
    words = [w for w, _ in big]
    # Each line is a change, in the order a layer goes through.
    assert words == sorted(set(words), key=ORDER.index), big
    assert "Downloading" in words and words[-1] == "Pull complete", big
    size = [full for w, full in big if w == "Downloading"][0]
    assert re.match(r"^Downloading \(1\.0MiB\)$", size), size


def test_terminal_redraws_each_layer_in_place(skiffd, registry):
    img = slow_image(registry, "tty")
    proxy = reg.Proxy(("127.0.0.1", registry.port), rate=300 << 10)
    try:
        ref = "%s/slow:tty" % proxy.host
        pid, fd = pty.fork()
        if pid == 0:
            os.chdir(skiffd.data_dir)
            os.execve(SKIFF, [SKIFF, "image", "pull", ref], clean_env(skiffd))
        chunks = []
        deadline = time.time() + 180
        while time.time() < deadline:
            r, _, _ = select.select([fd], [], [], 1)
            if not r:
                continue
            try:
                data = os.read(fd, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    finally:
        proxy.close()
    text = b"".join(chunks).decode(errors="replace")
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, text
    # Redrawn in place: the cursor goes back up over the block.
    assert len(re.findall(r"\x1b\[\d+A", text)) >= 3, text
    big = re.escape(short(img.layer_digests[1]))
    # While it downloads: a bar, bytes done / total, then rate and ETA.
    progress = re.findall(
        big + r"  Downloading\s+\[[=> ]+\] ([\d.]+[KMG]?i?B)/1\.0MiB  ([\d.]+[KMG]?i?B)/s  ETA (\d+)s",
        text)
    assert len(progress) >= 2, text
    assert len({done for done, _, _ in progress}) >= 2, progress  # bytes move
    # The end: the spinner line becomes the result; each layer shows done.
    tail = text.split("Pulled %s in " % ref)[-1]
    assert re.search(big + r"  Pull complete", tail), tail
    assert "\r\x1b[K" in text
