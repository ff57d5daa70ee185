"""The command runner: reads always run, writes are recorded and skipped in check mode."""

import sys

import pytest

from ansible_collections.calico.network.plugins.module_utils.runner import (
    AnsibleRunner,
    CommandError,
    Runner,
    RunnerError,
    SubprocessRunner,
)

PY = sys.executable


def test_subprocess_runner_reads_stdout_and_passes_stdin_verbatim():
    runner = SubprocessRunner()

    out = runner.read([PY, "-c", "import sys; print(repr(sys.stdin.read()))"], data="a\nb\n")

    assert out == "'a\\nb\\n'\n"
    assert runner.commands == []


def test_a_failing_command_raises_with_the_command_and_its_stderr():
    runner = SubprocessRunner()
    argv = [PY, "-c", "import sys; sys.stderr.write('boom\\n'); sys.exit(3)"]

    with pytest.raises(CommandError) as raised:
        runner.write(argv, data="x\n", shown=["tool x"])

    assert str(raised.value) == f"{' '.join(argv)} failed (rc=3): boom"
    assert raised.value.details["stdin"] == "x\n"
    assert raised.value.details["stderr"] == "boom\n"
    assert runner.commands == []  # only what succeeded is recorded


def test_a_write_that_may_fail_returns_its_exit_code_and_is_recorded():
    runner = SubprocessRunner()

    rc, _out, _err = runner.write([PY, "-c", "raise SystemExit(1)"], shown=["x"], check=False)

    assert rc == 1
    assert runner.commands == ["x"]


def test_a_missing_binary_is_a_failed_command_not_a_crash():
    with pytest.raises(CommandError, match="rc=127"):
        SubprocessRunner().read(["/nonexistent/calico-binary"])


def test_check_mode_records_writes_without_running_them_but_still_reads(tmp_path):
    runner = SubprocessRunner(check_mode=True)
    marker = tmp_path / "written"

    runner.write([PY, "-c", f"open({str(marker)!r}, 'w')"], shown=["touch it"])
    runner.write_file(str(marker), "1", "sysctl -w it=1")

    assert not marker.exists()
    assert runner.commands == ["touch it", "sysctl -w it=1"]
    assert runner.read([PY, "-c", "print('read')"]) == "read\n"


def test_write_file_writes_and_records(tmp_path):
    runner = SubprocessRunner()
    target = tmp_path / "value"

    runner.write_file(str(target), "1", "sysctl -w value=1")

    assert target.read_text() == "1"
    assert runner.commands == ["sysctl -w value=1"]
    with pytest.raises(RunnerError, match="writing 1 to /nonexistent/dir/value failed"):
        runner.write_file("/nonexistent/dir/value", "1", "x")


def test_binary_falls_back_to_the_bare_name():
    assert SubprocessRunner().binary("calico-no-such-binary") == "calico-no-such-binary"
    assert SubprocessRunner().binary("sh").endswith("/sh")


def test_the_base_runner_only_needs_execute_and_which():
    with pytest.raises(TypeError, match="abstract"):
        Runner()


def test_a_command_that_outlives_its_timeout_is_a_failure_not_a_hang():
    runner = SubprocessRunner(timeout=0.2)

    assert runner.attempt([PY, "-c", "import time; time.sleep(5)"]) == (
        124,
        "",
        "timed out after 0.2 s",
    )


class FakeModule:
    check_mode = False

    def __init__(self):
        self.calls = []
        self.failed = None

    def run_command(self, argv, **kwargs):
        self.calls.append((argv, kwargs))
        return 0, "out", ""

    def get_bin_path(self, name, required=False):
        return f"/usr/sbin/{name}"

    def fail_json(self, **result):
        self.failed = result


def test_the_ansible_runner_passes_stdin_as_binary_data_and_never_checks_rc():
    module = FakeModule()
    runner = AnsibleRunner(module)

    runner.write(["/usr/sbin/ip", "-batch", "-"], data="a\n", shown=["ip a"])

    assert module.calls == [
        (["/usr/sbin/ip", "-batch", "-"], {"data": "a\n", "binary_data": True, "check_rc": False})
    ]
    assert runner.binary("ip") == "/usr/sbin/ip"


def test_the_ansible_runner_fails_the_module_with_the_changes_made_so_far():
    module = FakeModule()
    runner = AnsibleRunner(module)
    runner.commands.append("ip link add x")

    runner.fail(CommandError(["ip", "y"], 2, "", "bad\n", None))

    assert module.failed["msg"] == "ip y failed (rc=2): bad"
    assert module.failed["commands"] == ["ip link add x"]
    assert module.failed["changed"] is True
    assert module.failed["cmd"] == ["ip", "y"]
