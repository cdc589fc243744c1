"""How a run ended: ``RunOutcome``, the one frozen record the session builds at its end (``finish``), which the
terminal summary and the verdict line render."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .record import RecordPolicy, RecordSummary
from .report import BaselineGap, StaleRow
from .result import ProbeResult
from .verdict import SKIPPED


@dataclass(frozen=True)
class RunOutcome:
    """Everything the end of a run decided: the results, stale rows and problems, the record account, where
    the report went (and which full report was left as it was), and the exit status."""

    status: int
    results: tuple[ProbeResult, ...]
    torch_version: str
    #: The sentences the run says about the table before its probes (release and mode notes).
    notes: tuple[str, ...] = ()
    stale: tuple[StaleRow, ...] = ()
    #: Stale rows are only reported, not failing (the torch is not a release the table describes).
    stale_reported_only: bool = False
    problems: tuple[str, ...] = ()
    interrupted: bool = False
    partial: bool = False
    #: Why the report is not a full baseline (and the tag its file name carries), or None.
    gap: BaselineGap | None = None
    report_path: Path | None = None
    html_path: Path | None = None
    #: The full report of this run's name: replaced by a full run, left as it was by any other.
    baseline_path: Path | None = None
    #: The result stream an interrupted run leaves.
    stream_path: Path | None = None
    record_policy: RecordPolicy | None = None
    record: RecordSummary | None = None
    record_dir: Path | None = None
    gate: str = "all"
    #: Devices probes were generated for, and known devices left out as absent.
    generated: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    #: What the run had that the table has no recording of for this release (``unrecorded`` verdicts): devices,
    #: and ``compile under <backend>``.
    unrecorded: tuple[str, ...] = ()
    modes: tuple[str, ...] = ("eager",)
    compile_backend: str | None = None
    compile_cache: Path | None = None

    @property
    def ran(self) -> int:
        """Probes that ran (every result but the skipped ones)."""
        return sum(1 for r in self.results if r.verdict != SKIPPED)

    def count(self, verdict: str) -> int:
        return sum(1 for r in self.results if r.verdict == verdict)
