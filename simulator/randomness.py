"""Named, independent random streams derived from one run seed (common random numbers across policies).

Every stream comes from ``numpy.random.SeedSequence(seed, spawn_key=(replication, stream, *sub_keys))``, so the
arrivals of a run do not change when the policy (which draws from its own stream) changes, and results do not
depend on the order runs execute in.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

import numpy as np

STREAM_IDS = {"arrivals": 0, "service": 1, "policy": 2, "failures": 3, "network": 4}


def stable_key(name: str) -> int:
    """A key for a name that is the same in every process (unlike ``hash``)."""
    return zlib.crc32(name.encode())


def stream(seed: int, name: str, *sub_keys: int | str, replication: int = 0) -> np.random.Generator:
    """The generator for stream ``name`` (and optional sub-keys such as an arrival stream's name)."""
    stream_id = STREAM_IDS.get(name, stable_key(name))
    keys = tuple(stable_key(k) if isinstance(k, str) else int(k) for k in sub_keys)
    sequence = np.random.SeedSequence(seed, spawn_key=(replication, stream_id, *keys))
    return np.random.Generator(np.random.PCG64(sequence))


class BufferedDraws:
    """Draws variates from a generator in blocks: one numpy call per block instead of one per event.

    ``draw_block(rng, n)`` returns ``n`` variates; ``next()`` hands them out one at a time.
    """

    __slots__ = ("_block", "_buffer", "_draw_block", "_index", "_rng")

    def __init__(
        self, rng: np.random.Generator, draw_block: Callable[[np.random.Generator, int], np.ndarray],
        block: int = 4096,
    ) -> None:
        self._rng = rng
        self._draw_block = draw_block
        self._block = block
        self._buffer: list[float] = []
        self._index = 0

    def next(self) -> float:
        index = self._index
        if index >= len(self._buffer):
            self._buffer = self._draw_block(self._rng, self._block).tolist()
            index = 0
        self._index = index + 1
        return self._buffer[index]
