"""The conformance session: one pytest run of probes, from options to exit status.

It parses the options once, loads the table, judges each probe, collects results (also from xdist workers),
streams them, and at the end decides staleness, applies record mode, writes the report and sets the exit
status. The pytest plugin's hooks only hand over to it, so everything here is testable without pytester.
"""

from __future__ import annotations

import datetime as _dt
import functools
import os
import platform
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from . import __version__, devices, modes
from . import report as report_mod
from .changelog import timeline
from .errors import ConformanceError, ProbeError, StateLeak
from .expectations import Entry, Resolved, Table, TableError
from .files import DirectoryLock, remove_stale_temporaries, replace_pair
from .ids import plain_nodeid, without_mode
from .normalize import normalize_message
from .options import OptionError, RunOptions, select_devices
from .outcome import RunOutcome
from .probes import suite_module
from .record import INIT, Recorder, RecordSummary
from .releases import check_torch_version, torch_release
from .report import BaselineGap, Report, RunInfo, StaleRow, baseline_gap
from .repro import module_source
from .result import Expectation, ProbeResult
from .stream import NullStream, Stream
from .verdict import CRASHED, ERROR, LEAKED, NOT_RUN, SKIPPED, TIMEOUT, explain, judge

# Exit statuses CI can tell apart (pytest's own numbers where they fit):
EXIT_OK = 0
EXIT_DIFFERENT = 1  # autograd behaves differently from the table (mismatch, drift, missing, probe error, ...)
EXIT_INTERRUPTED = 2  # pytest's own: the run was stopped
EXIT_HARNESS = 3  # the harness broke (e.g. the report could not be written)
EXIT_TABLE = 4  # the table is broken (malformed or conflicting at start, stale rows at the end)
EXIT_TOO_FEW = 5  # fewer probes ran than --ac-min-probes
#: When several apply, the first of these wins.
PRECEDENCE = (EXIT_HARNESS, EXIT_TABLE, EXIT_TOO_FEW, EXIT_DIFFERENT)


def _installed_version(distribution: str) -> str | None:
    """A distribution's installed version, without importing it (an xdist controller imports neither torch
    nor numpy)."""
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


class SessionError(ConformanceError):
    """Options or a table that make the run impossible; str() is one line naming the option or file. ``usage``
    tells a usage error (exit 2) from a broken table (exit 4)."""

    def __init__(self, message: str, usage: bool = False) -> None:
        super().__init__(message)
        self.usage = usage


def check_record_target(options: RunOptions) -> None:
    """Record mode writes into an existing table of the project's own, never into the installed bundled
    table, and creates a table only when asked to (``--ac-record=init``)."""
    if not options.record:
        return
    top = options.suites[-1]
    if top.installed:
        raise OptionError(f"--ac-record: the bundled table ({top.table_dir}) is part of the installed package and "
                          f"is never written; record into a table of your own: --ac-expectations=DIR "
                          f"--ac-record=init (see 'autograd-conformance init')")
    if not top.table_dir.is_dir() and options.record != INIT:
        raise OptionError(f"--ac-record: there is no table at {top.table_dir}; create it with --ac-record=init "
                          f"(or 'autograd-conformance init {top.directory}')")


@dataclass(frozen=True)
class RunContext:
    """What pytest knows about the invocation (its arguments, how many xdist workers), for the run info."""

    pytest_args: list[str] = field(default_factory=list)
    workers: int = 0


