"""Progress of a sweep: runs done, failures and time left, as a tqdm bar on a terminal or log lines otherwise."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

__all__ = ["Progress"]

logger = logging.getLogger(__name__)


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


class Progress:
    """Counts finished and failed runs of a sweep and shows them.

    When stderr is a terminal (and tqdm is installed) a progress bar with the time left; otherwise an
    information record of this module's logger at most every ``interval_s`` seconds (and at the end), so
    logs of batch jobs and notebooks stay readable (``logging.basicConfig(level=logging.INFO)`` shows them).

    Args:
        total: Runs to do in this sweep.
        label: What is shown before the counts (the experiment's name).
        enabled: False shows nothing.
        interval_s: Minimum time between two log lines.
    """

    def __init__(self, total: int, label: str, enabled: bool = True, interval_s: float = 10.0) -> None:
        self.total = total
        self.label = label
        self.enabled = enabled
        self.interval_s = interval_s
        self.done = 0
        self.failed = 0
        self._started = time.monotonic()
        self._last_line = self._started
        self._bar: Any = None
        if enabled and total and sys.stderr.isatty():
            try:
                from tqdm import tqdm
            except ImportError:  # pragma: no cover (tqdm is a dependency)
                tqdm = None
            if tqdm is not None:
                self._bar = tqdm(total=total, desc=label, unit="run", file=sys.stderr, dynamic_ncols=True)

    def update(self, failed: bool = False) -> None:
        """One more run finished (``failed``: it raised)."""
        self.done += 1
        self.failed += int(failed)
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(1)
            if failed:
                self._bar.set_postfix(failed=self.failed)
            return
        now = time.monotonic()
        if now - self._last_line >= self.interval_s or self.done == self.total:
            self._last_line = now
            logger.info("%s", self.line())

    def line(self) -> str:
        """``name: 40/100 runs, 2 failed, 12 s elapsed, about 18 s left``."""
        elapsed = time.monotonic() - self._started
        text = f"{self.label}: {self.done}/{self.total} runs, {self.failed} failed, {_duration(elapsed)} elapsed"
        if 0 < self.done < self.total:
            text += f", about {_duration(elapsed / self.done * (self.total - self.done))} left"
        return text

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
