"""One reader per kind of value: every flag, number, address, text and password of the inventory.

Each reader records a problem (host, variable, what is wrong, the fix) instead of raising, and
returns a usable value or None, so validation goes on and reports everything in one pass. No
reader raises on any input: a list where text belongs, a mapping, None, a boolean, a float, a
huge number or Unicode digits are all problems with a message.

Flags follow Ansible's own booleans, because INI inventories and ``-e`` give strings: true,
yes, on, y, t and 1 are true; false, no, off, n, f and 0 are false (any case); a real bool is
itself. Anything else is a problem, never a silent false.

Text that lands in a rendered file (bird.conf, BIRD's secrets file, iptables-restore input) is
rejected, never escaped, when it holds a line break or another control character (a YAML block
scalar adds a trailing newline), and names are checked against their full syntax with
``fullmatch``: ``$`` would accept a trailing newline.
"""

from __future__ import annotations

import ipaddress
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.calico.network.plugins.plugin_utils.problems import Problems

# Ansible's BOOLEANS_TRUE and BOOLEANS_FALSE (ansible.module_utils.parsing.convert_bool).
TRUE_WORDS = frozenset({"y", "yes", "on", "1", "true", "t"})
FALSE_WORDS = frozenset({"n", "no", "off", "0", "false", "f"})
# The kernel's TCP-MD5 key limit (TCP_MD5SIG_MAXKEYLEN) counts bytes, not characters.
BGP_PASSWORD_MAX = 80
# Reserved AS numbers, with the reason a session may not use them.
RESERVED_AS = {
    0: "AS 0 is reserved and may never be used on a session (RFC 7607)",
    23456: "AS 23456 is AS_TRANS, which 2-byte speakers see in place of 4-byte AS numbers "
    "(RFC 6793)",
    65535: "AS 65535 is reserved, the last 2-byte AS number (RFC 7300)",
    4294967295: "AS 4294967295 is reserved, the last 4-byte AS number (RFC 7300)",
}
MAX_AS = 2**32 - 1
# A whole number as it may be written: ASCII digits only (int() accepts fullwidth digits
# would accept), at most 20 of them (more is no setting of this project).
WHOLE_NUMBER = re.compile(r"[+-]?[0-9]{1,20}")
SHOWN_CHARS = 60


