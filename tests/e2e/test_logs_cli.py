"""skiff logs [-f] TASK|SERVICE and skiff run --attach streaming a task's
output, against a real skiffd and its agent (busybox imported into the
image store)."""
import subprocess
import time

from conftest import SKIFF
from tasks_util import (IMAGE, container, daemons, busybox_layout, register, run,  # noqa: F401
                        task_id, wait_tasks)
from test_cli import clean_env, skiff
from test_logs_tasks import register_logged, stream_of, wait_messages


def test_logs_of_a_task(daemons):
    s = daemons.start()
    ecs, logs = s.client(), s.client("logs")
    script = "echo one; echo two >&2; trap 'echo three; exit 0' TERM; while true; do sleep 0.1; done"
    td = register_logged(ecs, "cli-logs", script)
    arn = run(ecs, td)[0]
    wait_messages(logs, "/skiff/cli-logs", stream_of(arn), 2)
    rc, out, err = skiff(s, "logs", arn)
    assert rc == 0, err
    assert sorted(out.splitlines()) == ["one", "two"]
    # By ID too; -f follows until the task stops.
    p = subprocess.Popen([SKIFF, "logs", "-f", arn.rsplit("/", 1)[1]], env=clean_env(s),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         cwd=s.data_dir)
    try:
        time.sleep(1)
        ecs.stop_task(cluster="default", task=arn)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, err
    assert sorted(out.splitlines()[:2]) == ["one", "two"] and out.splitlines()[2:] == ["three"]

    # A task without awslogs says so.
    td = register(ecs, "cli-nologs", [container(command=["sh", "-c", "echo x"])])
    arn2 = run(ecs, td)[0]
    wait_tasks(ecs, [arn2], "STOPPED", timeout=60)
    rc, out, err = skiff(s, "logs", arn2)
    assert rc == 1 and out == ""
    assert "no container with the awslogs log driver" in err, err
    rc, out, err = skiff(s, "logs", "no-such-thing")
    assert rc == 1 and "no task or service 'no-such-thing'" in err, err


def test_run_attach_streams_output(daemons):
    s = daemons.start()
    p = subprocess.Popen([SKIFF, "run", IMAGE, "--name", "attach", "--attach", "--", "sh", "-c",
                          "echo first; sleep 1; echo second >&2; seq 1 2000 | tail -n 1; exit 7"],
                         env=clean_env(s), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, cwd=s.data_dir)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 7, err
    lines = out.splitlines()
    assert lines[0].startswith("arn:aws:ecs:")
    # Each stream keeps its order; between stdout and stderr the order is the
    # one the monitor read them in, which a loaded host may swap.
    assert sorted(lines[1:-1]) == ["2000", "first", "second"], out
    assert [x for x in lines[1:-1] if x != "second"] == ["first", "2000"], out
    assert lines[-1] == "exit code 7", out
    # The definition ships to /skiff/<family>, where skiff logs finds it.
    td = s.client().describe_task_definition(taskDefinition="attach")["taskDefinition"]
    opts = td["containerDefinitions"][0]["logConfiguration"]["options"]
    assert opts["awslogs-group"] == "/skiff/attach" and opts["awslogs-create-group"] == "true"
    rc, out2, err2 = skiff(s, "logs", lines[0])
    assert rc == 0 and out2.splitlines() == lines[1:-1], err2


def test_logs_of_a_service(daemons):
    s = daemons.start()
    ecs, logs = s.client(), s.client("logs")
    script = "echo started $HOSTNAME; while true; do sleep 0.2; done"
    td = register_logged(ecs, "cli-svc", script)
    ecs.create_service(cluster="default", serviceName="logsvc", taskDefinition=td,
                       desiredCount=2, launchType="FARGATE")
    try:
        deadline = time.time() + 120
        while True:
            arns = ecs.list_tasks(cluster="default", serviceName="logsvc")["taskArns"]
            if len(arns) == 2:
                break
            assert time.time() < deadline, arns
            time.sleep(0.2)
        for arn in arns:
            wait_messages(logs, "/skiff/cli-svc", stream_of(arn), 1, timeout=120)
        rc, out, err = skiff(s, "logs", "logsvc")
        assert rc == 0, err
        lines = out.splitlines()
        # Each line names its task (the ID's first 8 characters) and container.
        want = sorted("%s/main | started %s" % (task_id(a)[:8], task_id(a)) for a in arns)
        assert sorted(lines) == want, out
    finally:
        ecs.update_service(cluster="default", service="logsvc", desiredCount=0)
        ecs.delete_service(cluster="default", service="logsvc", force=True)
        deadline = time.time() + 120
        while ecs.list_tasks(cluster="default", serviceName="logsvc")["taskArns"]:
            if time.time() > deadline:
                break
            time.sleep(0.5)
