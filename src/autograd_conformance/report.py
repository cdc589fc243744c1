"""The JSON report: the typed run record (``RunInfo``, ``Report``), validated against the shipped schema,
written safely and read back."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import fastjsonschema

from .errors import ConformanceError
from .files import write_atomic
from .text import probes
from .result import ProbeResult
from .verdict import CRASHED, VERDICTS

SCHEMA_VERSION = 4
#: Older report versions this harness still reads (upgraded on load).
READABLE_VERSIONS = (1, 2, 3, 4)
#: What kind of run wrote a report: one that compared with the table, or one that recorded into it (with its
#: record policy: ``record-new``, ``record-all``, ``record-init``).
COMPARE = "compare"

#: Fields that legitimately differ between two runs of the same suite on the same torch.
VOLATILE_RUN_INFO = ("started", "finished", "duration", "pytest_args", "workers", "git_revision")


class ReportError(ConformanceError):
    """A report that cannot be read or does not fit the schema; str() is one line naming the file."""


@dataclass
class RunInfo:
    """What was run, where and how: the report's ``run_info``."""

    run_name: str
    torch_version: str
    table_torch_version: str
    table_hash: str
    torch_git_version: str | None = None
    #: Set when the table does not describe this torch: which release rows were resolved for instead, and why.
    table_note: str | None = None
    #: Per known device: whether this machine has it, whether probes were generated for it, and how many ran.
    devices: dict[str, dict[str, Any]] = field(default_factory=dict)
    python: str = ""
    platform: str = ""
    pytest_args: list[str] = field(default_factory=list)
    hypothesis: dict[str, Any] = field(default_factory=dict)
    table_dir: str = ""
    #: The table's layers (directories), lowest first; ``table_dir`` is the top one.
    table_dirs: list[str] = field(default_factory=list)
    harness_version: str = ""
    #: ``compare``, or ``record-<policy>`` for a run that wrote the table (see ``record.RecordPolicy``).
    run_kind: str = COMPARE
    partial: bool = False
    #: Why a partial run selected less than whole suites (``-k``, a node id, deselected tests, ...).
    partial_reason: str | None = None
    started: str = ""
    finished: str = ""
    duration: float = 0.0
    workers: int = 0
    numpy: str | None = None
    #: The execution modes probes ran in, and the torch.compile backend where ``compile`` is among them.
    modes: list[str] = field(default_factory=lambda: ["eager"])
    compile_backend: str | None = None
    #: Where compile mode kept torch's compiled artefacts (``--ac-compile-cache``), where it ran.
    compile_cache: str | None = None
    #: ``--ac-gate`` as the run used it (``all``, ``semantic``, with ``,unrecorded`` where unrecorded fails).
    gate: str = "all"
    git_revision: str | None = None
    #: What importing probe modules changed of torch's process-wide state (it was put back), a line a module.
    import_leaks: list[str] = field(default_factory=list)
    #: Only in a report read back from the stream of an incomplete run.
    complete: bool | None = None
    interrupted: bool | None = None
    #: Keys written by another harness version, kept so a report round-trips.
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def incomplete(self) -> bool:
        return self.complete is False

    @property
    def recording(self) -> bool:
        return self.run_kind != COMPARE

    def to_json(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        for optional in ("complete", "interrupted"):
            if out[optional] is None:
                del out[optional]
        return {**self.extra, **out}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "RunInfo":
        names = {f.name for f in fields(cls)} - {"extra"}
        return cls(**{k: v for k, v in data.items() if k in names},
                   extra={k: v for k, v in data.items() if k not in names})


@dataclass(frozen=True)
class BaselineGap:
    """Why a report cannot stand for a full baseline: the tag its file name carries (``<run>.<tag>.json``, so it
    never replaces a full report) and the sentence that says why."""

    tag: str
    why: str


def baseline_gap(run_kind: str, partial: bool, partial_reason: str | None, crashed: int,
                 incomplete: bool = False, interrupted: bool | None = None) -> BaselineGap | None:
    """The one rule for "not a full baseline" (None when the run is one): an incomplete run, then a recording
    run, then a partial run, then a run in which probes crashed. Its probes are a subset or its observations
    incomplete, so a comparison with it shows probes as removed or changed."""
    if incomplete:
        return BaselineGap("incomplete", "an incomplete run (read from the stream of a run that " + (
            "was interrupted)" if interrupted else "did not finish)"))
    if run_kind != COMPARE:
        return BaselineGap("record", f"a recording run ({run_kind})")
    if partial:
        return BaselineGap("partial", f"a partial run ({partial_reason or 'a selection'})")
    if crashed:
        return BaselineGap("crashed", f"a run in which {probes(crashed)} crashed")
    return None


@dataclass
class StaleRow:
    """A table row that matched no probe in a full run."""

    file: str
    key: str

    def to_json(self) -> dict[str, str]:
        return {"file": self.file, "key": self.key}


@dataclass
class Report:
    """One run: run info, every probe's result, stale rows and each family's probe source (for repro)."""

    run_info: RunInfo
    probes: list[ProbeResult]
    stale: list[StaleRow] = field(default_factory=list)
    sources: dict[str, dict[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.probes = sorted(self.probes, key=lambda p: (p.id, p.nodeid))
        self.stale = sorted(self.stale, key=lambda s: (s.file, s.key))
        self.sources = dict(sorted(self.sources.items()))

    def not_a_baseline(self) -> str | None:
        """Why this report cannot stand for a full run of the suite (None when it can); see ``baseline_gap``."""
        info = self.run_info
        gap = baseline_gap(info.run_kind, info.partial, info.partial_reason,
                           sum(1 for p in self.probes if p.verdict == CRASHED), info.incomplete, info.interrupted)
        return gap.why if gap else None

    @property
    def summary(self) -> dict[str, int]:
        counts = {v: 0 for v in VERDICTS}
        for p in self.probes:
            counts[p.verdict] = counts.get(p.verdict, 0) + 1  # an unknown verdict is the schema's to refuse
        counts["total"] = len(self.probes)
        counts["stale"] = len(self.stale)
        return counts

    def to_json(self) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, "run_info": self.run_info.to_json(), "summary": self.summary,
                "stale": [s.to_json() for s in self.stale], "probes": [p.to_json() for p in self.probes],
                "sources": self.sources}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Report":
        return cls(RunInfo.from_json(data["run_info"]), [ProbeResult.from_json(p) for p in data["probes"]],
                   [StaleRow(s["file"], s["key"]) for s in data["stale"]], data.get("sources", {}))


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    return json.loads(resources.files(__package__).joinpath("schema/report.schema.json").read_text())


@lru_cache(maxsize=1)
def _validator() -> Any:
    """The shipped schema compiled to Python (fastjsonschema): ~50x faster than interpreting it at 10k probes."""
    return fastjsonschema.compile(schema())


def upgrade(data: Any) -> Any:
    """A report of an older schema version as the current version, step by step: version 1 had
    ``cuda_available`` and ``mps_available`` where version 2 has ``devices``, and one table directory; version 2
    called the run's kind (compare or record) ``mode``, the word that now means the execution mode only;
    version 3 had no ``unrecorded`` verdict and no ``gate`` (nothing to change)."""
    if not isinstance(data, dict) or data.get("schema_version") not in (1, 2, 3):
        return data
    if not isinstance(data.get("run_info"), dict):
        return {**data, "schema_version": SCHEMA_VERSION}  # the schema says what else is wrong
    info = dict(data["run_info"])
    if data["schema_version"] == 1:
        flags = {"cpu": True, "cuda": info.pop("cuda_available", False), "mps": info.pop("mps_available", False)}
        info["devices"] = {name: {"available": bool(flag)} for name, flag in flags.items()}
        info.setdefault("table_dirs", [info.get("table_dir", "")])
    if "mode" in info and "run_kind" not in info:
        info["run_kind"] = info.pop("mode")
    return {**data, "schema_version": SCHEMA_VERSION, "run_info": info}


def validate(data: Any, label: str = "report") -> None:
    """Raise ReportError with one line (file and the failing path) if ``data`` does not fit the schema."""
    if isinstance(data, dict) and data.get("schema_version") not in (None, SCHEMA_VERSION):
        raise ReportError(f"{label}: schema_version {data.get('schema_version')!r} is not supported "
                          f"(this harness reads {', '.join(map(str, READABLE_VERSIONS))})")
    try:
        _validator()(data)
    except fastjsonschema.JsonSchemaException as error:
        path = "/".join(str(p) for p in (error.path or [])[1:]) or "(top level)"
        raise ReportError(f"{label}: does not fit the report schema at {path}: {error.message}") from None


def dumps(report: Report, label: str = "report") -> str:
    """The report validated against the schema, as compact JSON (json's C encoder: ~10x faster than indented
    output at 10k probes)."""
    data = report.to_json()
    validate(data, label)
    return json.dumps(data, sort_keys=True, ensure_ascii=False, allow_nan=False, separators=(",", ":")) + "\n"


def write(path: Path, report: Report) -> None:
    """Validate, then write atomically: an existing report at ``path`` is replaced whole or not at all."""
    write_atomic(path, dumps(report, str(path)))


def load(path: Path) -> Report:
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
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise ReportError(f"{path}: not a report (its JSON is nested too deep to read)") from None
    data = upgrade(data)
    validate(data, str(path))
    return Report.from_json(data)


def comparable(report: Report) -> dict[str, Any]:
    """The report as JSON without durations and timestamps: equal for two runs that observed the same things."""
    out = json.loads(json.dumps(report.to_json()))
    for key in VOLATILE_RUN_INFO:
        out["run_info"].pop(key, None)
    for probe in out["probes"]:
        probe["duration"] = 0
    return out


def load_stream(path: Path) -> Report:
    """The report of an incomplete run from its result stream, marked ``complete: false``."""
    from . import stream

    try:
        run_info, results, interrupted = stream.read(Path(path))
    except FileNotFoundError:
        raise ReportError(f"{path}: no such result stream") from None
    except IsADirectoryError:
        raise ReportError(f"{path}: is a directory, not a result stream") from None
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise ReportError(f"{path}: not a readable result stream ({type(exc).__name__}: {str(exc)[:200]})") from None
    try:
        run_info = upgrade({"schema_version": 1 if "devices" not in run_info else 2, "run_info": run_info})["run_info"]
        info = RunInfo.from_json({**run_info, "complete": False, "interrupted": interrupted})
        report = Report(info, [ProbeResult.from_json(r) for r in results])
    except (KeyError, TypeError) as exc:
        raise ReportError(f"{path}: not a readable result stream ({exc})") from None
    validate(report.to_json(), str(path))
    return report
