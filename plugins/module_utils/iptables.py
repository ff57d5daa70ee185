"""Pure mechanics of owning Felix-style ``cali-*`` iptables chains.

Nothing here runs a command: the module reads ``iptables-save`` output, hands it to these
functions and feeds the returned payload to ``iptables-restore --noflush``. Keeping the logic
pure lets the unit tests cover every plan without a kernel.

Ownership rules (the same as Felix's):

* a chain whose name starts with the prefix is ours, whatever it contains;
* in any other chain (builtin or foreign) only rules carrying ``-m comment --comment "cali:<id>"``
  are ours; everything else belongs to somebody else and is never written, moved or deleted.

Every rule we write carries an id that hashes its table, chain, content and the id of the rule
before it, so comparing ids is enough to know whether a chain is converged. That is what makes
the module immune to ``iptables-save`` re-formatting rules (``-p tcp`` → ``-p tcp -m tcp``).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

TABLES: tuple[str, ...] = ("raw", "mangle", "filter", "nat")
BUILTIN_CHAINS: dict[str, tuple[str, ...]] = {
    "raw": ("PREROUTING", "OUTPUT"),
    "mangle": ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"),
    "filter": ("INPUT", "FORWARD", "OUTPUT"),
    "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
}
MAX_CHAIN_NAME = 28  # xtables limit (29 bytes including NUL); Felix uses the same bound
ID_LENGTH = 16
COMMENT_PREFIX = "cali:"
SHORTENED_MARK = "_"
INSERT = "insert"
APPEND = "append"
# Chains kube-proxy and kubelet create to announce which backend they write to; Felix and
# kube-proxy both trust them over rule counts.
BACKEND_HINT_CHAINS = ("KUBE-IPTABLES-HINT", "KUBE-KUBELET-CANARY")

_ID_RE = re.compile(r'--comment "?' + COMMENT_PREFIX + r"([A-Za-z0-9_-]{" + str(ID_LENGTH) + r"})")
_COMMAND_FLAGS = frozenset(
    {"-A", "-I", "-D", "-R", "-N", "-X", "-F", "-P", "-Z", "-E", "-L", "-S", "-C"}
    | {"--append", "--insert", "--delete", "--replace", "--new-chain", "--delete-chain"}
    | {"--flush", "--policy", "--zero", "--rename-chain", "--list", "--list-rules", "--check"}
)
_JUMP_FLAGS = frozenset({"-j", "-g", "--jump", "--goto"})


class SpecError(ValueError):
    """The desired state is unusable; the message names the table, chain and rule."""


# --------------------------------------------------------------------------- hashing


def _b64(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def chain_name(prefix: str, tail: str, max_length: int = MAX_CHAIN_NAME) -> str:
    """Return ``prefix + tail``, or ``prefix + "_" + hash(tail)`` when that would be too long.

    Same scheme as Felix's ``hashutils.GetLengthLimitedID``: a tail that itself starts with the
    shortening mark is hashed too, so a literal name can never collide with a shortened one.
    """
    if len(prefix) + 1 >= max_length:
        raise SpecError(f"chain prefix {prefix!r} leaves no room for a name")
    if len(prefix) + len(tail) <= max_length and not tail.startswith(SHORTENED_MARK):
        return prefix + tail
    digest = _b64(hashlib.sha224(tail.encode("utf-8")).digest())
    return prefix + SHORTENED_MARK + digest[: max_length - len(prefix) - 1]


def rule_ids(table: str, chain: str, rules: Sequence[str]) -> list[str]:
    """Deterministic ids for an ordered rule list.

    Each id folds in the previous one (a hash chain seeded with table and chain), so an id
    encodes the rule's content *and* everything before it: inserting a rule changes the ids of
    all rules after it, exactly like Felix's ``RuleHashes``.
    """
    previous = hashlib.sha224(f"{table}\0{chain}".encode()).digest()
    ids: list[str] = []
    for rule in rules:
        previous = hashlib.sha224(previous + rule.encode("utf-8")).digest()
        ids.append(_b64(previous)[:ID_LENGTH])
    return ids


def hook_ids(table: str, chain: str, rules: Sequence[str]) -> list[str]:
    return rule_ids(table, f"{chain}*hooks*", rules)


def append_ids(table: str, chain: str, rules: Sequence[str]) -> list[str]:
    # A separate seed keeps an appended rule distinct from an identical hook in the same chain.
    return rule_ids(table, f"{chain}*appends*", rules)


def _paired(first: Sequence[str], second: Sequence[str]) -> list[tuple[str, str]]:
    """``zip(first, second, strict=True)``, which Python 3.9 (a host's) does not have."""
    if len(first) != len(second):
        raise ValueError(f"{len(first)} items paired with {len(second)}")
    return [(item, second[index]) for index, item in enumerate(first)]


def tagged(rule: str, rule_id: str) -> str:
    """The rule as we write it: our id comment first, then the caller's matches and target."""
    comment = f'-m comment --comment "{COMMENT_PREFIX}{rule_id}"'
    return f"{comment} {rule}" if rule else comment


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class SavedRule:
    """One ``-A CHAIN SPEC`` line as ``iptables-save`` printed it."""

    chain: str
    spec: str
    rule_id: str | None

    @property
    def line(self) -> str:
        return f"-A {self.chain} {self.spec}"


@dataclass
class TableState:
    """Every chain of one table (builtin and user) with its rules, in save order."""

    chains: dict[str, list[SavedRule]] = field(default_factory=dict)


def rule_id_of(spec: str) -> str | None:
    match = _ID_RE.search(spec)
    return match.group(1) if match else None


def parse_save(text: str) -> dict[str, TableState]:
    """Parse ``iptables-save`` output (all tables) into chains and rules, counters dropped."""
    tables: dict[str, TableState] = {}
    current: TableState | None = None
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if not line or line.startswith("#") or line == "COMMIT":
            continue
        if line.startswith("*"):
            current = tables.setdefault(line[1:], TableState())
        elif current is None:
            continue
        elif line.startswith(":"):
            current.chains.setdefault(line[1:].split()[0], [])
        elif line.startswith("-A "):
            chain, *rest = line.split(" ", 2)[1:]
            spec = rest[0] if rest else ""
            current.chains.setdefault(chain, []).append(SavedRule(chain, spec, rule_id_of(spec)))
    return tables


def count_rules(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.startswith("-A "))


def has_hint_chain(text: str) -> bool:
    return any(
        line.startswith(f":{name} ") for line in text.splitlines() for name in BACKEND_HINT_CHAINS
    )


def version_backend(version_text: str) -> str:
    """Backend ``iptables --version`` names (``iptables v1.8.9 (nf_tables)``); legacy if unsure."""
    return "nft" if "nf_tables" in version_text else "legacy"


def choose_backend(legacy_save: str, nft_save: str, version_text: str) -> tuple[str, str]:
    """Pick the backend the host already uses: ``(backend, human-readable reason)``.

    Writing to the other one would leave two rule sets the kernel evaluates one after the
    other, so this mirrors Felix/kube-proxy: hint chains first, then the backend with more
    rules, then whatever the ``iptables`` binary on the PATH is.
    """
    if has_hint_chain(nft_save):
        return "nft", "kube hint chain found in iptables-nft-save"
    if has_hint_chain(legacy_save):
        return "legacy", "kube hint chain found in iptables-legacy-save"
    legacy_count, nft_count = count_rules(legacy_save), count_rules(nft_save)
    counts = f"rules: legacy={legacy_count} nft={nft_count}"
    if legacy_count != nft_count:
        return ("legacy" if legacy_count > nft_count else "nft"), counts
    version = version_text.strip() or "no iptables --version"
    return version_backend(version_text), f"{counts} (tie), {version}"


# --------------------------------------------------------------------------- desired state


@dataclass(frozen=True)
class Hook:
    """A rule we own inside a chain we do not own (builtin chains)."""

    chain: str
    rule: str


@dataclass
class DesiredTable:
    chains: dict[str, list[str]] = field(default_factory=dict)
    hooks: list[Hook] = field(default_factory=list)
    appends: list[Hook] = field(default_factory=list)


def jump_targets(spec: str) -> list[str]:
    # shlex is ~50x slower than split(); only quoted comments need it (5,000 workloads = 40k rules).
    tokens = spec.split()
    if '"' in spec or "'" in spec:
        with contextlib.suppress(ValueError):  # unbalanced quotes: plain split is all we have
            tokens = shlex.split(spec)
    return [tokens[i + 1] for i, tok in enumerate(tokens[:-1]) if tok in _JUMP_FLAGS]


def _check_rule(where: str, rule: object) -> str:
    if not isinstance(rule, str):
        raise SpecError(f"{where}: rule must be a string, got {rule!r}")
    if "\n" in rule or "\r" in rule:
        raise SpecError(f"{where}: rule {rule!r} contains a line break")
    first = rule.split(maxsplit=1)[0] if rule.strip() else ""
    if first in _COMMAND_FLAGS:
        raise SpecError(f"{where}: rule {rule!r} must not start with {first}; give only the body")
    if rule_id_of(rule):
        raise SpecError(f"{where}: rule {rule!r} already carries a {COMMENT_PREFIX} id")
    return rule.strip()


def _check_chain_name(table: str, name: object, prefix: str) -> str:
    if not isinstance(name, str) or not name.startswith(prefix):
        raise SpecError(f"{table}: chain {name!r} must start with {prefix!r}")
    if len(name) > MAX_CHAIN_NAME:
        raise SpecError(
            f"{table}: chain {name!r} is {len(name)} chars, iptables allows {MAX_CHAIN_NAME}; "
            "shorten it with chain_name() when rendering"
        )
    if not name[len(prefix) :] or any(c.isspace() for c in name):
        raise SpecError(f"{table}: chain {name!r} is not a usable chain name")
    return name


def _check_hooks(table: str, key: str, entries: object) -> list[Hook]:
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise SpecError(f"{table}.{key} must be a list of {{chain, rule}}")
    hooks = []
    for entry in entries:
        if not isinstance(entry, Mapping) or set(entry) != {"chain", "rule"}:
            raise SpecError(f"{table}.{key}: {entry!r} must have exactly 'chain' and 'rule'")
        if entry["chain"] not in BUILTIN_CHAINS[table]:
            raise SpecError(
                f"{table}.{key}: {entry['chain']!r} is not a builtin chain of {table} "
                f"({', '.join(BUILTIN_CHAINS[table])})"
            )
        hooks.append(Hook(entry["chain"], _check_rule(f"{table}.{key}", entry["rule"])))
    return hooks


def _check_targets(table: str, desired: DesiredTable, prefix: str) -> None:
    """A jump to one of our chains that we are not creating would fail the restore, or worse,
    keep a stale chain alive; refuse it before touching the host."""
    sources = [(f"{table}.{c}", r) for c, rules in desired.chains.items() for r in rules]
    sources += [(f"{table}.{h.chain}", h.rule) for h in desired.hooks + desired.appends]
    for where, rule in sources:
        for target in jump_targets(rule):
            if target.startswith(prefix) and target not in desired.chains:
                raise SpecError(f"{where}: rule {rule!r} jumps to {target}, which is not defined")


def desired_tables(spec: Mapping[str, object] | None, prefix: str) -> dict[str, DesiredTable]:
    """Validate the module's ``tables`` option; omitted tables want no managed content."""
    if not prefix or prefix != prefix.strip() or len(prefix) >= MAX_CHAIN_NAME:
        # An empty prefix would claim every chain on the host, Docker's included.
        raise SpecError(f"chain prefix {prefix!r} must be non-empty, without spaces, short")
    result = {table: DesiredTable() for table in TABLES}
    for table, body in (spec or {}).items():
        if table not in TABLES:
            raise SpecError(f"unknown table {table!r}; use one of {', '.join(TABLES)}")
        body = body or {}
        if not isinstance(body, Mapping) or set(body) - {"chains", "hooks", "append"}:
            raise SpecError(f"{table}: only 'chains', 'hooks' and 'append' are allowed")
        chains = body.get("chains") or {}
        if not isinstance(chains, Mapping):
            raise SpecError(f"{table}.chains must map chain names to rule lists")
        desired = result[table]
        for name, rules in chains.items():
            name = _check_chain_name(table, name, prefix)
            if not isinstance(rules, list):
                raise SpecError(f"{table}.{name} must be a list of rules")
            desired.chains[name] = [_check_rule(f"{table}.{name}", r) for r in rules]
        desired.hooks = _check_hooks(table, "hooks", body.get("hooks"))
        desired.appends = _check_hooks(table, "append", body.get("append"))
        _check_targets(table, desired, prefix)
    return result


# --------------------------------------------------------------------------- planning


@dataclass
class TablePlan:
    """What one table needs: restore body lines plus the managed view before and after."""

    table: str
    commands: list[str] = field(default_factory=list)
    before: list[str] = field(default_factory=list)
    after: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.commands)


