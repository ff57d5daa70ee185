"""Problems found while validating an inventory.

Validation never stops at the first problem: it collects every one, so a user fixes an inventory
in one pass. Each problem names where it is (a host, or the fleet), the variable and the fix.

One root cause, one message: a bad value set once in group_vars reaches every host, and each
host's reader reports it. ``messages()`` merges problems that differ only in the host into one
message naming those hosts (or "all hosts" when it is every host of the fleet).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

FLEET = "all hosts"
# More hosts than this in one message are counted, not listed.
MAX_LISTED_HOSTS = 10
# A host or group name is printed as it is unless it holds a quote, a backslash or a control
# character: then it is printed quoted (repr), so it cannot garble the message that reports it.
GARBLING = re.compile(r"[\"'\\\x00-\x1f\x7f-\x9f\u2028\u2029]")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the inventory, phrased for the person who has to fix it."""

    host: str
    variable: str
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.host}: {self.variable}: {self.message}. Fix: {self.fix}."


def show_name(name: str) -> str:
    """A host or rack name fit for a message: as it is when plain, else quoted."""
    return name if name and not GARBLING.search(name) else repr(name)


@dataclass
class Problems:
    """An ordered collection of problems and warnings.

    ``fleet`` (the hosts of the fleet) lets a problem that every host has read "all hosts".
    ``silenced`` holds (host, variable) pairs already reported as unreadable: later problems of
    the same value (such as "is not set") would repeat the same root cause, so they are dropped.
    """

    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    fleet: frozenset[str] = frozenset()
    silenced: set[tuple[str, str]] = field(default_factory=set)

    def error(self, host: str, variable: str, message: str, fix: str) -> None:
        if (host, variable) not in self.silenced:
            self.errors.append(Problem(host, variable, message, fix))

    def warn(self, host: str, variable: str, message: str, fix: str) -> None:
        if (host, variable) not in self.silenced:
            self.warnings.append(Problem(host, variable, message, fix))

    def silence(self, host: str, variable: str) -> None:
        self.silenced.add((host, variable))

    def __bool__(self) -> bool:
        return bool(self.errors)

    def messages(self) -> list[str]:
        return [str(p) for p in merge(self.errors, self.fleet)]

    def warning_messages(self) -> list[str]:
        return [str(p) for p in merge(self.warnings, self.fleet)]


def merge(problems: Iterable[Problem], fleet: frozenset[str] = frozenset()) -> list[Problem]:
    """One problem per (variable, message, fix), naming every host that has it, in first order.

    The merged problems' hosts are ready to print (see ``show_name``).
    """
    hosts: dict[tuple[str, str, str], list[str]] = {}
    for problem in problems:
        named = hosts.setdefault((problem.variable, problem.message, problem.fix), [])
        if problem.host not in named:
            named.append(problem.host)
    return [
        Problem(_hosts_text(named, fleet), variable, message, fix)
        for (variable, message, fix), named in hosts.items()
    ]


def _hosts_text(hosts: list[str], fleet: frozenset[str]) -> str:
    if len(hosts) == 1:
        return show_name(hosts[0])
    if FLEET in hosts or (len(fleet) > 1 and set(hosts) >= fleet):
        return FLEET
    shown = [show_name(h) for h in sorted(hosts)]
    if len(shown) > MAX_LISTED_HOSTS:
        rest = len(shown) - MAX_LISTED_HOSTS
        return f"{', '.join(shown[:MAX_LISTED_HOSTS])} and {rest} more hosts"
    return ", ".join(shown)


class InventoryError(ValueError):
    """Raised when a model is asked for while the inventory still has problems."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = merge(problems)
        lines = "\n".join(f"- {p}" for p in self.problems)
        super().__init__(f"the inventory has {len(self.problems)} problem(s):\n{lines}")
