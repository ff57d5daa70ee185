"""The workloads core's I/O through a Runner that is not Ansible's: reading, applying, MTU."""

import json

import pytest

from ansible_collections.calico.network.plugins.module_utils import workloads_host
from ansible_collections.calico.network.plugins.module_utils.runner import Runner
from ansible_collections.calico.network.plugins.module_utils.workloads import (
    Plan,
    validate_workloads,
)

WEB = {"name": "web-1", "ip": "172.17.0.1", "interface": "cali1234567890a"}


class ScriptedRunner(Runner):
    """Answers reads from a dict keyed by the argv after ``ip``; writes succeed."""

    def __init__(self, answers, check_mode=False):
        super().__init__(check_mode)
        self.answers = answers
        self.ran = []

    def which(self, name):
        return name

    def execute(self, argv, data):
        self.ran.append((argv, data))
        return 0, self.answers.get(" ".join(argv[1:]), ""), ""


def test_read_state_reads_root_then_netns_list_and_tolerates_no_run_netns(tmp_path):
    runner = ScriptedRunner({"-j -d -batch -": "[]\n[]\n", "-j -d netns list": ""})

    state = workloads_host.read_state(runner, validate_workloads([WEB]), True, str(tmp_path))

    assert [argv for argv, _ in runner.ran] == [
        ["ip", "-j", "-d", "-batch", "-"],
        ["ip", "-j", "-d", "netns", "list"],
    ]
    assert runner.ran[0][1] == "link show\nroute show\n"
    assert state.links == {} and state.netns_names == set()


def test_apply_in_check_mode_records_exactly_the_plans_commands(tmp_path):
    plan = Plan(setup=["netns add web-1"], netns={"web-1": ["link set lo up"]})
    plan.sysctls.append(("net/ipv4/conf/cali1234567890a/proxy_arp", "1"))
    runner = ScriptedRunner({}, check_mode=True)

    workloads_host.apply(runner, plan, str(tmp_path))

    assert runner.commands == plan.commands()
    assert runner.ran == []


def test_apply_writes_sysctls_below_proc_sys(tmp_path):
    key = "net/ipv4/conf/cali1234567890a/proxy_arp"
    (tmp_path / key).parent.mkdir(parents=True)
    runner = ScriptedRunner({})

    workloads_host.apply(runner, Plan(sysctls=[(key, "1")]), str(tmp_path))

    assert (tmp_path / key).read_text() == "1"
    assert runner.commands == ["sysctl -w net.ipv4.conf.cali1234567890a.proxy_arp=1"]


@pytest.mark.parametrize(
    ("mtu", "underlay_ip", "underlay_mtu", "used", "expected"),
    [
        (0, None, 0, ["vxlan"], 1500),
        (1400, "10.0.0.1", 0, ["vxlan"], 1400),
        (0, None, 9000, ["ipip"], 8980),
        (0, "10.0.0.1", 0, ["vxlan"], 1410),
        (0, "10.0.0.1", 0, [], 1460),
    ],
)
def test_default_mtu(mtu, underlay_ip, underlay_mtu, used, expected):
    eth0 = {"ifname": "eth0", "mtu": 1460, "addr_info": [{"family": "inet", "local": "10.0.0.1"}]}
    runner = ScriptedRunner({"-j -d address show": json.dumps([eth0])})

    assert workloads_host.default_mtu(runner, mtu, underlay_ip, underlay_mtu, used) == expected
