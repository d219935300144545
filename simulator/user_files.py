"""Files the user names: every read of user input and every write to a user-chosen path goes through here.

Operating-system and decoding errors (no such file, a directory, a symlink loop, no permission, not UTF-8,
a name too long, a read-only or virtual file system) become a `UserInputError` naming the path and what was
wrong, so the CLI prints one line and exits 2 instead of a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from simulator.errors import UserInputError

__all__ = ["read_user_text", "read_user_toml", "user_output", "writable_directory", "write_atomically"]


def _os_problem(path: Path, doing: str, error: OSError) -> str:
    if error.errno == errno.ELOOP:
        reason = "symbolic link loop"
    elif error.errno == errno.EISDIR or (doing.startswith("read") and _is_directory(path)):
        reason = "it is a directory, not a file"
    else:
        reason = error.strerror or str(error)
    return f"{path}: cannot {doing}: {reason}"


def _is_directory(path: Path) -> bool:
    try:
        return path.is_dir()
    except (OSError, ValueError):  # a name too long, a NUL in it
        return False


def read_user_text(path: str | Path, what: str = "file") -> str:
    """The whole text of a user's file, decoded as UTF-8 (a byte-order mark is accepted).

    Raises:
        UserInputError: Naming the file when it cannot be read or is not UTF-8 text.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserInputError([f"{path}: no such {what}"]) from None
    except OSError as error:
        raise UserInputError([_os_problem(path, f"read {what}", error)]) from None
    except ValueError:  # the name holds a NUL character
        raise UserInputError([f"{path!r}: not a valid file name"]) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        byte = data[error.start]
        line = data.count(b"\n", 0, error.start) + 1
        raise UserInputError([f"{path}: {what} is not UTF-8 text (byte 0x{byte:02x} on line {line}); "
                              "save it as UTF-8"]) from None


def read_user_toml(path: str | Path, what: str = "file") -> dict[str, Any]:
    """A user's TOML file as a dict; unreadable files and TOML syntax errors become a `UserInputError`."""
    text = read_user_text(path, what)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise UserInputError([f"{path}: not valid TOML: {error}"]) from None
    except RecursionError:
        raise UserInputError([f"{path}: not valid TOML: nested too deeply"]) from None


@contextlib.contextmanager
def user_output(path: str | Path, option: str = "--out") -> Iterator[None]:
    """Turn an `OSError` raised while writing to a user-chosen path into a `UserInputError`."""
    try:
        yield
    except OSError as error:
        target = Path(error.filename) if error.filename else Path(path)
        if error.errno == errno.ENAMETOOLONG:
            reason = "file name too long"
        elif error.errno in (errno.EEXIST, errno.ENOTDIR):
            reason = "a file is in the way where a directory is needed"
        else:
            reason = error.strerror or str(error)
        raise UserInputError([f"{option} {path}: cannot write {target}: {reason}"]) from None


def writable_directory(path: str | Path, option: str = "--out") -> Path:
    """Create `path` as a directory (with parents) and check that files can be written in it.

    Raises:
        UserInputError: When `path` is an existing file, cannot be created, or is not writable.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserInputError([f"{option} {path}: is an existing file; give a directory"])
    with user_output(path, option):
        path.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=path, prefix=".write-check-", delete=True)  # noqa: SIM115
        probe.close()
    return path


def write_atomically(path: str | Path, write: Callable[[Path], object], option: str = "--out") -> Path:
    """Write a file by `write(temporary_path)` then rename it over `path`: a reader never sees half a file,
    and a failed write leaves the old file as it was. The file keeps the permissions of the one it replaces
    (a new file gets the usual ones, after the umask)."""
    path = Path(path)
    with user_output(path, option):
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        handle, temporary_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:50]}.", suffix=".tmp")
        os.close(handle)
    except OSError as error:
        raise UserInputError([f"{option} {path}: cannot write: {error.strerror or error}"]) from None
    temporary = Path(temporary_name)
    try:
        if path.exists():
            mode = path.stat().st_mode & 0o7777
        else:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        temporary.chmod(mode)
        write(temporary)
        os.replace(temporary, path)
    except OSError as error:
        raise UserInputError([f"{option} {path}: cannot write: {error.strerror or error}"]) from None
    finally:
        temporary.unlink(missing_ok=True)
    return path
