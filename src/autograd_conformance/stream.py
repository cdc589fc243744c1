"""The result stream: one JSON line per event, flushed as it happens, so a crashed or killed run leaves a record.

``reports/<run>.jsonl`` holds a ``run`` header, a ``start`` line before each probe runs in this process, a
``result`` line when it finishes, and ``interrupted`` if the run was stopped. A complete run replaces it with
the JSON report; a stream left behind is an incomplete run, which ``html`` and ``diff`` read (marked
incomplete): a probe that started but has no result is ``crashed``. One run holds the stream's lock; a second
run with the same name at the same time streams to ``<run>.<pid>.jsonl`` instead.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any

from .result import ProbeResult
from .verdict import CRASHED


class Stream:
    """An append-only JSON-lines file with an exclusive lock for the run that owns it."""

    def __init__(self, directory: Path, run_name: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{run_name}.jsonl"
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            self.path = directory / f"{run_name}.{os.getpid()}.jsonl"
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)  # a stream left by an earlier crashed run of this name is superseded
        self.fd = fd

    def write_result(self, result: ProbeResult) -> None:
        self.write("result", probe=result.to_json())

    def write(self, event: str, **fields: Any) -> None:
        line = json.dumps({"event": event, **fields}, ensure_ascii=False, allow_nan=False) + "\n"
        os.write(self.fd, line.encode("utf-8", "backslashreplace"))  # one write per line: lines never interleave

    def close(self, remove: bool) -> None:
        if self.fd < 0:
            return
        if remove:
            self.path.unlink(missing_ok=True)
        os.close(self.fd)  # closing releases the lock
        self.fd = -1


def read(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]], bool]:
    """(run_info, results, interrupted) from a stream; a truncated last line (a killed writer) is ignored."""
    run_info: dict[str, Any] | None = None
    results: dict[str, dict[str, Any]] = {}
    started: list[str] = []
    interrupted = False
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, 1):
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):
                break
            raise ValueError(f"line {number} is not JSON") from None
        kind = event.get("event") if isinstance(event, dict) else None
        if run_info is None and kind != "run":
            raise ValueError(f"line {number}: expected the run header first: no run header, not a result stream")
        try:
            if kind == "run":
                run_info = dict(event["run_info"])
            elif kind == "start":
                started.append(str(event["nodeid"]))
            elif kind == "result":
                results[str(event["probe"]["nodeid"])] = event["probe"]
            elif kind == "interrupted":
                interrupted = True
            else:
                raise ValueError(f"line {number}: unknown event {kind!r}")
        except (KeyError, TypeError):
            raise ValueError(f"line {number}: a {kind!r} event without its fields") from None
    if run_info is None:
        raise ValueError("no run header: not a result stream")
    for nodeid in started:
        if nodeid not in results:
            message = ("the run was interrupted while this probe ran" if interrupted
                       else "the process died while this probe ran (crash or kill)")
            results[nodeid] = ProbeResult.unreported(nodeid, CRASHED, message).to_json()
    return run_info, list(results.values()), interrupted


class NullStream:
    """Stands in for the result stream when it cannot be opened (the report write will say why)."""

    path = None

    def write_result(self, result: ProbeResult) -> None:
        pass

    def write(self, event: str, **fields: Any) -> None:
        pass

    def close(self, remove: bool) -> None:
        pass
