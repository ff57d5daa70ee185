"""calico_iptables on a real kernel, for both iptables backends, inside throwaway netns.

Every network namespace has its own iptables state (nft and legacy), so each test gets a fresh
one, seeds foreign state (Docker-like chains and rules) into one backend, runs the module
through real ``ansible`` (AnsiballZ, ``-c local``) inside it, and reads back with
``iptables-<backend>-save``. Needs root; without it the tests fail with the reason, never skip.
"""

import json
import os
import re
import subprocess
import uuid
from pathlib import Path

import pytest

from ansible_collections.calico.network.plugins.module_utils.iptables import (
    append_ids,
    hook_ids,
    parse_save,
    rule_id_of,
    rule_ids,
)

REPO = Path(__file__).resolve().parents[2]
ANSIBLE = REPO / ".venv" / "bin" / "ansible"
BACKENDS = ["nft", "legacy"]

FOREIGN = """*filter
:DOCKER-USER - [0:0]
-A FORWARD -j DOCKER-USER
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A DOCKER-USER -s 10.9.9.9/32 -j DROP
-A DOCKER-USER -j RETURN
COMMIT
*nat
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
COMMIT
"""

# Desired rules as the module receives them, and how iptables-save prints the ones it
# re-formats: the module must still see them as converged.
TCP_80 = "-p tcp --dport 80 -j ACCEPT"
SAVED_FORM = {TCP_80: "-p tcp -m tcp --dport 80 -j ACCEPT"}
MARK_ACCEPT = "-m mark --mark 0x10000/0x10000 -j ACCEPT"


def full_tables() -> dict:
    return {
        "raw": {
            "chains": {"cali-PREROUTING": ["-i cali+ -j MARK --set-xmark 0x40000/0x40000"]},
            "hooks": [{"chain": "PREROUTING", "rule": "-j cali-PREROUTING"}],
        },
        "filter": {
            "chains": {
                "cali-FORWARD": [
                    "-i cali+ -j cali-from-wl-dispatch",
                    "-o cali+ -j cali-to-wl-dispatch",
                ],
                "cali-from-wl-dispatch": ["-i cali1 -g cali-fw-cali1", "-j DROP"],
                "cali-to-wl-dispatch": ["-o cali1 -g cali-tw-cali1", "-j DROP"],
                "cali-fw-cali1": [
                    "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
                    "-j DROP",
                ],
                "cali-tw-cali1": [TCP_80, "-j DROP"],
            },
            "hooks": [{"chain": "FORWARD", "rule": "-j cali-FORWARD"}],
            "append": [{"chain": "FORWARD", "rule": MARK_ACCEPT}],
        },
        "nat": {
            "chains": {
                "cali-PREROUTING": ["-j cali-fip-dnat"],
                "cali-fip-dnat": ["-d 203.0.113.10/32 -j DNAT --to-destination 10.65.0.2"],
            },
            "hooks": [{"chain": "PREROUTING", "rule": "-j cali-PREROUTING"}],
        },
    }


def small_tables() -> dict:
    """full_tables() after a workload and the nat feature went away."""
    tables = full_tables()
    filter_ = tables["filter"]["chains"]
    del filter_["cali-fw-cali1"], filter_["cali-tw-cali1"]
    filter_["cali-from-wl-dispatch"] = ["-j DROP"]
    filter_["cali-to-wl-dispatch"] = ["-j DROP"]
    del tables["nat"]
    return tables


# --------------------------------------------------------------------------- plumbing


