"""One reader per kind of value: every flag, number, address and password of the inventory.

Each reader records a problem (host, variable, what is wrong, the fix) instead of raising, and
returns a usable value or None, so validation goes on and reports everything in one pass.

Flags follow Ansible's own booleans, because INI inventories and ``-e`` give strings: true,
yes, on, y, t and 1 are true; false, no, off, n, f and 0 are false (any case); a real bool is
itself. Anything else is a problem, never a silent false.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.calico.network.plugins.plugin_utils.problems import Problems

# Ansible's BOOLEANS_TRUE and BOOLEANS_FALSE (ansible.module_utils.parsing.convert_bool).
TRUE_WORDS = frozenset({"y", "yes", "on", "1", "true", "t"})
FALSE_WORDS = frozenset({"n", "no", "off", "0", "false", "f"})
BGP_PASSWORD_MAX = 80
# AS 0 and AS_TRANS (RFC 6793) may not be used on a session.
RESERVED_AS = (0, 23456)
MAX_AS = 2**32 - 1


def is_unset(raw: Any) -> bool:
    """None or an empty string: the variable is there but says nothing."""
    return raw is None or raw == ""


def read_bool(
    host: str, variable: str, raw: Any, problems: Problems, default: bool = False
) -> bool:
    """A flag, by Ansible's boolean rule; unset gives ``default``."""
    if is_unset(raw):
        return default
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, (int, float)) and raw in (0, 1):
        return bool(raw)
    word = str(raw).strip().lower() if isinstance(raw, str) else None
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    problems.error(host, variable, f"{raw!r} is not true or false", "write true or false")
    return default


def read_int(
    host: str, variable: str, raw: Any, problems: Problems, fix: str = "write a number"
) -> int | None:
    """A whole number (a numeric string too); unset and booleans are problems."""
    if is_unset(raw):
        problems.error(host, variable, "is not set", fix)
        return None
    if isinstance(raw, bool):
        problems.error(host, variable, f"{raw!r} is not a whole number", fix)
        return None
    try:
        return int(str(raw))
    except ValueError:
        problems.error(host, variable, f"{raw!r} is not a whole number", fix)
        return None


def read_as(
    host: str,
    variable: str,
    raw: Any,
    problems: Problems,
    fix: str,
    number_fix: str = "write a number",
) -> int | None:
    """An AS number a session may use (1-4294967295 except AS_TRANS)."""
    asn = read_int(host, variable, raw, problems, number_fix)
    if asn is None:
        return None
    if not 0 < asn <= MAX_AS or asn in RESERVED_AS:
        problems.error(host, variable, f"{asn} is not a usable AS number", fix)
        return None
    return asn


def read_address(
    host: str, variable: str, raw: Any, problems: Problems, fix: str
) -> ipaddress.IPv4Address | None:
    """A bare IPv4 address; unset and anything else are problems."""
    if is_unset(raw):
        problems.error(host, variable, "is not set", fix)
        return None
    try:
        return ipaddress.IPv4Address(str(raw))
    except ValueError:
        problems.error(host, variable, f"{raw!r} is not an IPv4 address", fix)
        return None


def read_password(host: str, variable: str, raw: Any, problems: Problems) -> str:
    """A TCP-MD5 key: at most 80 plain characters, no quote or backslash (BIRD's string)."""
    text = "" if is_unset(raw) else str(raw)
    if len(text) > BGP_PASSWORD_MAX or '"' in text or "\\" in text:
        problems.error(
            host,
            variable,
            f"is {len(text)} characters or holds a quote or backslash; TCP-MD5 keys are "
            f"at most {BGP_PASSWORD_MAX} plain characters",
            f"use a password of at most {BGP_PASSWORD_MAX} characters without quotes",
        )
    return text


def mapping(value: Any) -> Mapping[str, Any]:
    """``value`` when it is a mapping, else an empty one (the caller reports the type)."""
    return value if isinstance(value, Mapping) else {}


def check_keys(
    host: str,
    where: str,
    item: Mapping[str, Any],
    allowed: Sequence[str],
    problems: Problems,
    fix: str = "",
) -> bool:
    """Report the keys of ``item`` outside ``allowed`` (a typo is never silently ignored)."""
    unknown = sorted(set(item) - set(allowed))
    if unknown:
        problems.error(
            host,
            where,
            f"has unknown key(s) {', '.join(unknown)}",
            fix or f"use only {', '.join(allowed)}",
        )
    return not unknown


def read_name(
    host: str,
    where: str,
    item: Any,
    problems: Problems,
    pattern: re.Pattern[str],
    names: str,
    fixes: tuple[str, str],
) -> str | None:
    """The ``name`` of a list item that ``names`` something (a namespace, a chain)."""
    if not isinstance(item, Mapping) or not item.get("name"):
        problems.error(host, where, "has no name", fixes[0])
        return None
    name = str(item["name"])
    if not pattern.match(name):
        problems.error(host, f"{where}.name", f"{name!r} cannot name {names}", fixes[1])
        return None
    return name