@dataclass
class _Wanted:
    """A rule we want in a foreign chain: its id and the text we would write."""

    rule_id: str
    text: str


@dataclass
class _HookedChainPlan:
    commands: list[str]
    after: list[str]


def _matching_prefix(entries: Sequence[SavedRule], wanted: Sequence[_Wanted]) -> int:
    k = 0
    while k < min(len(entries), len(wanted)) and entries[k].rule_id == wanted[k].rule_id:
        k += 1
    return k


def _matching_tail(entries: Sequence[SavedRule], wanted: Sequence[_Wanted], floor: int) -> int:
    """Largest p such that the chain already ends with the first p wanted rules."""
    for p in range(len(wanted), 0, -1):
        start = len(entries) - p
        if start >= floor and [e.rule_id for e in entries[start:]] == [
            w.rule_id for w in wanted[:p]
        ]:
            return p
    return 0


def _plan_hooked_chain(
    chain: str,
    entries: Sequence[SavedRule],
    head: Sequence[_Wanted],
    tail: Sequence[_Wanted],
) -> _HookedChainPlan:
    """Make ``chain`` start with ``head`` and end with ``tail`` touching only our own rules.

    Rules already in place are kept (their counters survive); every other tagged rule is
    deleted by its exact saved text, and the missing ones are inserted/appended. Foreign rules
    keep their relative order; they just end up below the head and above the tail.
    """
    k = _matching_prefix(entries, head)
    p = _matching_tail(entries, tail, floor=k)
    kept = set(range(k)) | set(range(len(entries) - p, len(entries)))
    stale = [e for i, e in enumerate(entries) if e.rule_id and i not in kept]
    # `-D CHAIN SPEC` removes the *first* identical rule; if a stale copy is identical to a kept
    # one it could remove the kept one instead, so then start from scratch.
    if {e.spec for e in stale} & {entries[i].spec for i in kept}:
        k = p = 0
        kept = set()
        stale = [e for e in entries if e.rule_id]
    commands = [f"-D {chain} {e.spec}" for e in stale]
    commands += [f"-I {chain} {k + n + 1} {w.text}" for n, w in enumerate(head[k:])]
    commands += [f"-A {chain} {w.text}" for w in tail[p:]]
    after = [entries[i].line for i in range(k)]
    after += [f"-A {chain} {w.text}" for w in head[k:]]
    after += [entries[i].line for i in range(len(entries) - p, len(entries))]
    after += [f"-A {chain} {w.text}" for w in tail[p:]]
    return _HookedChainPlan(commands, after)