def sh(argv: list[str], data: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(argv, input=data, capture_output=True, text=True, check=False)


class Netns:
    def __init__(self, name: str, backend: str) -> None:
        self.name = name
        self.backend = backend

    def run(self, argv: list[str], data: str | None = None) -> subprocess.CompletedProcess:
        return sh(["ip", "netns", "exec", self.name, *argv], data)

    def iptables(self, *args: str) -> None:
        done = self.run([f"iptables-{self.backend}", *args])
        assert done.returncode == 0, done.stderr

    def restore(self, payload: str) -> None:
        done = self.run([f"iptables-{self.backend}-restore", "--noflush"], payload)
        assert done.returncode == 0, done.stderr

    def save(self, backend: str | None = None) -> str:
        done = self.run([f"iptables-{backend or self.backend}-save"])
        assert done.returncode == 0, done.stderr
        # The header/footer carry timestamps; everything else must be stable.
        return "\n".join(line for line in done.stdout.splitlines() if not line.startswith("#"))

    def module(self, check: bool = False, **args: object) -> dict:
        """Run calico.network.calico_iptables through real ansible inside this netns."""
        argv = [str(ANSIBLE), "localhost", "-i", "localhost,", "-c", "local"]
        argv += ["-e", f"ansible_python_interpreter={REPO / '.venv' / 'bin' / 'python'}"]
        argv += ["-m", "calico.network.calico_iptables", "-a", json.dumps(args), "--diff"]
        argv += ["--check"] if check else []
        env = {
            **os.environ,
            "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
            "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
            "ANSIBLE_LOCALHOST_WARNING": "0",
        }
        done = subprocess.run(
            ["ip", "netns", "exec", self.name, *argv],
            capture_output=True,
            text=True,
            cwd=REPO,
            env=env,
            check=False,
        )
        try:
            plays = json.loads(done.stdout)["plays"]
        except (ValueError, KeyError):
            pytest.fail(f"ansible produced no JSON (rc={done.returncode}): {done.stderr}")
        return plays[0]["tasks"][0]["hosts"]["localhost"]


@pytest.fixture(scope="session")
def root() -> None:
    if os.geteuid() != 0:
        pytest.fail(
            "tests/integration/test_iptables_netns.py needs root: it creates network namespaces "
            "and programs iptables in them (run as root, e.g. in the CI VM)"
        )
    for tool in ("ip", "iptables-nft-save", "iptables-legacy-save"):
        if sh(["sh", "-c", f"command -v {tool}"]).returncode != 0:
            pytest.fail(f"{tool} is missing: install iproute2 and iptables")


@pytest.fixture(params=BACKENDS)
def netns(request, root):
    """A fresh namespace seeded with foreign state in the backend under test."""
    name = f"calico-ipt-test-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    created = sh(["ip", "netns", "add", name])
    assert created.returncode == 0, created.stderr
    try:
        ns = Netns(name, request.param)
        ns.restore(FOREIGN)
        yield ns
    finally:
        deleted = sh(["ip", "netns", "del", name])
        assert deleted.returncode == 0, deleted.stderr


# --------------------------------------------------------------------------- views


OUR_COMMENT = re.compile(r' ?-m comment --comment "cali:[A-Za-z0-9_-]{16}"')


def foreign_view(save: str) -> list[str]:
    """The save output with everything we own removed, kept per table."""
    keep = []
    for line in save.splitlines():
        if line.startswith(":cali-") or line.startswith("-A cali-") or rule_id_of(line):
            continue
        keep.append(line)
    return keep


def seeded_tables(save: str) -> list[str]:
    """foreign_view limited to the tables FOREIGN seeded (raw appears once we write to it)."""
    lines, table = [], ""
    for line in foreign_view(save):
        table = line[1:] if line.startswith("*") else table
        if table in ("filter", "nat"):
            lines.append(line)
    return lines


def chain_view(save: str, table: str, chain: str) -> list[tuple[str | None, str]]:
    """(our id or None, rule text without our comment) for every rule of one chain."""
    rules = parse_save(save)[table].chains[chain]
    return [(r.rule_id, OUR_COMMENT.sub("", r.spec).strip()) for r in rules]


def expected_chain(table: str, chain: str, rules: list[str]) -> list[tuple[str | None, str]]:
    ids = rule_ids(table, chain, rules)
    return [(i, SAVED_FORM.get(r, r)) for i, r in zip(ids, rules, strict=True)]


def managed_chains(save: str, table: str) -> set[str]:
    state = parse_save(save).get(table)
    return {c for c in state.chains if c.startswith("cali-")} if state else set()


def assert_managed_matches(save: str, tables: dict) -> None:
    for table, body in tables.items():
        assert managed_chains(save, table) == set(body["chains"])
        for chain, rules in body["chains"].items():
            assert chain_view(save, table, chain) == expected_chain(table, chain, rules)


# --------------------------------------------------------------------------- tests


def test_apply_converges_and_leaves_foreign_state_byte_identical(netns) -> None:
    foreign_before = foreign_view(netns.save())

    first = netns.module(tables=full_tables())
    assert first["changed"] is True, first
    assert first["backend"] == netns.backend  # auto found the seeded backend
    assert first["changed_tables"] == ["raw", "filter", "nat"]

    save = netns.save()
    assert_managed_matches(save, full_tables())
    forward_hook = hook_ids("filter", "FORWARD", ["-j cali-FORWARD"])[0]
    mark_accept = append_ids("filter", "FORWARD", [MARK_ACCEPT])[0]
    assert chain_view(save, "filter", "FORWARD") == [
        (forward_hook, "-j cali-FORWARD"),
        (None, "-j DOCKER-USER"),
        (None, "-o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"),
        (mark_accept, MARK_ACCEPT),
    ]
    assert seeded_tables(save) == seeded_tables("\n".join(foreign_before))
    other = "legacy" if netns.backend == "nft" else "nft"
    assert "cali" not in netns.save(other), "wrote to the other backend"

    second = netns.module(tables=full_tables())
    assert second["changed"] is False, second["payloads"]
    assert second["diff"]["before"] == second["diff"]["after"]
    assert netns.save() == save


def test_check_mode_reports_the_change_and_touches_nothing(netns) -> None:
    netns.module(tables=full_tables())
    save = netns.save()
    checked = netns.module(check=True, tables=small_tables())
    assert checked["changed"] is True
    assert set(checked["changed_tables"]) == {"filter", "nat"}
    assert "-X cali-fw-cali1" in checked["payloads"]["filter"]
    assert "cali-fw-cali1" in checked["diff"]["before"]
    assert "cali-fw-cali1" not in checked["diff"]["after"]
    assert netns.save() == save


def test_hook_returns_to_the_top_after_a_foreign_insert(netns) -> None:
    netns.module(tables=full_tables())
    netns.iptables("-I", "FORWARD", "1", "-s", "10.8.8.8/32", "-j", "DROP")
    foreign_before = foreign_view(netns.save())

    moved = netns.module(tables=full_tables())
    assert moved["changed_tables"] == ["filter"]
    assert "10.8.8.8" not in moved["payloads"]["filter"]
    forward = chain_view(netns.save(), "filter", "FORWARD")
    assert forward[0][1] == "-j cali-FORWARD"
    assert forward[1] == (None, "-s 10.8.8.8/32 -j DROP")
    assert foreign_view(netns.save()) == foreign_before
    assert netns.module(tables=full_tables())["changed"] is False


def test_shrinking_and_absent_remove_only_what_is_ours(netns) -> None:
    foreign_before = seeded_tables(netns.save())
    netns.module(tables=full_tables())

    shrunk = netns.module(tables=small_tables())
    assert shrunk["changed"] is True
    save = netns.save()
    assert_managed_matches(save, small_tables())
    assert managed_chains(save, "nat") == set()
    assert chain_view(save, "raw", "PREROUTING")[0][1] == "-j cali-PREROUTING"
    assert seeded_tables(save) == foreign_before
    assert netns.module(tables=small_tables())["changed"] is False

    reset = netns.module(state="absent")
    assert reset["changed"] is True
    save = netns.save()
    assert "cali" not in save
    assert seeded_tables(save) == foreign_before
    assert netns.module(state="absent")["changed"] is False


def test_a_rejected_rule_fails_its_whole_table_and_applies_nothing(netns) -> None:
    netns.module(tables=small_tables())
    save = netns.save()
    broken = full_tables()
    broken["filter"]["chains"]["cali-tw-cali1"].append("-j NO-SUCH-TARGET")
    result = netns.module(tables=broken)
    assert result.get("failed") is True
    assert result["table"] == "filter"
    assert "NO-SUCH-TARGET" in result["payload"]
    # raw was converged, filter rejected (nothing of its new chains half-applied), nat never ran.
    after = netns.save()
    assert [line for line in after.splitlines() if "*filter" in line or "cali" in line] == [
        line for line in save.splitlines() if "*filter" in line or "cali" in line
    ]
    assert managed_chains(after, "filter") == set(small_tables()["filter"]["chains"])


def test_a_foreign_jump_into_our_chain_is_never_touched(netns) -> None:
    netns.module(tables=full_tables())
    netns.iptables("-A", "INPUT", "-s", "10.7.7.7/32", "-j", "cali-fw-cali1")
    netns.iptables("-A", "INPUT", "-j", "cali-FORWARD")

    rewritten = full_tables()
    rewritten["filter"]["chains"]["cali-FORWARD"] = ["-j RETURN"]
    result = netns.module(tables=rewritten)
    assert result["changed"] is True
    assert "INPUT" not in result["payloads"]["filter"]
    assert chain_view(netns.save(), "filter", "INPUT") == [
        (None, "-s 10.7.7.7/32 -j cali-fw-cali1"),
        (None, "-j cali-FORWARD"),
    ]

    reset = netns.module(state="absent")
    assert reset["changed"] is True
    assert "kept cali-FORWARD empty" in json.dumps(reset.get("warnings"))
    save = netns.save()
    assert managed_chains(save, "filter") == {"cali-FORWARD", "cali-fw-cali1"}
    assert parse_save(save)["filter"].chains["cali-FORWARD"] == []
    assert len(chain_view(save, "filter", "INPUT")) == 2
    assert netns.module(state="absent")["changed"] is False
