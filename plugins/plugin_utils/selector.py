"""Calico's label selectors, the conjunctive subset: ``app == 'db' && has(tier)``.

A selector is terms joined by ``&&``, each one of all(), has(k), !has(k), k == 'v', k != 'v',
k in {'a', 'b'}, k not in {'a', 'b'}. Policies select the workloads they apply to with one, and
a rule its peers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

LABEL_KEY = r"[A-Za-z0-9]([A-Za-z0-9._/-]*[A-Za-z0-9])?"
_VALUE = r"""(?:'([^'\\]*)'|"([^"\\]*)")"""
SELECTOR_HELP = (
    "write terms joined by &&: all(), has(key), !has(key), key == 'v', key != 'v', "
    "key in {'a', 'b'}, key not in {'a', 'b'}"
)
_TERMS: list[tuple[str, re.Pattern[str]]] = [
    ("all", re.compile(r"all\(\)")),
    ("has", re.compile(r"has\((" + LABEL_KEY + r")\)")),
    ("nothas", re.compile(r"!\s*has\((" + LABEL_KEY + r")\)")),
    ("eq", re.compile(r"(" + LABEL_KEY + r")\s*==\s*" + _VALUE)),
    ("ne", re.compile(r"(" + LABEL_KEY + r")\s*!=\s*" + _VALUE)),
    ("in", re.compile(r"(" + LABEL_KEY + r")\s+in\s*\{(.*)\}")),
    ("notin", re.compile(r"(" + LABEL_KEY + r")\s+not\s+in\s*\{(.*)\}")),
]
_SET_ITEM = re.compile(r"\s*" + _VALUE + r"\s*")


class SelectorError(ValueError):
    """A selector that this project cannot parse; the message says which term."""


@dataclass(frozen=True)
class Term:
    kind: str
    key: str = ""
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.key)
        if self.kind == "all":
            return True
        if self.kind in ("has", "nothas"):
            return (value is not None) == (self.kind == "has")
        if self.kind in ("eq", "in"):
            return value is not None and value in self.values
        return value is None or value not in self.values  # ne, notin


def parse_selector(text: str) -> tuple[Term, ...]:
    """Parse Calico's selector syntax (the conjunctive subset); raise SelectorError otherwise."""
    if not isinstance(text, str) or not text.strip():
        raise SelectorError("is empty")
    if "||" in text or "(" in text.replace("all()", "").replace("has(", ""):
        raise SelectorError(f"{text!r} uses || or parentheses, which are not supported")
    terms = []
    for raw in text.split("&&"):
        terms.append(_parse_term(raw.strip(), text))
    return tuple(terms)


def _parse_term(raw: str, whole: str) -> Term:
    for kind, pattern in _TERMS:
        match = pattern.fullmatch(raw)
        if not match:
            continue
        if kind == "all":
            return Term("all")
        key = match.group(1)
        if kind in ("has", "nothas"):
            return Term(kind, key)
        if kind in ("eq", "ne"):
            value = match.group(3) if match.group(3) is not None else match.group(4)
            return Term(kind, key, (value,))
        items = [i for i in match.group(3).split(",") if i.strip()]
        values = []
        for item in items:
            one = _SET_ITEM.fullmatch(item)
            if not one:
                raise SelectorError(f"{whole!r}: {item.strip()!r} in a set must be quoted")
            values.append(one.group(1) if one.group(1) is not None else one.group(2))
        return Term(kind, key, tuple(sorted(values)))
    raise SelectorError(f"{whole!r}: cannot read the term {raw!r}")


def selector_matches(text: str, labels: Mapping[str, str]) -> bool:
    return all(term.matches(labels) for term in parse_selector(text))