def _wanted(table: str, chain: str, hooks: Iterable[Hook], appends: bool) -> list[_Wanted]:
    rules = [h.rule for h in hooks if h.chain == chain]
    ids = append_ids(table, chain, rules) if appends else hook_ids(table, chain, rules)
    return [_Wanted(i, tagged(r, i)) for i, r in _paired(ids, rules)]


def _chain_sort_key(table: str, name: str) -> tuple[int, str]:
    builtins = BUILTIN_CHAINS.get(table, ())
    return (builtins.index(name), "") if name in builtins else (len(builtins), name)


def _foreign_references(actual: TableState, prefix: str) -> dict[str, list[str]]:
    """Our chains that foreign rules jump to: those rules are not ours to delete."""
    refs: dict[str, list[str]] = {}
    for chain, rules in actual.chains.items():
        if chain.startswith(prefix):
            continue
        for rule in rules:
            if rule.rule_id is None:
                for target in jump_targets(rule.spec):
                    if target.startswith(prefix):
                        refs.setdefault(target, []).append(rule.line)
    return refs


def _managed_before(table: str, actual: TableState, prefix: str) -> list[str]:
    lines: list[str] = []
    for chain in sorted(actual.chains, key=lambda c: _chain_sort_key(table, c)):
        rules = actual.chains[chain]
        if chain.startswith(prefix):
            lines.append(f":{chain} - [0:0]")
            lines += [r.line for r in rules]
        else:
            lines += [r.line for r in rules if r.rule_id]
    return lines


