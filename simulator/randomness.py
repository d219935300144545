"""Named, independent random streams derived from one run seed (common random numbers across policies).

Every stream comes from ``numpy.random.SeedSequence(seed, spawn_key=(replication, stream, *sub_keys))``, so the
arrivals of a run do not change when the policy (which draws from its own stream) changes, and results do not
depend on the order runs execute in.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Callable, Iterator

import numpy as np

STREAM_IDS = {"arrivals": 0, "service": 1, "policy": 2, "failures": 3, "network": 4, "sizes": 5}


def stable_key(name: str) -> int:
    """A key for a name that is the same in every process (unlike ``hash``)."""
    return zlib.crc32(name.encode())


def stream(seed: int, name: str, *sub_keys: int | str, replication: int = 0) -> np.random.Generator:
    """The generator for stream ``name`` (and optional sub-keys such as an arrival stream's name)."""
    stream_id = STREAM_IDS.get(name, stable_key(name))
    keys = tuple(stable_key(k) if isinstance(k, str) else int(k) for k in sub_keys)
    sequence = np.random.SeedSequence(seed, spawn_key=(replication, stream_id, *keys))
    return np.random.Generator(np.random.PCG64(sequence))


def buffered_draws(rng: np.random.Generator, draw_block: Callable[[np.random.Generator, int], np.ndarray],
                   block: int = 4096) -> Callable[[], float]:
    """A function handing out variates one at a time, drawn ``block`` at a time by ``draw_block(rng, n)``.

    One numpy call per block instead of one per event; each block is drawn when the previous one runs out, so
    the sequence does not depend on the block size's relation to the run length. The returned function is
    the ``__next__`` of an ``itertools.chain`` over the blocks: handing out a variate runs no Python code.
    """

    def blocks() -> Iterator[list[float]]:
        while True:
            yield draw_block(rng, block).tolist()

    return itertools.chain.from_iterable(blocks()).__next__
