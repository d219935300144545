"""The result store: one JSON file per finished run, written atomically, under ``results/NAME/``.

Layout::

    results/NAME/store.json          store format, package version, experiment name
    results/NAME/manifest.json       the latest sweep's grid: one entry per run (key, factors, policy, seed)
    results/NAME/runs/<key>.json     one finished run: its record (see `simulator.runner.worker`)

A run file appears only once complete (written to a temporary file, flushed to disk, then renamed with
``os.replace``), so a sweep killed at any instant leaves either the whole record or none, never half of
one, and a key has exactly one file: resuming cannot duplicate a run. A store written with another
`STORE_FORMAT` is refused rather than mixed with new results.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from simulator.runner.errors import StoreError
from simulator.runner.grid import STORE_FORMAT

__all__ = ["MANIFEST_FILE", "RUNS_DIR", "STORE_FILE", "ResultStore", "atomic_write_text"]

STORE_FILE = "store.json"
MANIFEST_FILE = "manifest.json"
RUNS_DIR = "runs"


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old content or the new one, never a part."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _reason(error: BaseException) -> str:
    if isinstance(error, OSError):
        return error.strerror or str(error)
    if isinstance(error, UnicodeDecodeError):
        return "not UTF-8 text"
    return str(error)


_RUN_FIELDS: dict[str, type | tuple[type, ...]] = {"status": str, "summary": dict, "key": str}
_MANIFEST_ENTRY_FIELDS: dict[str, type | tuple[type, ...]] = {
    "key": str, "point": int, "factors": dict, "derived": dict, "policy": str, "policy_name": str,
    "policy_params": dict, "replication": int, "seed": int,
}


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


class ResultStore:
    """A directory of run records (see the module docstring). Use `open` or `create`, not the constructor."""

    def __init__(self, root: Path, info: Mapping[str, Any]) -> None:
        self.root = root
        self.info = dict(info)

    @property
    def runs_dir(self) -> Path:
        return self.root / RUNS_DIR

    @classmethod
    def open(cls, root: str | Path) -> ResultStore:
        """Open an existing store.

        Raises:
            StoreError: No store there, or one written by an incompatible version.
        """
        root = Path(root)
        marker = root / STORE_FILE
        if not marker.exists():
            if (root / RUNS_DIR).is_dir():
                raise StoreError([f"{root}: has {RUNS_DIR}/ but no {STORE_FILE}: written by an older, incompatible "
                                  f"version of allocsim (this one writes store format {STORE_FORMAT}); move it away "
                                  "and run the sweep again"])
            raise StoreError([f"{root}: no result store here (no {STORE_FILE}); run `python -m simulator sweep "
                              "EXPERIMENT.toml` first"])
        try:
            info = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:  # ValueError: not JSON, or not UTF-8
            raise StoreError([f"{marker}: unreadable ({_reason(error)}); this is not a result store written by "
                              "allocsim, or it is damaged: move it away (or pass another --out) and sweep again"]
                             ) from None
        if not isinstance(info, dict):
            raise StoreError([f"{marker}: not a result store marker (a JSON object is expected); move the directory "
                              "away (or pass another --out) and sweep again"])
        found = info.get("format")
        if found != STORE_FORMAT:
            raise StoreError([f"{root}: result store format {found!r} (allocsim {info.get('package_version', '?')}"
                              f" wrote it) is incompatible with this version, which reads and writes format "
                              f"{STORE_FORMAT}; move the directory away (or pass another --out) and sweep again"])
        return cls(root, info)

    @classmethod
    def create(cls, root: str | Path, experiment: str) -> ResultStore:
        """Open the store at ``root``, creating it if the directory has none (an incompatible one is refused)."""
        root = Path(root)
        if (root / STORE_FILE).exists() or (root / RUNS_DIR).is_dir():
            return cls.open(root)
        from simulator import __version__

        root.mkdir(parents=True, exist_ok=True)
        (root / RUNS_DIR).mkdir(exist_ok=True)
        info = {"format": STORE_FORMAT, "package": "allocsim", "package_version": __version__,
                "experiment": experiment, "created_at": _now()}
        atomic_write_text(root / STORE_FILE, json.dumps(info, indent=2) + "\n")
        return cls(root, info)

    # -- runs ----------------------------------------------------------------------------------------------

    def run_path(self, key: str) -> Path:
        return self.runs_dir / f"{key}.json"

    def keys(self) -> set[str]:
        """Keys of every stored run, finished or failed."""
        if not self.runs_dir.is_dir():
            return set()
        return {path.stem for path in self.runs_dir.iterdir()
                if path.suffix == ".json" and not path.name.startswith(".")}

    def remove_leftovers(self) -> int:
        """Delete temporary files of writers that were killed between writing and renaming; returns how many.

        A temporary file whose writing process still runs is left alone."""
        removed = 0
        if not self.runs_dir.is_dir():
            return removed
        for path in self.runs_dir.glob(".*.tmp"):
            try:
                pid = int(path.name.rsplit(".", 2)[-2])
                os.kill(pid, 0)
                if pid != os.getpid():
                    continue  # its writer is alive
            except PermissionError:
                continue  # a process of another user holds that pid: leave its file alone
            except (ValueError, IndexError, ProcessLookupError):
                pass
            with contextlib.suppress(OSError):
                path.unlink()
                removed += 1
        return removed

    def failed_keys(self) -> set[str]:
        return {key for key in self.keys() if (self.read_run(key) or {}).get("status") != "ok"}

    def write_run(self, record: Mapping[str, Any]) -> Path:
        """Store one run record atomically under its key."""
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        path = self.run_path(str(record["key"]))
        atomic_write_text(path, json.dumps(record, indent=1, default=str) + "\n")
        return path

    def read_run(self, key: str) -> dict[str, Any] | None:
        """The record of a run, or None when it is not stored (or its file is damaged: it will be run again).

        Raises:
            StoreError: The record was written with another store format.
        """
        path = self.run_path(key)
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):  # damaged: not JSON, or not UTF-8
            return None
        if not isinstance(record, dict):
            return None
        if record.get("format") != STORE_FORMAT:
            raise StoreError([f"{path}: run record format {record.get('format')!r}, this version reads format "
                              f"{STORE_FORMAT}: the store mixes versions; move it away and sweep again"])
        if any(not isinstance(record.get(name), kind) for name, kind in _RUN_FIELDS.items()) or (
                record["status"] not in ("ok", "failed")
                or not isinstance(record.get("error") or {}, dict)):
            return None  # damaged (edited by hand?): it will be run again
        return record

    def records(self) -> Iterator[dict[str, Any]]:
        for key in sorted(self.keys()):
            record = self.read_run(key)
            if record is not None:
                yield record

    # -- manifest ------------------------------------------------------------------------------------------

    def write_manifest(self, manifest: Mapping[str, Any]) -> None:
        atomic_write_text(self.root / MANIFEST_FILE, json.dumps(manifest, indent=1, default=str) + "\n")

    def read_manifest(self) -> dict[str, Any]:
        """The latest sweep's grid.

        Raises:
            StoreError: No manifest (no sweep has started here) or an unreadable one.
        """
        path = self.root / MANIFEST_FILE
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise StoreError([f"{self.root}: no {MANIFEST_FILE}; run the sweep first"]) from None
        except (OSError, ValueError) as error:  # ValueError: not JSON, or not UTF-8
            raise StoreError([f"{path}: unreadable ({_reason(error)}); run the sweep again to rewrite it"]) from None
        if not isinstance(manifest, dict):
            raise StoreError([f"{path}: damaged (a JSON object is expected); run the sweep again to rewrite it"])
        if manifest.get("format") != STORE_FORMAT:
            raise StoreError([f"{path}: format {manifest.get('format')!r}, this version reads {STORE_FORMAT}"])
        runs = manifest.get("runs")
        if not isinstance(runs, list) or not all(
                isinstance(entry, dict) and all(isinstance(entry.get(name), kind)
                                                for name, kind in _MANIFEST_ENTRY_FIELDS.items())
                for entry in runs):
            raise StoreError([f"{path}: damaged (its list of runs is missing or malformed); run the sweep again "
                              "to rewrite it"])
        factors = manifest.get("factors", [])
        if not isinstance(factors, list) or not all(
                isinstance(f, dict) and isinstance(f.get("name"), str) and isinstance(f.get("levels"), list)
                for f in factors) or not isinstance(manifest.get("derived", []), list):
            raise StoreError([f"{path}: damaged (its factors are malformed); run the sweep again to rewrite it"])
        return dict(manifest)