def plan_table(
    table: str,
    actual: TableState,
    desired: DesiredTable,
    prefix: str,
    insert_mode: str = INSERT,
) -> TablePlan:
    """Compute the restore body that converges ``table`` and the managed lines around it.

    Order inside the (single, atomic) transaction matters: chains are declared before anything
    jumps to them, and stale chains are flushed and deleted only after every reference of ours
    (hooks, rules in rewritten chains) is gone.
    """
    plan = TablePlan(table, before=_managed_before(table, actual, prefix))
    declarations: list[str] = []
    rule_lines: list[str] = []
    chain_after: dict[str, list[str]] = {}

    for chain, rules in desired.chains.items():
        ids = rule_ids(table, chain, rules)
        existing = actual.chains.get(chain)
        if existing is not None and [r.rule_id for r in existing] == ids:
            chain_after[chain] = [f":{chain} - [0:0]"] + [r.line for r in existing]
            continue
        # Under --noflush a ":chain" line creates the chain or flushes it: never deleted, so
        # foreign rules jumping into it keep working.
        declarations.append(f":{chain} - [0:0]")
        lines = [f"-A {chain} {tagged(r, i)}" for r, i in _paired(rules, ids)]
        rule_lines += lines
        chain_after[chain] = [f":{chain} - [0:0]", *lines]

    hook_commands: list[str] = []
    hooked = {c for c in actual.chains if not c.startswith(prefix)}
    hooked |= {h.chain for h in desired.hooks + desired.appends}
    for chain in sorted(hooked, key=lambda c: _chain_sort_key(table, c)):
        head = _wanted(table, chain, desired.hooks, appends=False)
        tail = _wanted(table, chain, desired.appends, appends=True)
        if insert_mode == APPEND:
            head, tail = [], head + tail
        chain_plan = _plan_hooked_chain(chain, actual.chains.get(chain, []), head, tail)
        hook_commands += chain_plan.commands
        chain_after[chain] = chain_plan.after

    flushes, deletions = _plan_stale_chains(table, actual, desired, prefix, plan, chain_after)
    plan.commands = declarations + rule_lines + hook_commands + flushes + deletions
    plan.after = [
        line
        for chain in sorted(chain_after, key=lambda c: _chain_sort_key(table, c))
        for line in chain_after[chain]
    ]
    return plan


