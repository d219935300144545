"""Shared by the benchmark scripts: a description of the machine, and writing results as JSON."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

import simpy


def machine_description() -> dict[str, Any]:
    """CPU model, cores, Python, platform and SimPy version: what a benchmark's numbers depend on."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "simpy": simpy.__version__}


def write_json(path: str | Path, results: dict[str, Any]) -> None:
    """Write ``results`` to ``path`` (folders created) and say so."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {path}")
