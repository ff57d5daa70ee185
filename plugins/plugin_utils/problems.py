"""Problems found while validating an inventory.

Validation never stops at the first problem: it collects every one, so a user fixes an inventory
in one pass. Each problem names where it is (a host, or the fleet), the variable and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field

FLEET = "all hosts"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the inventory, phrased for the person who has to fix it."""

    host: str
    variable: str
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.host}: {self.variable}: {self.message}. Fix: {self.fix}."


@dataclass
class Problems:
    """An ordered collection of problems and warnings."""

    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    def error(self, host: str, variable: str, message: str, fix: str) -> None:
        self.errors.append(Problem(host, variable, message, fix))

    def warn(self, host: str, variable: str, message: str, fix: str) -> None:
        self.warnings.append(Problem(host, variable, message, fix))

    def __bool__(self) -> bool:
        return bool(self.errors)

    def messages(self) -> list[str]:
        return [str(p) for p in self.errors]

    def warning_messages(self) -> list[str]:
        return [str(p) for p in self.warnings]


class InventoryError(ValueError):
    """Raised when a model is asked for while the inventory still has problems."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "\n".join(f"- {p}" for p in problems)
        super().__init__(f"the inventory has {len(problems)} problem(s):\n{lines}")