class Unreadable:
    """A variable Ansible could not give a value for: an undefined variable it refers to, or a
    vaulted value without the vault's password. ``reason`` is Ansible's own explanation."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"Unreadable({self.reason!r})"


def read_plain(values: Any, key: str) -> Any:
    """One variable as plain Python data, or Unreadable with Ansible's reason.

    Ansible templates a variable when it is read; an undefined variable or a vaulted value
    without its password raises then, whatever the exception class of this Ansible version, so
    every exception here is the variable's and becomes a message naming it (this module does
    not import Ansible, so it cannot name Ansible's exception classes).
    """
    try:
        return plain(values[key])
    except Exception as err:  # see the docstring: reported, never swallowed
        return Unreadable(str(err).splitlines()[0] if str(err) else type(err).__name__)


def plain(value: Any) -> Any:
    """A deep copy in builtin types, so every lazy template and vaulted value is resolved here."""
    if isinstance(value, Mapping):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return str(value)  # a vaulted value (decrypted here) or another text-like object


def is_unset(raw: Any) -> bool:
    """None or an empty string: the variable is there but says nothing."""
    return raw is None or raw == ""


def shown(raw: Any) -> str:
    """``raw`` for a message: its repr, cut short (a message never grows with the input)."""
    text = repr(raw)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 3] + "..."


def kind_of(raw: Any) -> str:
    """What a value is, in the words of a YAML author."""
    if raw is None:
        return "null"
    if isinstance(raw, bool):
        return "a boolean"
    if isinstance(raw, float):
        return "a decimal number"
    if isinstance(raw, int):
        return "a number"
    if isinstance(raw, str):
        return "text"
    if isinstance(raw, Mapping):
        return "a mapping"
    if isinstance(raw, (list, tuple, set, frozenset)):
        return "a list"
    return type(raw).__name__


def text_problem(text: str, quotes: bool = True) -> str | None:
    """Why ``text`` cannot be rendered into a config file, or None when it can.

    Rejected: line breaks and every other control or format character (Unicode categories C*,
    Zl and Zp); with ``quotes``, also ``"`` and ``\\``, which end or escape BIRD's and
    iptables' quoted strings.
    """
    for char in text:
        if char in "\r\n\x0b\x0c\x85\u2028\u2029":
            return "holds a line break (a YAML block scalar adds one at the end)"
        category = unicodedata.category(char)
        if category.startswith("C") or category in ("Zl", "Zp"):
            return f"holds the control character U+{ord(char):04X}"
        if quotes and char in '"\\':
            return "holds a quote or backslash, which would break the rendered configuration"
    return None


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
    word = raw.strip().lower() if isinstance(raw, str) else None
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    problems.error(host, variable, f"{shown(raw)} is not true or false", "write true or false")
    return default


def read_int(
    host: str, variable: str, raw: Any, problems: Problems, fix: str = "write a number"
) -> int | None:
    """A whole number (a numeric string too); unset, booleans, floats and the rest are problems."""
    if is_unset(raw):
        problems.error(host, variable, "is not set", fix)
        return None
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and WHOLE_NUMBER.fullmatch(raw.strip(" ")):
        return int(raw.strip(" "))
    problems.error(host, variable, f"{shown(raw)} is not a whole number{_why(raw)}", fix)
    return None


def _why(raw: Any) -> str:
    if isinstance(raw, str) and any(c.isdigit() and not c.isascii() for c in raw):
        return " (its digits are not ASCII 0-9)"
    if isinstance(raw, str) and WHOLE_NUMBER.fullmatch(raw.strip()):
        return " (it holds a line break or other white space)"
    if isinstance(raw, (bool, float, list, tuple, Mapping)):
        return f" (it is {kind_of(raw)})"
    return ""


def read_int_in(
    host: str, variable: str, raw: Any, problems: Problems, bounds: tuple[int, int], what: str
) -> int | None:
    """A whole number within ``bounds`` (inclusive); ``what`` names it in the fix."""
    low, high = bounds
    fix = f"write {what} from {low} to {high}"
    number = read_int(host, variable, raw, problems, fix)
    if number is not None and not low <= number <= high:
        problems.error(host, variable, f"{number} is outside {low}-{high}", fix)
        return None
    return number


def read_as(
    host: str,
    variable: str,
    raw: Any,
    problems: Problems,
    fix: str,
    number_fix: str = "write a number",
) -> int | None:
    """An AS number a session may use (1-4294967294 except the reserved ones)."""
    asn = read_int(host, variable, raw, problems, number_fix)
    if asn is None:
        return None
    if asn in RESERVED_AS:
        problems.error(host, variable, RESERVED_AS[asn], fix)
        return None
    if not 0 < asn <= MAX_AS:
        problems.error(host, variable, f"{asn} is not an AS number (1-{MAX_AS - 1})", fix)
        return None
    return asn


def read_text(
    host: str, variable: str, raw: Any, problems: Problems, fix: str, quotes: bool = True
) -> str | None:
    """A string; None, numbers and every other type are problems."""
    if not isinstance(raw, str):
        problems.error(host, variable, f"{shown(raw)} is {kind_of(raw)}, not text", fix)
        return None
    reason = text_problem(raw, quotes)
    if reason:
        problems.error(host, variable, f"{shown(raw)} {reason}", fix)
        return None
    return raw


def read_address(
    host: str, variable: str, raw: Any, problems: Problems, fix: str
) -> ipaddress.IPv4Address | None:
    """A bare IPv4 address in dotted-quad text; unset and anything else are problems."""
    if is_unset(raw):
        problems.error(host, variable, "is not set", fix)
        return None
    if not isinstance(raw, str):
        problems.error(
            host, variable, f"{shown(raw)} is not an IPv4 address (it is {kind_of(raw)})", fix
        )
        return None
    try:
        return ipaddress.IPv4Address(raw)
    except ValueError:
        problems.error(host, variable, f"{shown(raw)} is not an IPv4 address", fix)
        return None


def special_address(address: ipaddress.IPv4Address) -> str | None:
    """Why ``address`` cannot be a host's or a router's address, or None when it can."""
    if address in ipaddress.IPv4Network("0.0.0.0/8"):
        return "lies in 0.0.0.0/8 (this network), which no host may use"
    if address.is_loopback:
        return "is a loopback address"
    if address.is_link_local:
        return "is link-local (169.254.0.0/16), where workloads have their gateway 169.254.1.1"
    if address.is_multicast:
        return "is a multicast address"
    if address == ipaddress.IPv4Address("255.255.255.255"):
        return "is the broadcast address"
    if address.is_reserved:
        return "lies in the reserved range 240.0.0.0/4"
    return None


def read_router_id(
    host: str, variable: str, raw: Any, problems: Problems, fix: str
) -> ipaddress.IPv4Address | None:
    """A BGP identifier: a dotted quad that is not 0.0.0.0 (BIRD's "unset"), broadcast or
    multicast."""
    identifier = read_address(host, variable, raw, problems, fix)
    if identifier is None:
        return None
    reason = None
    if identifier == ipaddress.IPv4Address("0.0.0.0"):
        reason = "0.0.0.0 means unset to BIRD"
    elif identifier == ipaddress.IPv4Address("255.255.255.255") or identifier.is_multicast:
        reason = f"{identifier} is a broadcast or multicast address"
    if reason:
        problems.error(host, variable, f"{reason}; it cannot identify a BGP speaker", fix)
        return None
    return identifier


def read_password(host: str, variable: str, raw: Any, problems: Problems) -> str:
    """A TCP-MD5 key: at most 80 bytes, no control character, quote or backslash.

    The value is never shown in a message.
    """
    if is_unset(raw):
        return ""
    fix = (
        f"use a password of at most {BGP_PASSWORD_MAX} bytes, without quotes, backslashes "
        "or line breaks"
    )
    if not isinstance(raw, str):
        problems.error(
            host,
            variable,
            f"is {kind_of(raw)}, not text",
            f"quote it, and {fix}" if isinstance(raw, (int, float)) else fix,
        )
        return ""
    reason = text_problem(raw)
    size = len(raw.encode("utf-8", "surrogatepass"))
    if reason is None and size > BGP_PASSWORD_MAX:
        reason = (
            f"is {size} bytes long ({len(raw)} characters); the kernel's TCP-MD5 keys are at "
            f"most {BGP_PASSWORD_MAX} bytes"
        )
    if reason:
        problems.error(host, variable, reason, fix)
        return ""
    return raw


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
    unknown = sorted({str(key) for key in item} - set(allowed))
    if unknown:
        problems.error(
            host,
            where,
            f"has unknown key(s) {', '.join(shown(k) if text_problem(k) else k for k in unknown)}",
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
    if not isinstance(item, Mapping) or is_unset(item.get("name")):
        problems.error(host, where, "has no name", fixes[0])
        return None
    name = item["name"]
    if not isinstance(name, str):  # YAML reads a name such as 1 as a number
        problems.error(
            host,
            f"{where}.name",
            f"{shown(name)} is {kind_of(name)}, not a name",
            f"quote it if it is meant as a name; {fixes[1]}",
        )
        return None
    if not pattern.fullmatch(name):
        problems.error(host, f"{where}.name", f"{shown(name)} cannot name {names}", fixes[1])
        return None
    return name


def finite_number(raw: Any) -> bool:
    """An int or a finite float (not a bool): what an ordering key may be."""
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        return False
    return not isinstance(raw, float) or math.isfinite(raw)
