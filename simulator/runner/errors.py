"""Errors of the experiment runner: bad experiment files, unusable result stores, executors that broke down."""

from __future__ import annotations

from simulator.errors import UserInputError

__all__ = ["ExecutorError", "ExperimentError", "StoreError"]


class ExperimentError(UserInputError):
    """An experiment file is malformed or names something that does not exist (a factor path, a policy)."""


class StoreError(UserInputError):
    """A result directory cannot be used: written by an incompatible version, or not a result store at all."""


class ExecutorError(UserInputError):
    """The machinery running the sweep failed (a worker process died, a Dask scheduler is unreachable).

    Finished runs are already stored; running the same command again resumes the sweep.
    """
