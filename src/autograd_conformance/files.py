"""Writing files safely (the bottom layer): every file the harness writes is replaced whole or not at all, files
that must agree are committed together, and a directory's writers take turns.

- ``write_atomic``: one file, through a hidden temporary file (named for the writing process) and a rename.
- ``write_together``: several files of one directory, all new or all old: the temporary files are written
  first, a journal names them, then every one is renamed; a commit interrupted between the renames is
  completed by ``recover`` (the next writer, or the next reader of the table).
- ``replace_pair``: a report and its page, so that no reader sees a new report beside an old page.
- ``DirectoryLock``: one writer at a time in a directory (an advisory lock on the directory itself: no lock
  file is left behind).
- ``remove_stale_temporaries``: temporary files of writers that no longer run (killed mid-write).
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path

#: The journal of a commit of several files in progress (``write_together``).
JOURNAL = ".autograd-conformance-commit.json"


class LockTimeout(OSError):
    """Another process held a directory's lock for longer than the caller waits."""


def _temporary(path: Path) -> Path:
    """A hidden temporary file beside ``path``, named for this process (``.name.<pid>.<n>.tmp``)."""
    stamp = f"{os.getpid()}.{time.monotonic_ns()}"
    return path.with_name(f".{path.name}.{stamp}.tmp")


def _write_temporary(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary(path)
    try:
        with open(tmp, "w", encoding="utf-8", errors="backslashreplace") as fh:  # a lone surrogate stays legible
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename, so readers never see half a file."""
    path = Path(path)
    tmp = _write_temporary(path, text)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_together(directory: Path, texts: dict[str, str]) -> None:
    """Write several files of ``directory`` as one commit: a reader (or a writer killed halfway) never leaves
    some of them new and others old once ``recover`` has run."""
    directory = Path(directory)
    recover(directory)
    written: dict[str, Path] = {}
    try:
        for name in sorted(texts):
            written[name] = _write_temporary(directory / name, texts[name])
        write_atomic(directory / JOURNAL, json.dumps({name: tmp.name for name, tmp in written.items()}))
    except BaseException:
        for tmp in written.values():
            tmp.unlink(missing_ok=True)
        raise
    _complete(directory)


def _complete(directory: Path) -> list[str]:
    """Rename every temporary file the journal names into place, then remove the journal."""
    journal = directory / JOURNAL
    names = json.loads(journal.read_text(encoding="utf-8"))
    done = []
    for name, tmp in sorted(names.items()):
        if (directory / tmp).exists():
            os.replace(directory / tmp, directory / name)
            done.append(name)
    journal.unlink()
    return done


def recover(directory: Path) -> list[str]:
    """Complete a commit of several files that was interrupted after its journal was written, and remove the
    temporary files of writers that no longer run; returns the files the completed commit renamed."""
    directory = Path(directory)
    done: list[str] = []
    if (directory / JOURNAL).is_file():
        try:
            done = _complete(directory)
        except (ValueError, AttributeError):  # a journal cut short: its commit never started renaming
            (directory / JOURNAL).unlink(missing_ok=True)
    remove_stale_temporaries(directory)
    return done


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(directory: Path) -> list[Path]:
    """Remove the temporary files in ``directory`` whose writing process is gone (killed mid-write)."""
    removed = []
    for tmp in Path(directory).glob(".*.tmp") if Path(directory).is_dir() else []:
        parts = tmp.name.rsplit(".", 4)  # .name . pid . stamp . tmp
        pid = int(parts[-3]) if len(parts) >= 4 and parts[-3].isdigit() else None
        if pid is not None and pid != os.getpid() and not _alive(pid):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def replace_pair(path: Path, text: str, companion: Path | None, companion_text: str | None) -> None:
    """Replace a file and its companion (a report and its page) so that no reader sees the new file beside
    the old companion: both are written first, the old companion is removed, then both are renamed."""
    path = Path(path)
    tmp = _write_temporary(path, text)
    other = _write_temporary(companion, companion_text) if companion is not None and companion_text is not None \
        else None
    try:
        if companion is not None:
            Path(companion).unlink(missing_ok=True)
        os.replace(tmp, path)
        if other is not None:
            os.replace(other, companion)
    except BaseException:
        tmp.unlink(missing_ok=True)
        if other is not None:
            other.unlink(missing_ok=True)
        raise


class DirectoryLock:
    """An exclusive advisory lock on a directory (``flock`` on the directory itself), waited for at most
    ``timeout`` seconds; ``LockTimeout`` when another process holds it longer."""

    def __init__(self, directory: Path, timeout: float = 120.0) -> None:
        self.directory = Path(directory)
        self.timeout = timeout
        self.fd = -1

    def __enter__(self) -> "DirectoryLock":
        self.fd = os.open(self.directory, os.O_RDONLY)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(self.fd)
                    self.fd = -1
                    raise LockTimeout(f"{self.directory}: another process has held it for {self.timeout:g} s "
                                      f"(another record run?)") from None
                time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # closing releases the lock
            self.fd = -1
