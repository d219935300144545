"""Checkers of single field values: each returns the checked value or raises `InvalidValueError` saying what is
allowed, and describes itself as JSON Schema, so the scenario schema, its messages and the editors' schema
come from one definition.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Boolean",
    "Choice",
    "InRange",
    "IntInRange",
    "InvalidValueError",
    "JoinCount",
    "ListOf",
    "NameList",
    "NonEmptyString",
    "StateRate",
    "Table",
    "describe",
    "number",
]


class InvalidValueError(ValueError):
    """A value outside what its field allows; the message says what is allowed and what was given."""


def describe(value: Any) -> str:
    """A value with its TOML-level type, as messages show it: ``-1 (int)``."""
    return f"{value!r} ({type(value).__name__})"


def number(value: Any) -> float:
    """An int or float (a boolean is not a number), as a float."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidValueError(f"must be a number, got {describe(value)}")
    return float(value)


class NonEmptyString:
    """A non-empty string (a name)."""

    def __call__(self, value: Any) -> str:
        if not isinstance(value, str) or not value:
            raise InvalidValueError(f"must be a non-empty string, got {describe(value)}")
        return value

    def json_schema(self) -> dict[str, Any]:
        return {"type": "string", "minLength": 1}


class NameList:
    """A list of names; a single name stands for a list of one."""

    def __call__(self, value: Any) -> tuple[str, ...]:
        if isinstance(value, str):
            return (value,)
        if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
            raise InvalidValueError(f"must be a list of names, got {describe(value)}")
        return tuple(value)

    def json_schema(self) -> dict[str, Any]:
        name = {"type": "string", "minLength": 1}
        return {"anyOf": [name, {"type": "array", "items": name}]}


class Table:
    """A table of free-form entries (a policy's parameters, checked by the policy itself)."""

    def __call__(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise InvalidValueError(f"must be a table, got {describe(value)}")
        return value

    def json_schema(self) -> dict[str, Any]:
        return {"type": "object"}


class Boolean:
    """true or false (TOML's booleans; a number or a string is refused, not read as one)."""

    def __call__(self, value: Any) -> bool:
        if not isinstance(value, bool):
            raise InvalidValueError(f"must be true or false, got {describe(value)}")
        return value

    def json_schema(self) -> dict[str, Any]:
        return {"enum": [True, False]}


@dataclass(frozen=True)
class Choice:
    """One of a fixed set of strings; `why`, when given, says why the others are not allowed here."""

    allowed: Sequence[str]
    why: str = ""

    def __call__(self, value: Any) -> str:
        if not isinstance(value, str) or value not in self.allowed:
            because = f" ({self.why})" if self.why else ""
            raise InvalidValueError(f"must be one of {', '.join(map(repr, self.allowed))}, got {value!r}{because}")
        return value

    def json_schema(self) -> dict[str, Any]:
        return {"enum": list(self.allowed)}


@dataclass(frozen=True)
class InRange:
    """A number in [low, high] (or (low, high] with `low_open`): the sane range of a field, so that derived
    quantities (rates x times, bytes / bandwidth, sums over a run) stay finite. With `inf_allowed`, +inf is
    accepted too, where it means "no limit" (a horizon, a deadline, a memory size, a bandwidth); `unit`, when
    given, is named in the message."""

    low: float
    high: float
    low_open: bool = False
    inf_allowed: bool = False
    unit: str = ""

    def __call__(self, value: Any) -> float:
        result = number(value)
        if self.inf_allowed and result == math.inf:
            return result
        below = result <= self.low if self.low_open else result < self.low
        if below or not result <= self.high:
            opening = "(" if self.low_open else "["
            also = " or inf" if self.inf_allowed else ""
            in_unit = f" ({self.unit})" if self.unit else ""
            raise InvalidValueError(f"must be a number in {opening}{self.low:g}, {self.high:g}]{also}, got "
                               f"{value!r}{in_unit}")
        return result

    def json_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "number", "exclusiveMinimum" if self.low_open else "minimum": self.low}
        if not self.inf_allowed:  # JSON has no inf: the editor's check leaves the top open where inf is allowed
            schema["maximum"] = self.high
        return schema


@dataclass(frozen=True)
class IntInRange:
    """An integer in [low, high]: sizes have upper limits so that a typo cannot exhaust memory or time."""

    low: int
    high: int

    def __call__(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not self.low <= value <= self.high:
            raise InvalidValueError(f"must be an integer in [{self.low}, {self.high}], got {describe(value)}")
        return value

    def json_schema(self) -> dict[str, Any]:
        return {"type": "integer", "minimum": self.low, "maximum": self.high}


@dataclass(frozen=True)
class JoinCount:
    """How many predecessors a stage waits for: ``"all"``, ``"any"`` (one) or an integer k >= 1; the bound by the
    stage's number of predecessors is checked once the stages are known."""

    def __call__(self, value: Any) -> str | int:
        if isinstance(value, str) and value in ("all", "any"):
            return value
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            return value
        raise InvalidValueError(f"must be \"all\", \"any\" or an integer >= 1 (how many predecessors "
                                f"the stage waits for), got {describe(value)}")

    def json_schema(self) -> dict[str, Any]:
        return {"anyOf": [{"enum": ["all", "any"]}, {"type": "integer", "minimum": 1}]}


@dataclass(frozen=True)
class StateRate:
    """The rate of one state of a modulated process: 0 (a silent state) or a rate in `rate`'s range."""

    rate: InRange

    def __call__(self, value: Any) -> float:
        if number(value) == 0:
            return 0.0
        try:
            return self.rate(value)
        except InvalidValueError:
            raise InvalidValueError(f"must be 0 or a number in [{self.rate.low:g}, {self.rate.high:g}], got "
                               f"{value!r}") from None

    def json_schema(self) -> dict[str, Any]:
        return {"anyOf": [{"const": 0}, self.rate.json_schema()]}


@dataclass(frozen=True)
class ListOf:
    """A list of 1 to `max_items` numbers, each read by `item` (a problem names its position)."""

    item: Callable[[Any], float]
    max_items: int

    def __call__(self, value: Any) -> tuple[float, ...]:
        if not isinstance(value, list) or not 1 <= len(value) <= self.max_items:
            raise InvalidValueError(f"must be a list of 1 to {self.max_items} numbers, got {describe(value)}")
        items = []
        for position, item in enumerate(value):
            try:
                items.append(self.item(item))
            except InvalidValueError as problem:
                raise InvalidValueError(f"[{position}] {problem}") from None
        return tuple(items)

    def json_schema(self) -> dict[str, Any]:
        item_schema: dict[str, Any] = getattr(self.item, "json_schema", dict)()
        return {"type": "array", "minItems": 1, "maxItems": self.max_items, "items": item_schema}
