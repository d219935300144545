"""Progress of a sweep: without a terminal, log lines through the standard logging module."""

from __future__ import annotations

import logging

import pytest

from simulator.runner.progress import Progress

pytestmark = pytest.mark.unit


def test_progress_logs_lines_when_not_a_terminal(caplog):
    caplog.set_level(logging.INFO, logger="simulator.runner.progress")
    progress = Progress(4, "tiny", interval_s=0.0)
    for failed in (False, True, False, False):
        progress.update(failed)
    progress.close()
    lines = [record.getMessage() for record in caplog.records if record.name == "simulator.runner.progress"]
    assert lines[0].startswith("tiny: 1/4 runs, 0 failed") and "left" in lines[0]
    assert lines[-1].startswith("tiny: 4/4 runs, 1 failed") and "left" not in lines[-1]
    assert all(record.levelno == logging.INFO for record in caplog.records)


def test_disabled_progress_logs_nothing(caplog):
    caplog.set_level(logging.DEBUG, logger="simulator.runner.progress")
    Progress(2, "x", enabled=False, interval_s=0.0).update()
    assert not caplog.records
