"""The one collector of problems in a user's configuration file, shared by scenarios and experiments.

Every reader adds to it instead of raising at the first mistake, so one pass reports everything; each problem
reads ``FILE: dotted.field must be ..., got X``.
"""

from __future__ import annotations

from collections.abc import Callable

from simulator.errors import UserInputError

__all__ = ["Problems"]


class Problems:
    """Problems and warnings found in one file (`source`), each prefixed with the file and the dotted field."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[str] = []
        self.warnings: list[str] = []

    def _format(self, where: str, message: str) -> str:
        return f"{self.source}: {where} {message}" if where else f"{self.source}: {message}"

    def add(self, where: str, message: str) -> None:
        """Record a problem at the dotted field `where` ("" for the file as a whole)."""
        self.items.append(self._format(where, message))

    def warn(self, where: str, message: str) -> None:
        """Record something valid but probably not what the user meant."""
        self.warnings.append(self._format(where, message))

    def exception(self, error: Callable[[list[str]], UserInputError]) -> UserInputError:
        """An `error` listing every problem, each once, in the order found."""
        return error(list(dict.fromkeys(self.items)))

    def raise_if_any(self, error: Callable[[list[str]], UserInputError]) -> None:
        """Raise `error` listing every problem, if there is any."""
        if self.items:
            raise self.exception(error)
