#!/usr/bin/python3
"""bench/net, second part: what task networking adds to a task start.

Two skiffds in the same run, one plain and one with --task-network (a veth
in the default subnet's bridge, an address from the subnet, the security
group's nftables chains), the same busybox image in both. Tasks are
launched one at a time, alternating between the two daemons so that both
see the same machine: latency = the task's startedAt minus the client's
clock before RunTask (one host, one clock). Each task is stopped again
before the next launch, so neither daemon piles up idle tasks.

Target (issue 5): the networked start no more than 1.3x the plain one.

Environment:
  SKIFF_BUILD      build dir holding skiffd (default: build)
  BENCH_NET_TASKS  launches per daemon (default: 40)
"""
import os
import shutil
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))

import conftest  # noqa: E402
import net_util  # noqa: E402
import tasks_util  # noqa: E402

N = int(os.environ.get("BENCH_NET_TASKS", "40"))


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def wait_status(ecs, arn, want, timeout=120):
    deadline = time.time() + timeout
    while True:
        [t] = tasks_util.describe(ecs, [arn])
        if t["lastStatus"] == want:
            return t
        if t["lastStatus"] == "STOPPED":
            raise SystemExit("bench/net: a task stopped: %s" % t.get("stoppedReason"))
        if time.time() > deadline:
            raise SystemExit("bench/net: task not %s after %ds" % (want, timeout))
        time.sleep(0.005)


def launch(ecs, launched):
    t0 = time.time()
    [arn] = tasks_util.run(ecs, "bench")
    launched.append(arn)
    t = wait_status(ecs, arn, "RUNNING")
    ecs.stop_task(task=arn)
    return t["startedAt"].timestamp() - t0


def main():
    if os.geteuid() != 0:
        print("bench/net: needs root")
        return 1
    work = tempfile.mkdtemp(prefix="skiff-bench-net-")
    layout = tasks_util.build_layout(work)
    daemons = {}
    scopes = []
    try:
        for name, args in (("plain", ()), ("network", ("--task-network",))):
            d = os.path.join(work, name)
            os.makedirs(d)
            # Room for the tasks still on their way down.
            s = conftest.Skiffd(d, ("--throttle-read", "off", "--throttle-write", "off",
                                    "--node-capacity", "%d:%d" % (64 * 256, 64 * 512)) + args)
            s.start()
            if name == "network":
                scopes.append(net_util.scope_of(s))
            tasks_util.import_image(s, layout)
            ecs = s.client()
            ecs.create_cluster(clusterName="default")
            tasks_util.register(ecs, "bench", [tasks_util.container(command=[
                "sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"])])
            daemons[name] = (s, ecs, [])
        # Warm up both (storage pool, connections, the bridge).
        for s, ecs, launched in daemons.values():
            for _ in range(2):
                launch(ecs, launched)
        lat = {name: [] for name in daemons}
        for _ in range(N):
            for name, (s, ecs, launched) in daemons.items():
                lat[name].append(launch(ecs, launched) * 1000)
        p = {name: (statistics.median(v), pct(v, 99)) for name, v in lat.items()}
        print()
        print("task start, RunTask -> RUNNING, %d launches each, alternating" % N)
        print("%-22s %10s %10s" % ("", "p50 ms", "p99 ms"))
        for name in daemons:
            print("%-22s %10.1f %10.1f" % ("--task-network" if name == "network" else "plain",
                                           *p[name]))
        ratio = p["network"][0] / p["plain"][0]
        print("networked / plain p50 = %.2fx (target <= 1.3x): %s; p99 %.2fx"
              % (ratio, "met" if ratio <= 1.3 else "MISSED", p["network"][1] / p["plain"][1]))
        print("load average %.1f" % os.getloadavg()[0])
        return 0
    finally:
        # Every task launched must be STOPPED (torn down: mounts, loop
        # devices, cgroups, links) before its daemon goes: tasks outlive
        # skiffd by design, and one still stopping would be left behind.
        for s, ecs, launched in daemons.values():
            try:
                arns = list(launched)
                for a in arns:
                    ecs.stop_task(task=a)
                deadline = time.time() + 120
                while arns and time.time() < deadline:
                    arns = [t["taskArn"] for i in range(0, len(arns), 100)
                            for t in tasks_util.describe(ecs, arns[i:i + 100])
                            if t["lastStatus"] != "STOPPED"]
                    time.sleep(0.2)
            except Exception:  # noqa: BLE001 - best effort at the end
                pass
            s.stop()
            s.cleanup_host()
        for sc in scopes:
            net_util.drop_scope(sc)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
