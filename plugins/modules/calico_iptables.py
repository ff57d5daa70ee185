#!/usr/bin/python
"""Ansible module calico.network.calico_iptables: own the cali-* iptables chains, Felix style."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: calico_iptables
short_description: Own Calico's cali-* iptables chains and their hooks, atomically and idempotently
version_added: 0.1.0
description:
  - Declares the complete content of every iptables chain whose name starts with
    O(chain_prefix) in the C(raw), C(mangle), C(filter) and C(nat) tables, plus the rules that hook
    those chains into builtin chains. This is what Calico's Felix does with its C(cali-*) chains.
  - Every rule the module writes carries C(-m comment --comment "cali:<id>"), where the id is a
    16-character hash of the table, chain, rule text and the id of the previous rule. The module
    compares ids only, so C(iptables-save) re-formatting a rule never looks like a change.
  - Each table that needs a change gets exactly one C(iptables-restore --noflush) transaction, so
    the kernel never sees a half-written table. A converged table gets no write at all.
  - Ownership is strict. Chains without the prefix and rules without a C(cali:) id comment (Docker,
    firewalld, kube-proxy, the user's own) are never written, moved or deleted, including foreign
    rules in the same builtin chains and foreign rules that jump into C(cali-*) chains.
  - A table left out of O(tables) is wanted with no managed content. Its stale C(cali-*) chains and
    C(cali:)-tagged rules are removed.
  - The chain contents (policy, floating-IP DNAT, dispatch chains) are rendered by the caller. This
    module only owns the mechanics.
author:
  - calico-ansible developers (@calico-ansible)
extends_documentation_fragment:
  - action_common_attributes
attributes:
  check_mode:
    description: Can run in check mode and report what would change without changing it.
    support: full
    details: Reads the current rules and computes the payloads, but runs no C(iptables-restore).
  diff_mode:
    description: Shows what changed (or would change in check mode) with --diff.
    support: full
    details: Before and after are the managed lines of every table, in C(iptables-save) form.
  platform:
    description: Target OS/families that can be operated against.
    platforms: linux
options:
  tables:
    description:
      - Desired managed content per table. Keys are C(raw), C(mangle), C(filter) and C(nat).
      - Each value is a dict with the optional keys C(chains), C(hooks) and C(append).
      - C(chains) maps a chain name to its ordered list of rules. Each chain name must start with
        O(chain_prefix) and be at most 28 characters long. Each rule is written without the leading
        C(-A CHAIN), for example C(-i cali+ -j cali-from-wl-dispatch). A rule that jumps to a
        chain with the prefix must jump to a chain defined in the same table.
      - C(hooks) is a list of C({chain, rule}), where C(chain) is a builtin chain. With
        O(insert_mode=insert) the hooks are kept, in the given order, at the top of that chain.
        If a foreign rule lands above them, they are moved back. With O(insert_mode=append) they
        come after all foreign rules.
      - C(append) is a list of C({chain, rule}) that always stay at the very end of the builtin
        chain, after the hooks. An example is Felix's
        C(-m mark --mark 0x10000/0x10000 -j ACCEPT) in C(FORWARD).
      - Ignored when O(state=absent).
    type: dict
    default: {}
  insert_mode:
    description:
      - Where C(hooks) go in their builtin chains. This is Felix's C(ChainInsertMode).
      - V(insert) puts them first, so Calico policy runs before any other rule.
      - V(append) puts them after the other tools' rules. Those rules must then fall through for
        Calico policy to run.
    type: str
    choices: [insert, append]
    default: insert
  backend:
    description:
      - Which iptables backend to read and write. The module never writes to both.
      - V(auto) picks the backend the host already uses. Kube hint chains
        (C(KUBE-IPTABLES-HINT), C(KUBE-KUBELET-CANARY)) decide first. Otherwise the backend
        whose C(*-save) shows more rules wins. On a tie, the backend that C(iptables --version)
        reports wins.
      - V(nft) uses C(iptables-nft-save)/C(iptables-nft-restore). V(legacy) uses
        C(iptables-legacy-save)/C(iptables-legacy-restore). Plain C(iptables-save)/C(-restore) are
        used only when the split binaries are missing and C(iptables --version) names the same
        backend.
    type: str
    choices: [auto, nft, legacy]
    default: auto
  chain_prefix:
    description:
      - Chains whose names start with this prefix belong to the module. Stale ones are flushed and
        deleted.
      - The id comment is always C(cali:<id>), whatever the prefix is.
    type: str
    default: cali-
  wait:
    description:
      - Seconds C(iptables-restore) waits for the xtables lock. Felix uses 10.
    type: int
    default: 10
  state:
    description:
      - V(present) converges every table to O(tables).
      - V(absent) removes every chain with the prefix and every C(cali:)-tagged rule from all four
        tables, as a reset does. Foreign rules and chains survive.
    type: str
    choices: [present, absent]
    default: present
notes:
  - IPv4 only (C(iptables)).
  - Nothing is persisted across reboots. Re-run the module at boot, as Felix re-programs on start.
  - "A stale chain that a foreign rule still jumps to cannot be deleted without touching that rule.
    It is left empty (so the jump is a no-op) and a warning names the foreign rule."
  - The caller must keep chain names at most 28 characters. Long names can be shortened with
    C(chain_name(prefix, tail)) from C(plugins/module_utils/iptables.py), which hashes the tail the
    way Felix does.
seealso:
  - module: ansible.builtin.iptables
  - module: community.general.iptables_state
"""