def _plan_stale_chains(
    table: str,
    actual: TableState,
    desired: DesiredTable,
    prefix: str,
    plan: TablePlan,
    chain_after: dict[str, list[str]],
) -> tuple[list[str], list[str]]:
    """Flush every stale chain first (so they stop referencing each other), then delete them.

    A stale chain a foreign rule still jumps to cannot be deleted without touching that rule,
    which we never do: it is left empty (a no-op) and reported instead.
    """
    refs = _foreign_references(actual, prefix)
    flushes: list[str] = []
    deletions: list[str] = []
    for chain in sorted(c for c in actual.chains if c.startswith(prefix)):
        if chain in desired.chains:
            continue
        if chain in refs:
            plan.warnings.append(
                f"{table}: kept {chain} empty because foreign rules jump to it: "
                + "; ".join(refs[chain])
            )
            chain_after[chain] = [f":{chain} - [0:0]"]
            if actual.chains[chain]:
                flushes.append(f"-F {chain}")
            continue
        flushes.append(f"-F {chain}")
        deletions.append(f"-X {chain}")
    return flushes, deletions


def plan_all(
    actual: Mapping[str, TableState],
    desired: Mapping[str, DesiredTable],
    prefix: str,
    insert_mode: str = INSERT,
) -> list[TablePlan]:
    return [
        plan_table(
            table,
            actual.get(table, TableState()),
            desired.get(table, DesiredTable()),
            prefix,
            insert_mode,
        )
        for table in TABLES
    ]


def render_payload(plan: TablePlan) -> str:
    """The ``iptables-restore --noflush`` input for one table: one transaction, one COMMIT."""
    return "\n".join([f"*{plan.table}", *plan.commands, "COMMIT"]) + "\n"


def render_managed(plans: Iterable[TablePlan], side: str) -> str:
    """``before`` or ``after`` managed lines of all tables, in iptables-save form, for --diff."""
    chunks = []
    for plan in plans:
        lines = getattr(plan, side)
        if lines:
            chunks.append("\n".join([f"*{plan.table}", *lines]))
    return "\n".join(chunks) + "\n" if chunks else ""
