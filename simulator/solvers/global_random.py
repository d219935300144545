"""Confine a library's draws from the global ``random`` and ``np.random`` generators to one solve call.

DEAP's operators draw from Python's ``random`` module and pyswarms from numpy's legacy global generator.
Solvers built on them must still be pure functions of the generator they are given, and must not disturb
a caller who uses those global generators too (a simulation, a test, a notebook). Inside
:func:`seeded_global_random` both global generators are seeded from the call's generator; on exit, normal
or by exception, the caller's states are put back.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator

import numpy as np

__all__ = ["seeded_global_random"]


@contextlib.contextmanager
def seeded_global_random(rng: np.random.Generator) -> Iterator[None]:
    """Seed ``random`` and ``np.random`` from ``rng`` for the block; restore the caller's states after it."""
    python_state = random.getstate()
    numpy_state = np.random.get_state()
    random.seed(int(rng.integers(2**63)))
    np.random.seed(int(rng.integers(2**32)))
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