EXAMPLES = r"""
- name: Program Calico's filter chains and hooks
  calico.network.calico_iptables:
    tables:
      filter:
        chains:
          cali-FORWARD:
            - -j MARK --set-xmark 0x0/0xe0000
            - -i cali+ -j cali-from-wl-dispatch
            - -o cali+ -j cali-to-wl-dispatch
          cali-from-wl-dispatch:
            - -i cali12345678901 -g cali-fw-cali12345678901
            - -j DROP
          cali-to-wl-dispatch:
            - -o cali12345678901 -g cali-tw-cali12345678901
            - -j DROP
          cali-fw-cali12345678901:
            - -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
            - -j DROP
          cali-tw-cali12345678901:
            - -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
            - -j DROP
        hooks:
          - {chain: FORWARD, rule: -j cali-FORWARD}
        append:
          - {chain: FORWARD, rule: -m mark --mark 0x10000/0x10000 -j ACCEPT}
      nat:
        chains:
          cali-POSTROUTING:
            - -j cali-nat-outgoing
          cali-nat-outgoing: []
        append:
          - {chain: POSTROUTING, rule: -j cali-POSTROUTING}

- name: Remove every cali-* chain and cali-tagged rule (reset)
  calico.network.calico_iptables:
    state: absent

- name: Show what would change, without touching the host
  calico.network.calico_iptables:
    tables: "{{ calico_iptables_tables }}"
  check_mode: true
  diff: true
"""

RETURN = r"""
backend:
  description: The iptables backend that was read and written.
  returned: always
  type: str
  sample: nft
backend_reason:
  description: Why that backend was chosen.
  returned: always
  type: str
  sample: "rules: legacy=0 nft=42"
changed_tables:
  description: Tables that needed a restore (in check mode, tables that would have been written).
  returned: always
  type: list
  elements: str
  sample: [filter, nat]
payloads:
  description: The C(iptables-restore --noflush) input per changed table, for debugging.
  returned: always
  type: dict
  sample:
    filter: |
      *filter
      :cali-FORWARD - [0:0]
      -A cali-FORWARD -m comment --comment "cali:hT6xG0Bq3pM2wK1z" -j DROP
      COMMIT
diff:
  description: Managed lines of all tables before and after, in iptables-save form.
  returned: when diff mode is on
  type: dict
  contains:
    before:
      description: Managed lines before the change.
      type: str
    after:
      description: Managed lines after the change.
      type: str
"""

# Ansible reads DOCUMENTATION/EXAMPLES/RETURN as module-level literals, so imports follow them.
from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.calico.network.plugins.module_utils.iptables import (  # noqa: E402
    SpecError,
    TablePlan,
    desired_tables,
    render_managed,
    render_payload,
)
from ansible_collections.calico.network.plugins.module_utils.iptables_host import (  # noqa: E402
    RestoreError,
    converge,
    detect_backend,
)
from ansible_collections.calico.network.plugins.module_utils.runner import (  # noqa: E402
    AnsibleRunner,
    RunnerError,
)


def run_module() -> None:
    module = AnsibleModule(
        argument_spec={
            "tables": {"type": "dict", "default": {}},
            "insert_mode": {"type": "str", "choices": ["insert", "append"], "default": "insert"},
            "backend": {"type": "str", "choices": ["auto", "nft", "legacy"], "default": "auto"},
            "chain_prefix": {"type": "str", "default": "cali-"},
            "wait": {"type": "int", "default": 10},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
        },
        supports_check_mode=True,
    )
    params = module.params
    prefix = params["chain_prefix"]
    try:
        spec = params["tables"] if params["state"] == "present" else {}
        desired = desired_tables(spec, prefix)
    except SpecError as exc:
        module.fail_json(msg=f"invalid tables: {exc}")

    runner = AnsibleRunner(module)
    try:
        backend = detect_backend(runner, params["backend"])
        plans: list[TablePlan] = converge(
            runner, backend, desired, prefix, params["insert_mode"], params["wait"]
        )
    except RestoreError as error:
        module.fail_json(msg=str(error), **error.details)
    except RunnerError as error:
        if not runner.commands:
            module.fail_json(msg=str(error), **error.details)
        runner.fail(error)
    payloads = {p.table: render_payload(p) for p in plans if p.changed}
    for plan in plans:
        for warning in plan.warnings:
            module.warn(warning)

    result = {
        "changed": bool(payloads),
        "backend": backend.name,
        "backend_reason": backend.reason,
        "changed_tables": list(payloads),
        "payloads": payloads,
    }
    if module._diff:
        header = f"iptables ({backend.name}) {prefix}* chains and cali: rules"
        result["diff"] = {
            "before": render_managed(plans, "before"),
            "after": render_managed(plans, "after"),
            "before_header": header,
            "after_header": header,
        }
    module.exit_json(**result)


def main() -> None:
    run_module()


if __name__ == "__main__":
    main()
