"""Errors raised for user mistakes: each carries messages that name the file, the field and what is allowed."""

from __future__ import annotations

from collections.abc import Iterable


class UserInputError(Exception):
    """Base class for every mistake in user input; the CLI prints these without a traceback and exits 2."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class ScenarioError(UserInputError):
    """A scenario file (or an override of one) is malformed or inconsistent."""


class UnknownPolicyError(UserInputError, KeyError):
    """A policy name that finds no policy (unknown, or a plug-in that cannot be loaded)."""

    def __str__(self) -> str:
        return "\n".join(self.problems)
