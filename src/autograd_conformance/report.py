"""The JSON report: building it from probe results, validating it against the shipped schema, writing it safely."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import fastjsonschema

from .record import write_atomic
from .verdict import VERDICTS

SCHEMA_VERSION = 1

#: Fields that legitimately differ between two runs of the same suite on the same torch.
VOLATILE_RUN_INFO = ("started", "finished", "duration", "pytest_args", "workers", "git_revision")


class ReportError(Exception):
    """A report that cannot be read or does not fit the schema; str() is one line naming the file."""


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    return json.loads(resources.files(__package__).joinpath("schema/report.schema.json").read_text())


@lru_cache(maxsize=1)
def _validator() -> Any:
    """The shipped schema compiled to Python (fastjsonschema): ~50x faster than interpreting it at 10k probes."""
    return fastjsonschema.compile(schema())


def build(run_info: dict[str, Any], probes: list[dict[str, Any]], stale: list[dict[str, str]],
          sources: dict[str, dict[str, str]] | None = None) -> dict[str, Any]:
    probes = sorted(probes, key=lambda p: (p["id"], p["nodeid"]))
    summary = {v: 0 for v in VERDICTS}
    for p in probes:
        summary[p["verdict"]] += 1
    summary["total"] = len(probes)
    summary["stale"] = len(stale)
    return {"schema_version": SCHEMA_VERSION, "run_info": run_info, "summary": summary,
            "stale": sorted(stale, key=lambda s: (s["file"], s["key"])), "probes": probes,
            "sources": dict(sorted((sources or {}).items()))}


def validate(report: Any, label: str = "report") -> None:
    """Raise ReportError with one line (file and the failing path) if ``report`` does not fit the schema."""
    if isinstance(report, dict) and report.get("schema_version") not in (None, SCHEMA_VERSION):
        raise ReportError(f"{label}: schema_version {report.get('schema_version')!r} is not supported "
                          f"(this harness reads {SCHEMA_VERSION})")
    try:
        _validator()(report)
    except fastjsonschema.JsonSchemaException as error:
        path = "/".join(str(p) for p in (error.path or [])[1:]) or "(top level)"
        raise ReportError(f"{label}: does not fit the report schema at {path}: {error.message}") from None


def dumps(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=1, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


def write(path: Path, report: dict[str, Any]) -> None:
    """Validate, then write atomically: an existing report at ``path`` is replaced whole or not at all."""
    validate(report, str(path))
    write_atomic(path, dumps(report))


def load(path: Path) -> dict[str, Any]:
    """Read and validate a saved report (or the stream of an incomplete run); problems are ReportErrors."""
    path = Path(path)
    if path.suffix == ".jsonl":
        return load_stream(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReportError(f"{path}: no such report") from None
    except IsADirectoryError:
        raise ReportError(f"{path}: is a directory, not a report") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"{path}: cannot read: {exc}") from None
    try:
        report = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    validate(report, str(path))
    return report


def comparable(report: dict[str, Any]) -> dict[str, Any]:
    """The report without durations and timestamps: equal for two runs that observed the same things."""
    out = json.loads(json.dumps(report))
    for key in VOLATILE_RUN_INFO:
        out["run_info"].pop(key, None)
    for probe in out["probes"]:
        probe["duration"] = 0
    return out


def load_stream(path: Path) -> dict[str, Any]:
    """The report of an incomplete run from its result stream, marked ``complete: false``."""
    from . import stream

    try:
        run_info, results, interrupted = stream.read(Path(path))
    except FileNotFoundError:
        raise ReportError(f"{path}: no such result stream") from None
    except IsADirectoryError:
        raise ReportError(f"{path}: is a directory, not a result stream") from None
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise ReportError(f"{path}: not a readable result stream ({exc})") from None
    run_info = {**run_info, "complete": False, "interrupted": interrupted}
    report = build(run_info, results, [])
    validate(report, str(path))
    return report