class ConformanceSession:
    """State and decisions of one run of probes (in a worker process, only judging is used)."""

    def __init__(self, options: RunOptions, table: Table, context: RunContext | None = None) -> None:
        self.options = options
        self.table = table
        #: Rows are resolved for ``options.table_version``: each layer's for the nearest release it describes
        #: (``Table.version_for``); ``table_version`` and ``version_note`` say what the bundled table did.
        self.table_version, self.version_note = table.releases.nearest(options.table_version)
        #: What the run says about the table before its probes: the release note, then a sentence for each mode
        #: this run uses whose rows were recorded on other releases only.
        self.notes = [n for n in (self.version_note, *(table.releases.mode_note(m, options.table_version)
                                                        for m in options.modes)) if n]
        if table.recovered:
            self.notes.append(f"completed a record run's commit that was interrupted: {', '.join(table.recovered)}")
        self.context = context or RunContext()
        self.results: dict[str, ProbeResult] = {}
        self.stale: list[StaleRow] = []
        self.deselected = 0
        self.partial = False
        self.partial_reason: str | None = None
        self.problems: list[str] = []
        #: How the run ended, once ``finish`` has decided it.
        self.outcome: RunOutcome | None = None
        self._modules: dict[str, Path | None] = {}
        #: The probes the run collected (node ids): one that never reports is ``not-run`` at the end.
        self.expected: set[str] = set()
        #: What importing probe modules changed of torch's state (put back), one line a module.
        self.import_leaks: set[str] = set()
        #: Whether the table has a recording of a device for this release (``recorded``, asked once per device).
        self._recorded: dict[str, bool] = {}
        #: What the run has that the table has no recording of: devices probes were collected for (in the order
        #: met), and ``compile under <backend>`` (said at start).
        self.unrecorded: list[str] = []
        backend_note = (table.releases.backend_note(options.compile_backend, options.table_version)
                        if modes.COMPILE in options.modes else None)
        #: Compile mode runs under a backend the table has no recording of: its differences are ``unrecorded``.
        self.backend_unrecorded = backend_note is not None
        if backend_note:
            self.notes.append(backend_note)
            self.unrecorded.append(f"compile under {options.compile_backend}")
        #: Device availability reported by xdist workers (see ``available``).
        self.availability: dict[str, bool] = {}
        self.stream: Stream | NullStream | None = None
        self.started = _dt.datetime.now(_dt.timezone.utc)
        self._t0 = time.perf_counter()

    @classmethod
    def from_config(cls, config: Any, context: RunContext | None = None) -> "ConformanceSession":
        """Parse the options and load the table; raises SessionError with one line on bad input."""
        try:
            options = RunOptions.from_config(config, devices.torch_build()[0])
            check_torch_version(options.table_version)
            check_record_target(options)
            table = Table.load(options.table_dirs, options.table_version, options.root)
        except TableError as exc:
            raise SessionError(str(exc)) from None
        except ConformanceError as exc:  # an option, a version, a record target: the invocation is wrong
            raise SessionError(str(exc), usage=True) from None
        return cls(options, table, context)

    # --- during the run ----------------------------------------------------------------------------------

    def module_path(self, file: str) -> Path | None:
        """The probe module a node id's or a result's file names, wherever pytest was started from (asked once
        per file)."""
        if file not in self._modules:
            suites = self.options.suites
            bases = (self.options.root, *(s.directory for s in suites), *(s.directory.parent for s in suites))
            self._modules[file] = suite_module(file, bases, list(suites))
        return self._modules[file]

    def owns(self, nodeid: str) -> bool:
        """Whether a node id is a test in a probe suite (for results of workers that died)."""
        return self.module_path(nodeid.partition("::")[0]) is not None

    def expect(self, nodeids: Iterable[str]) -> list[str]:
        """The probes the run collected: each gets a verdict at the end, ``not-run`` if it never reported. Every
        one must resolve against the table before any runs: equally specific rows that disagree about one of
        them are a broken table (SessionError: exit 4), not a probe error found halfway through. Returns the
        notes this collection adds (a device the table has not recorded, said once)."""
        said: list[str] = []
        new = {plain_nodeid(n) for n in nodeids} - self.expected
        self.expected |= new
        for nodeid in sorted(new):
            probe = ProbeResult.unreported(nodeid, NOT_RUN, "")
            try:
                self.resolve(probe)
            except TableError as exc:
                raise SessionError(f"{exc} (found resolving the collected probe {probe.id})") from None
            if not self.recorded(probe.table_device) and probe.table_device not in self.unrecorded:
                self.unrecorded.append(probe.table_device)
                note = self.table.releases.device_note(probe.table_device, self.options.table_version)
                self.notes.append(note)
                said.append(note)
        return said

    def resolve(self, probe: ProbeResult) -> Resolved | None:
        """What the table expects of a probe on this run's release, device and mode (compile mode under the
        run's backend)."""
        return self.table.resolve(probe.id, probe.table_device, self.options.table_version, probe.mode,
                                  self.options.compile_backend)

    def recorded(self, device: str) -> bool:
        """Whether the table has a recording of ``device`` for this run's release (asked once per device)."""
        if device not in self._recorded:
            self._recorded[device] = self.table.releases.device_recorded_on(device, self.options.table_version)
        return self._recorded[device]

    def probe_starting(self, nodeid: str) -> None:
        """Mark in the stream that a probe starts, so a process that dies in it leaves its name."""
        self._streamed(lambda stream: stream.write("start", nodeid=nodeid))

    def settle(self, result: ProbeResult, raised: BaseException | None) -> str | None:
        """Turn how a probe's call ended into its verdict: judged against the table when it ran to the end,
        else skipped, timed out or broken (with the exception's text). Returns the failure text when a probe
        that ran to the end fails the run, else None."""
        if raised is None:
            return self._judge(result)
        if isinstance(raised, (pytest.skip.Exception, pytest.xfail.Exception)):
            result.verdict, result.message, result.observation = SKIPPED, str(raised), {}
        elif isinstance(raised, pytest.fail.Exception) and str(raised).startswith("Timeout"):
            self.timed_out(result)  # pytest-timeout's signal method fails the probe with this text
        elif isinstance(raised, SystemExit):  # a probe that tries to end its process (observe stops os._exit too)
            result.verdict = CRASHED
            result.message = (str(raised.code) if isinstance(raised.code, str) and raised.code.startswith("the probe")
                              else f"the probe tried to end its process (SystemExit {raised.code!r})")
        else:
            self.broke(result, "probe error" if isinstance(raised, ProbeError) else type(raised).__name__,
                       str(raised))
        return None

    def _judge(self, result: ProbeResult) -> str | None:
        """Judge a probe that ran to the end: fill in expectation, mismatches and verdict; return the failure
        text when the probe fails the run, else None."""
        try:
            resolved = self.resolve(result)
        except TableError as exc:
            result.verdict, result.message = ERROR, str(exc)
            return f"{result.id}: {exc}"
        verdict = judge(result.observation, resolved)
        if not self.recorded(result.table_device) or (result.mode == modes.COMPILE and self.backend_unrecorded):
            verdict = verdict.on_unrecorded()
        result.verdict, result.mismatches = verdict.status, verdict.mismatches
        result.expectation = Expectation.of(resolved)
        if self.options.record or not verdict.fails(self.options.gate, self.options.allow_missing):
            return None
        return explain(result.id, verdict, result.observation)

    def leaked(self, result: ProbeResult, leak: StateLeak) -> None:
        """The probe left torch's process-wide state changed (it was put back): verdict ``leaked``, whatever
        its facts said, with what it left."""
        result.verdict = LEAKED
        result.message = f"probe leak: {leak}" + (f" (and before that: {result.message})" if result.message else "")

    def timed_out(self, result: ProbeResult) -> None:
        result.verdict = TIMEOUT
        result.message = (f"the probe ran longer than its time limit ({self.options.timeout:g} s by --ac-timeout, "
                          f"unless the probe sets its own)")

    def broke(self, result: ProbeResult, kind: str, text: str) -> None:
        result.verdict = ERROR
        result.message = f"{kind}: {normalize_message(text)}"

    def add(self, result: ProbeResult) -> None:
        """A finished probe's result (from this process or an xdist worker)."""
        self.results[result.nodeid] = result
        self._streamed(lambda stream: stream.write_result(result))

    def _streamed(self, write: Callable[[Stream | NullStream], None]) -> None:
        """Write to the result stream; a stream that cannot be written (a full disk) is given up with one
        problem line, and the run goes on (its report says the rest)."""
        try:
            write(self._stream())
        except OSError as exc:
            self.problems.append(f"cannot stream results to {self.stream.path if self.stream else '?'}: "
                                 f"{exc.strerror or exc}; the stream stops here")
            if self.stream is not None:
                self.stream.close(remove=False)
            self.stream = NullStream()

    def worker_crashed(self, nodeid: str, text: str) -> None:
        if self.owns(nodeid):
            self.add(ProbeResult.unreported(nodeid, CRASHED, normalize_message(text)))

    def _stream(self) -> Stream | NullStream:
        if self.stream is None:
            try:
                self.stream = Stream(self.options.report_dir, self.options.run_name)
            except OSError as exc:
                self.problems.append(f"cannot stream results to {self.options.report_dir}: {exc.strerror or exc}")
                self.stream = NullStream()
            self.stream.write("run", run_info=self.run_info(with_devices=False).to_json())
        return self.stream

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close(remove=False)

    # --- the end of the run ------------------------------------------------------------------------------

    @functools.cached_property
    def git_revision(self) -> str | None:
        """The suite checkout's commit, asked of git once (the stream header and the report both carry it)."""
        try:
            out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=self.options.root, capture_output=True,
                                 text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() or None if out.returncode == 0 else None

    def run_info(self, with_devices: bool = True) -> RunInfo:
        """The run info; ``with_devices=False`` leaves the devices out (the stream's header is written at the first
        result, and asking torch about devices then would import torch in an xdist controller mid-run)."""
        o = self.options
        return RunInfo(
            run_name=self.report_name, torch_version=o.torch_version,
            torch_git_version=devices.torch_build()[1], table_torch_version=self.table_version,
            table_note="; ".join(self.notes) or None,
            devices=self.device_info() if with_devices else {},
            python=platform.python_version(), platform=platform.platform(),
            pytest_args=list(self.context.pytest_args), hypothesis={"profile": o.hypothesis_profile},
            table_hash=self.table.digest, table_dir=os.path.relpath(o.record_dir, o.root),
            table_dirs=[os.path.relpath(d, o.root) for d in o.table_dirs],
            harness_version=__version__, run_kind=o.run_kind,
            modes=list(o.modes), compile_backend=o.backend_in_use, gate=o.gate,
            compile_cache=str(o.compile_cache) if o.compile_cache else None,
            partial=self.partial, partial_reason=self.partial_reason,
            started=self.started.isoformat(timespec="seconds"),
            finished=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            duration=round(time.perf_counter() - self._t0, 3), workers=self.context.workers,
            numpy=_installed_version("numpy"), git_revision=self.git_revision,
            import_leaks=sorted(self.import_leaks))

    def available(self, name: str) -> bool:
        """Whether this machine has a device: as the xdist workers found (an xdist controller never imports
        torch), else asked of torch."""
        if name in self.availability:
            return self.availability[name]
        return devices.available(name)

    @functools.cached_property
    def devices(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(devices probes were generated for, devices left out), decided at the end of the run."""
        return select_devices(self.options.requested_devices, self.available)

    def device_info(self) -> dict[str, dict[str, Any]]:
        """Per known device: available here, generated in this run, probes run on it, and for a device left
        out, how many probes it would have added."""
        per_device: dict[str, int] = {}
        for result in self.results.values():
            if result.device is not None:
                per_device[result.device] = per_device.get(result.device, 0) + 1
        each = max(per_device.values(), default=0)
        info = {}
        for name in devices.DEVICES:
            generated = name in self.devices[0]
            entry: dict[str, Any] = {"available": self.available(name), "generated": generated,
                                     "probes": per_device.get(name, 0), "recorded": self.recorded(name)}
            if not generated:
                entry["not_generated"] = each
            info[name] = entry
        return info

    def finish(self, status: int, interrupted: bool, stopped_early: bool) -> RunOutcome:
        """End the run given pytest's exit status: decide staleness, apply record mode, write the report;
        returns how the run ended (also kept as ``outcome``), its exit status included."""
        if not self.results:
            if self.stream is not None:
                self.stream.close(remove=True)
            return self._ended(status)
        if interrupted:
            if self.stream is not None:
                self.stream.write("interrupted")
                self.stream.close(remove=False)
            return self._ended(status, interrupted=True)
        o = self.options
        for nodeid in sorted(self.expected - set(self.results)):
            self.add(ProbeResult.unreported(nodeid, NOT_RUN, "collected but never ran (its worker died before it, "
                                                             "or the run stopped)"))
        self.partial_reason = o.narrowed_by or (
            f"{self.deselected} tests deselected" if self.deselected else None) or (
            "stopped early (-x or --maxfail)" if stopped_early else None)
        self.partial = self.partial_reason is not None
        if not self.partial:
            self.stale = self._stale_rows()
        ran = sum(1 for r in self.results.values() if r.verdict != SKIPPED)
        candidates = []
        if self.stale and not o.record and self.version_note is None:
            candidates.append(EXIT_TABLE)  # on a release the table does not describe, they are only reported
        for leak in sorted(self.import_leaks):
            self.problems.append(f"probe module leak: {leak} (put back before any probe ran)")
        if self.import_leaks:
            candidates.append(EXIT_DIFFERENT)
        if ran < o.min_probes:
            self.problems.append(f"only {ran} probes ran, fewer than the {o.min_probes} required (--ac-min-probes)")
            candidates.append(EXIT_TOO_FEW)
        recorded = self._record() if o.record else None
        if o.record and recorded is None:
            candidates.append(EXIT_HARNESS)
        elif recorded is not None and (recorded.kept_different or recorded.unexplained):
            candidates.append(EXIT_DIFFERENT)
        report_path, html_path, written = self._write_report()
        if not written:
            candidates.append(EXIT_HARNESS)
        if candidates:
            status = min([*candidates, *([status] if status in PRECEDENCE else [])], key=PRECEDENCE.index)
        generated, absent = self.devices
        return self._ended(status, record=recorded, report_path=report_path, html_path=html_path,
                           generated=generated, absent=absent)

    def _record(self) -> RecordSummary | None:
        """Record the run into the top table layer, one record run at a time (a lock on the table directory;
        the table read afresh under it, so a concurrent run's rows are kept), every file or none; None, with
        the problem said, when nothing was written."""
        o = self.options
        try:
            o.record_dir.mkdir(parents=True, exist_ok=True)
            with DirectoryLock(o.record_dir):
                table = Table.load(o.table_dirs, o.table_version, o.root)
                recorder = Recorder.open(o.record_dir, o.record, o.table_version, o.record_note, o.compile_backend)
                whole = None if self.partial else str(torch_release(self.table_version))
                recorded = recorder.record(table, list(self.results.values()), release=whole)
                recorder.write(o.record_dir)
        except (ValueError, ConformanceError, OSError) as exc:  # the files are committed together, last
            self.problems.append(f"record mode wrote nothing: {exc}")
            return None
        return recorded

    def _ended(self, status: int, interrupted: bool = False, record: RecordSummary | None = None,
               report_path: Path | None = None, html_path: Path | None = None, generated: tuple[str, ...] = (),
               absent: tuple[str, ...] = ()) -> RunOutcome:
        o = self.options
        self.outcome = RunOutcome(
            status=status, results=tuple(self.results.values()), torch_version=o.torch_version,
            notes=tuple(self.notes), stale=tuple(self.stale),
            stale_reported_only=self.version_note is not None, problems=tuple(self.problems),
            interrupted=interrupted, partial=self.partial, gap=self.gap,
            report_path=report_path, html_path=html_path,
            baseline_path=o.report_path, stream_path=self.stream.path if self.stream is not None else None,
            record_policy=o.record, record=record, record_dir=o.record_dir if o.record else None, gate=o.gate,
            generated=generated, absent=absent, unrecorded=tuple(self.unrecorded), modes=o.modes,
            compile_backend=o.backend_in_use, compile_cache=o.compile_cache)
        return self.outcome

    @property
    def gap(self) -> BaselineGap | None:
        """Why this run's report cannot stand for a full baseline (a recording run, a partial run, a run in
        which probes crashed), or None; see ``report.baseline_gap``."""
        return baseline_gap(self.options.run_kind, self.partial, self.partial_reason,
                            sum(1 for r in self.results.values() if r.verdict == CRASHED))

    @property
    def report_name(self) -> str:
        """The report's file stem: the run name, tagged when the run cannot stand for a full baseline, so it
        never replaces one."""
        gap = self.gap
        return self.options.run_name + (f".{gap.tag}" if gap else "")

    def _stale_rows(self) -> list[StaleRow]:
        """Rows that matched no probe, among those whose probes all ran: rows of a family that ran, and every
        row of a suite the run's arguments covered whole."""
        ids = {without_mode(r.id, r.mode) for r in self.results.values()}  # the table's keys name eager ids
        families = {r.family for r in self.results.values()}
        covered_layers = {i for i, s in enumerate(self.options.suites) if s.directory in self.options.covered}

        def checked(entry: Entry) -> bool:
            return entry.key.split("/", 1)[0] in families or entry.layer in covered_layers

        return [StaleRow(e.file, e.key) for e in self.table.stale_keys(ids, self.options.table_version, checked)]

    def _sources(self) -> dict[str, dict[str, str]]:
        """Each family's probe module source (harness imports inlined), stored once for repro snippets."""
        sources: dict[str, dict[str, str]] = {}
        for result in self.results.values():
            if result.family in sources or result.location is None:
                continue
            path = self.module_path(result.location.file)
            if path is None:
                continue
            try:
                sources[result.family] = {"file": result.location.file, "text": module_source(path)}
            except OSError:
                continue
        return sources

    def _write_report(self) -> tuple[Path | None, Path | None, bool]:
        """Write the JSON report, then its page: (the report written, the page written, whether both were)."""
        for result in self.results.values():
            if result.verdict != SKIPPED:
                result.timeline = [c.timeline_json() for c in timeline(self.table, result.id, result.table_device,
                                                                         result.mode)]
        report = Report(self.run_info(), list(self.results.values()), self.stale, self._sources())
        path = self.options.report_dir / f"{self.report_name}.json"
        written: Path | None = None
        page = path.with_suffix(".html")
        try:
            text = report_mod.dumps(report, str(path))
            html = None
            if self.options.html:
                from .html import render_report

                html = render_report(report)
            remove_stale_temporaries(self.options.report_dir)
            # the page goes with the report it shows: no reader sees a new report beside an old page
            replace_pair(path, text, page, html)
            written = path
            if self.stream is not None:
                self.stream.close(remove=True)
        except (OSError, report_mod.ReportError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            self.problems.append(f"cannot write report {path}: {why}")
            return written, None, False
        return written, page if self.options.html else None, True
