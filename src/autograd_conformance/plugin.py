"""The pytest plugin: runs probes, compares each observation with the table, records and reports.

A probe is any test that asks for the ``obs`` fixture. Each probe's result travels back to the controller in
``report.user_properties`` (pytest-xdist forwards those), so the report and record mode work the same with
``-n 0`` and ``-n N``; only the controller writes files.
"""

from __future__ import annotations

import datetime as _dt
import functools
import inspect
import threading
import json
import os
import platform
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from . import __version__
from . import report as report_mod
from .expectations import DEVICES, Table, TableError, check_torch_version
from .ids import probe_id, record_key
from .invariants import activate, active_profile, register_profiles
from .normalize import normalize_message
from .observe import Observation, ProbeError, probe_context
from .record import ALL, NEW, RecordSummary, load_docs, record_observation, write_atomic, write_docs
from .repro import call_line, module_source
from .stream import Stream, crashed_result
from .verdict import CRASHED, DRIFT, ERROR, FAILING, MISSING, PASS, SKIPPED, TIMEOUT, explain, judge, show

PROP = "autograd_conformance"
# Exit statuses CI can tell apart (pytest's own where they fit), in order of precedence:
EXIT_HARNESS = pytest.ExitCode.INTERNAL_ERROR  # 3: the harness broke (e.g. the report could not be written)
EXIT_TABLE = pytest.ExitCode.USAGE_ERROR  # 4: the table is broken (malformed or conflicting at start, stale rows)
EXIT_TOO_FEW = pytest.ExitCode.NO_TESTS_COLLECTED  # 5: fewer probes ran than --ac-min-probes
# 1 (pytest's TESTS_FAILED): autograd behaves differently from the table (mismatch, drift, missing, probe error).
_STATE = pytest.StashKey["State"]()
_OBS = pytest.StashKey[Observation]()
_RESULT = pytest.StashKey[dict]()
_RUN_NAME = re.compile(r"^[\w.+-]+$")


class ConformanceFailure(AssertionError):
    """A probe's observation differs from the table (its text is the fact diff)."""


class NullStream:
    """Stands in for the result stream when it cannot be opened (the report write will say why)."""

    path = None

    def write(self, event: str, **fields: Any) -> None:
        pass

    def close(self, remove: bool) -> None:
        pass


class State:
    """Per-session plugin state, kept in ``config.stash``."""

    def __init__(self, config: pytest.Config) -> None:
        import torch

        self.config = config
        self.root = Path(config.rootpath)
        self.torch_version: str = torch.__version__
        self.table_version: str = config.getoption("ac_torch_version") or self.torch_version
        self.table_dir = self._path(config.getoption("ac_expectations") or config.getini("ac_expectations"))
        self.report_dir = self._path(config.getoption("ac_report_dir") or config.getini("ac_report_dir"))
        self.run_name: str = config.getoption("ac_run_name") or f"torch-{self.torch_version}"
        self.record: str | None = config.getoption("ac_record")
        self.allow_missing: bool = config.getoption("ac_allow_missing")
        self.html: bool = not config.getoption("ac_no_html")
        self.gate: str = config.getoption("ac_gate") or config.getini("ac_gate")
        if self.gate not in ("all", "semantic"):
            raise pytest.UsageError(f"ac_gate = {self.gate!r}: use 'all' or 'semantic'")
        min_probes = config.getoption("ac_min_probes")
        try:
            self.min_probes = int(config.getini("ac_min_probes")) if min_probes is None else min_probes
        except ValueError:
            raise pytest.UsageError(f"ac_min_probes = {config.getini('ac_min_probes')!r} is not a number") from None
        self.results: dict[str, dict[str, Any]] = {}
        self.stale: list[dict[str, str]] = []
        self.report_path: Path | None = None
        self.record_summary: RecordSummary | None = None
        self.timeout = config.getoption("ac_timeout")
        if self.timeout is None:
            try:
                self.timeout = float(config.getini("ac_timeout"))
            except ValueError:
                raise pytest.UsageError(f"ac_timeout = {config.getini('ac_timeout')!r} is not a number") from None
        self.stream: Stream | None = None
        self.session: pytest.Session | None = None
        self.suites_dir = self.table_dir.parent
        self.started = _dt.datetime.now(_dt.timezone.utc)
        self.t0 = time.perf_counter()
        self.partial = False
        self.deselected = 0
        if not _RUN_NAME.match(self.run_name):
            raise pytest.UsageError(f"--ac-run-name {self.run_name!r}: use letters, digits, '.', '_', '+', '-'")
        try:
            check_torch_version(self.table_version)
            self.table = Table.load(self.table_dir, self.table_version, self.root)
        except (TableError, ValueError) as exc:
            raise pytest.UsageError(f"autograd-conformance: {exc}") from None

    # Hooks that pytest calls without the config: the State registers itself as a plugin object.
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if _is_worker(self.config):
            return
        for name, payload in report.user_properties:
            if name == PROP:
                self._add(json.loads(payload))
        if report.when == "???" and self._in_suites(report.nodeid):  # pytest-xdist: the worker died
            self._add(crashed_result(report.nodeid, CRASHED, normalize_message(str(report.longrepr))))

    def _in_suites(self, nodeid: str) -> bool:
        path = (self.root / nodeid.partition("::")[0]).resolve()
        return self.suites_dir.resolve() in path.parents

    def _add(self, res: dict[str, Any]) -> None:
        self.results[res["nodeid"]] = res
        self._stream().write("result", probe={k: v for k, v in res.items() if not k.startswith("_")})

    def _stream(self) -> Stream | NullStream:
        if self.stream is None:
            try:
                self.stream = Stream(self.report_dir, self.run_name)
            except OSError as exc:
                sys.stderr.write(f"autograd-conformance: cannot stream results to {self.report_dir}: {exc}\n")
                self.stream = NullStream()
            self.stream.write("run", run_info=_run_info(self.session, self))
        return self.stream

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        self.deselected += len(items)

    @functools.cached_property
    def git_revision(self) -> str | None:
        """Asked of git once: both the stream header and the final report carry it."""
        return _git_revision(self.root)

    def _path(self, value: str) -> Path:
        path = Path(value)
        return path if path.is_absolute() else self.root / path


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("autograd-conformance", "autograd-conformance: probes, expectations table, reports")
    group.addoption("--ac-record", nargs="?", const=NEW, default=None, choices=(NEW, ALL), dest="ac_record",
                    help="write observations into the table instead of failing: 'new' (default) adds rows and "
                         "facts the table lacks and never changes an existing fact; 'all' also rewrites facts "
                         "that differ")
    group.addoption("--ac-expectations", dest="ac_expectations", metavar="DIR",
                    help="the expectations table directory (ini: ac_expectations)")
    group.addoption("--ac-report-dir", dest="ac_report_dir", metavar="DIR",
                    help="where <run-name>.json is written (ini: ac_report_dir)")
    group.addoption("--ac-run-name", dest="ac_run_name", metavar="NAME",
                    help="report file name without extension (default: torch-<torch version>)")
    group.addoption("--ac-torch-version", dest="ac_torch_version", metavar="VERSION",
                    help="resolve the table as if this torch version were installed (default: the installed one)")
    group.addoption("--ac-no-html", action="store_true", dest="ac_no_html",
                    help="write only the JSON report, not <run-name>.html beside it")
    group.addoption("--ac-gate", choices=("all", "semantic"), dest="ac_gate", default=None,
                    help="what fails a probe: 'all' differences (default) or only 'semantic' ones, while text "
                         "drift (messages, warnings) is still reported (ini: ac_gate)")
    group.addoption("--ac-min-probes", type=int, dest="ac_min_probes", default=None, metavar="N",
                    help="exit 5 when fewer than N probes ran (guards CI against a half-collected run; "
                         "ini: ac_min_probes)")
    group.addoption("--ac-timeout", type=float, dest="ac_timeout", default=None, metavar="SECONDS",
                    help="per-probe time limit; a probe that runs longer gets verdict 'timeout' "
                         "(default 60, 0 disables; ini: ac_timeout)")
    group.addoption("--ac-allow-missing", action="store_true", dest="ac_allow_missing",
                    help="report probes without a table row as 'missing' without failing them")
    parser.addini("ac_expectations", "the expectations table directory", default="suites/expectations")
    parser.addini("ac_report_dir", "where reports are written", default="reports")
    parser.addini("ac_gate", "what fails a probe: all differences or only semantic ones", default="all")
    parser.addini("ac_min_probes", "exit 5 when fewer probes ran", default="0")
    parser.addini("ac_timeout", "per-probe time limit in seconds (0 disables)", default="60")


register_profiles()  # before hypothesis' own pytest_configure loads --hypothesis-profile


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_configure(config: pytest.Config) -> None:
    from hypothesis import settings

    profile = config.getoption("hypothesis_profile", None) or "ci"
    settings.load_profile(profile)
    activate(profile)
    state = State(config)
    config.stash[_STATE] = state
    config.pluginmanager.register(state, "autograd-conformance-state")
    if not _is_worker(config) and threading.current_thread() is threading.main_thread():
        state.previous_sigterm = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)


def _sigterm_as_interrupt(signum: int, frame: Any) -> None:
    """SIGTERM stops the run like Ctrl-C: the last complete report is left as it was, the stream says why."""
    raise KeyboardInterrupt("SIGTERM")


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(_STATE, None)
    if state is not None and getattr(state, "previous_sigterm", None) is not None:
        signal.signal(signal.SIGTERM, state.previous_sigterm)
    if state is not None and state.stream is not None:
        state.stream.close(remove=False)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Give every probe pytest-timeout's signal-method limit unless it sets its own."""
    state: State = config.stash[_STATE]
    if not state.timeout or not config.pluginmanager.hasplugin("timeout"):
        return
    for item in items:
        if _is_probe(item) and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(state.timeout, method="signal"))


# --- probe identity -----------------------------------------------------------------------------------------

def _device_of(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("device") if callspec is not None else None


@functools.lru_cache(maxsize=None)
def _end_line(func: Any) -> int | None:
    """The last source line of a probe function (parsed once per function, not once per parametrization)."""
    try:
        lines, start = inspect.getsourcelines(func)
    except (OSError, TypeError):
        return None
    return start + len(lines) - 1


def _json_param(value: Any) -> Any:
    """A parameter as a short, stable JSON value: scalars as they are, objects by their name, never a repr."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if type(value).__module__ == "torch" and type(value).__name__ == "dtype":
        return str(value)
    for attr in ("name", "id", "__name__"):
        named = getattr(value, attr, None)
        if isinstance(named, str):
            return named
    return f"<{type(value).__name__}>"


def _is_probe(item: pytest.Item) -> bool:
    return "obs" in getattr(item, "fixturenames", ())


# --- fixtures -----------------------------------------------------------------------------------------------

def _device_available(name: str) -> bool:
    import torch

    if name == "cpu":
        return True
    if name == "cuda":
        return torch.cuda.is_available()
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest) -> str:
    """The device a probe runs on: cpu always, cuda/mps where this machine has them (skipped otherwise)."""
    if not _device_available(request.param):
        pytest.skip(f"device {request.param} is not available on this machine")
    return request.param


@pytest.fixture
def obs(request: pytest.FixtureRequest):
    """The probe's Observation, inside an isolated probe context (seeded RNG, warnings always on)."""
    observation = Observation()
    request.node.stash[_OBS] = observation
    with probe_context():
        yield observation


# --- running a probe ----------------------------------------------------------------------------------------

def _result(item: pytest.Item, verdict: str, observation: dict[str, Any], resolved: Any = None,
            mismatches: list[Any] | None = None, message: str | None = None) -> dict[str, Any]:
    family, pid = probe_id(item.nodeid)
    device = _device_of(item)
    callspec = getattr(item, "callspec", None)
    file, line, _ = item.location
    func = getattr(item, "function", None)
    doc = (func.__doc__ or "").strip() or None if func is not None else None
    end_line = None
    repro = None
    if func is not None:
        end_line = _end_line(func)
        indices = dict(getattr(callspec, "indices", {}) or {}) if callspec else {}
        repro = call_line(func.__name__, device, indices)
    return {
        "id": pid, "family": family, "nodeid": item.nodeid, "device": device,
        "params": {k: _json_param(v) for k, v in sorted(callspec.params.items())} if callspec else {},
        "verdict": verdict, "observation": observation,
        "expectation": None if resolved is None else {
            "facts": resolved.facts, "sources": resolved.sources, "keys": resolved.keys},
        "mismatches": [m.to_json() for m in mismatches or []],
        "duration": 0.0, "location": {"file": file, "line": None if line is None else line + 1, "end_line": end_line},
        "doc": doc, "message": message, "repro": repro, "_record_key": record_key(pid, device),
    }


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Mark in the stream that a probe starts, so a process that dies in it leaves its name (-n 0)."""
    if _is_probe(item) and not _is_worker(item.config):
        item.config.stash[_STATE]._stream().write("start", nodeid=item.nodeid)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    if not _is_probe(item):
        return (yield)
    state: State = item.config.stash[_STATE]
    observation = item.stash.get(_OBS, None)
    try:
        result = yield
    except (pytest.skip.Exception, pytest.xfail.Exception) as exc:
        item.stash[_RESULT] = _result(item, SKIPPED, {}, message=str(exc))
        raise
    except BaseException as exc:
        facts = dict(observation.facts) if observation else {}
        if isinstance(exc, pytest.fail.Exception) and str(exc).startswith("Timeout"):
            item.stash[_RESULT] = _result(item, TIMEOUT, facts, message=f"the probe ran longer than "
                                                                         f"{state.timeout:g} s (--ac-timeout)")
            raise
        kind = "probe error" if isinstance(exc, ProbeError) else type(exc).__name__
        item.stash[_RESULT] = _result(item, ERROR, facts, message=f"{kind}: {normalize_message(str(exc))}")
        raise
    facts = dict(observation.facts)
    family, pid = probe_id(item.nodeid)
    try:
        resolved = state.table.resolve(pid, _device_of(item) or "cpu", state.table_version)
    except TableError as exc:
        item.stash[_RESULT] = _result(item, ERROR, facts, message=str(exc))
        raise ConformanceFailure(f"{pid}: {exc}") from None
    verdict = judge(facts, resolved)
    item.stash[_RESULT] = _result(item, verdict.status, facts, resolved, verdict.mismatches)
    if state.record or verdict.status == PASS or (verdict.status == MISSING and state.allow_missing) or (
            verdict.status == DRIFT and state.gate == "semantic"):
        return result
    raise ConformanceFailure(explain(pid, verdict, facts))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    rep = yield
    if not _is_probe(item):
        return rep
    res = None
    if call.when == "call":
        res = item.stash.get(_RESULT, None) or _result(item, ERROR, {}, message=str(rep.longrepr))
        if call.excinfo is not None and call.excinfo.errisinstance(ConformanceFailure):
            rep.longrepr = str(call.excinfo.value)
        res["duration"] = round(call.duration, 6)
    elif call.when == "setup" and rep.outcome != "passed":
        if rep.skipped:
            reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
            res = _result(item, SKIPPED, {}, message=reason.removeprefix("Skipped: "))
        else:
            res = _result(item, ERROR, {}, message=f"set-up failed: {rep.longreprtext.strip().splitlines()[-1]}")
    if res is not None:
        rep.user_properties = [*rep.user_properties, (PROP, json.dumps(res))]
    return rep


# --- end of session -----------------------------------------------------------------------------------------

def _is_partial(session: pytest.Session, state: State) -> bool:
    opt = session.config.option
    if state.deselected or getattr(opt, "keyword", "") or getattr(opt, "markexpr", ""):
        return True
    if getattr(opt, "lf", False) or getattr(opt, "deselect", None) or getattr(opt, "stepwise", False):
        return True
    if session.shouldstop or session.shouldfail:
        return True
    suites = state.table_dir.parent.resolve()
    invocation = Path(session.config.invocation_params.dir)
    for arg in session.config.args:
        if "::" in arg:
            return True
        path = (invocation / arg).resolve()
        if not (path == suites or path in suites.parents):
            return True
    return False


def _git_revision(root: Path) -> str | None:
    """The suite checkout's commit (State.git_revision asks once per session)."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _run_info(session: pytest.Session, state: State) -> dict[str, Any]:
    import torch

    config = session.config
    hypothesis_info = {"profile": active_profile(), "seed": config.getoption("hypothesis_seed", None)}
    numpy = sys.modules.get("numpy")
    mps = getattr(torch.backends, "mps", None)
    finished = _dt.datetime.now(_dt.timezone.utc)
    return {
        "run_name": state.run_name,
        "torch_version": state.torch_version,
        "torch_git_version": getattr(torch.version, "git_version", None),
        "table_torch_version": state.table_version,
        "cuda_available": torch.cuda.is_available(),
        "mps_available": bool(mps and mps.is_available()),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "pytest_args": list(config.invocation_params.args),
        "hypothesis": hypothesis_info,
        "table_hash": state.table.digest,
        "table_dir": os.path.relpath(state.table_dir, state.root),
        "harness_version": __version__,
        "mode": "compare" if not state.record else f"record-{state.record}",
        "partial": state.partial,
        "started": state.started.isoformat(timespec="seconds"),
        "finished": finished.isoformat(timespec="seconds"),
        "duration": round(time.perf_counter() - state.t0, 3),
        "workers": len(getattr(config.option, "tx", None) or []) if getattr(config.option, "dist", "no") != "no"
        else 0,
        "numpy": getattr(numpy, "__version__", None),
        "git_revision": state.git_revision,
    }


def _apply_records(state: State) -> RecordSummary:
    summary = RecordSummary()
    docs = load_docs(state.table_dir)
    for res in sorted(state.results.values(), key=lambda r: r["nodeid"]):
        if res["verdict"] in (SKIPPED, ERROR):
            continue
        resolved = state.table.resolve(res["id"], res["device"] or "cpu", state.table_version)
        record_observation(docs, res["family"], res["id"], res["_record_key"], res["observation"], resolved,
                           state.record, summary)
    write_docs(state.table_dir, docs, summary.files)
    return summary


def _sources(state: State, probes: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """Each family's probe module source (harness imports inlined), stored once for repro snippets."""
    sources = {}
    for probe in probes:
        family, file = probe["family"], probe["location"]["file"]
        if family in sources:
            continue
        try:
            sources[family] = {"file": file, "text": module_source(state.root / file)}
        except OSError:
            continue
    return sources


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_STATE].session = session


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    state: State = config.stash[_STATE]
    if _is_worker(config):
        return
    if not state.results:
        if state.stream is not None:
            state.stream.close(remove=True)
        return
    if exitstatus == pytest.ExitCode.INTERRUPTED:
        state.interrupted = True
        if state.stream is not None:
            state.stream.write("interrupted")
            state.stream.close(remove=False)
        return
    state.partial = _is_partial(session, state)
    if not state.partial:
        ids = {r["id"] for r in state.results.values()}
        state.stale = [{"file": e.file, "key": e.key} for e in state.table.stale_keys(ids, state.table_version)]
    ran = sum(1 for r in state.results.values() if r["verdict"] != SKIPPED)
    if state.stale and not state.record:
        session.exitstatus = EXIT_TABLE
    elif ran < state.min_probes:
        sys.stderr.write(f"autograd-conformance: only {ran} probes ran, fewer than the {state.min_probes} "
                         f"required (--ac-min-probes): the run is incomplete\n")
        session.exitstatus = EXIT_TOO_FEW
    if state.record:
        state.record_summary = _apply_records(state)
    probes = []
    for res in state.results.values():
        res = dict(res)
        res.pop("_record_key", None)
        probes.append(res)
    report = report_mod.build(_run_info(session, state), probes, state.stale, _sources(state, probes))
    path = state.report_dir / f"{state.run_name}.json"
    try:
        report_mod.write(path, report)
        state.report_path = path
        if state.html:
            from .html import render_report

            write_atomic(path.with_suffix(".html"), render_report(report))
        if state.stream is not None:
            state.stream.close(remove=True)
    except (OSError, report_mod.ReportError) as exc:
        sys.stderr.write(f"autograd-conformance: cannot write report {path}: {exc}\n")
        session.exitstatus = EXIT_HARNESS


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state: State | None = config.stash.get(_STATE, None)
    if state is None or _is_worker(config) or not state.results:
        return
    tr = terminalreporter
    if getattr(state, "interrupted", False):
        tr.section("autograd-conformance")
        where = os.path.relpath(state.stream.path) if state.stream and state.stream.path else "(no stream)"
        tr.write_line(f"interrupted: {len(state.results)} probe results kept in {where}; "
                      f"{os.path.relpath(state.report_dir / (state.run_name + '.json'))} was left as it was")
        return
    counts: dict[str, int] = {}
    for res in state.results.values():
        counts[res["verdict"]] = counts.get(res["verdict"], 0) + 1
    tr.section("autograd-conformance")
    parts = ", ".join(f"{counts[v]} {v}" for v in sorted(counts))
    tr.write_line(f"{len(state.results)} probes on torch {state.torch_version}: {parts}; "
                  f"{len(state.stale)} stale rows" + (" (partial run: staleness not checked)" if state.partial else ""))
    rows = []
    for res in sorted(state.results.values(), key=lambda r: r["id"]):
        if res["verdict"] == MISSING:
            rows.append((res["id"], "(no row)", "", "missing"))
        elif res["verdict"] == ERROR:
            rows.append((res["id"], "(probe error)", (res["message"] or "").splitlines()[0][:80], "error"))
        elif res["verdict"] in FAILING:
            for m in res["mismatches"]:
                rows.append((res["id"], m["fact"], f"{show(m['expected'])} → {show(m['observed'])}"[:100],
                             res["verdict"]))
    for stale in state.stale:
        rows.append((stale["key"], "(stale row)", f"matches no probe; in {stale['file']}", "stale"))
    if rows:
        width = min(max(len(r[0]) for r in rows), 60)
        fwidth = min(max(len(r[1]) for r in rows), 36)
        tr.write_line(f"{'probe':<{width}}  {'fact':<{fwidth}}  {'verdict':<8}  expected → observed")
        for pid, fact, detail, verdict in rows:
            tr.write_line(f"{pid:<{width}}  {fact:<{fwidth}}  {verdict:<8}  {detail}")
    if state.gate == "semantic" and counts.get(DRIFT):
        tr.write_line(f"gate: semantic — {counts[DRIFT]} probes drifted only in wording (reported, not failing)")
    if state.record_summary is not None:
        s = state.record_summary
        tr.write_line(f"recorded: {len(s.added_entries)} new rows, {s.added_facts} facts added, "
                      f"{s.changed_facts} facts changed in {', '.join(sorted(s.files)) or 'no file'}")
        if s.kept_different:
            tr.write_line(f"{len(s.kept_different)} facts differ from existing rows and were kept "
                          f"(use --ac-record=all to overwrite them), e.g. {s.kept_different[0][0]} "
                          f"{s.kept_different[0][1]}")
    if state.report_path is not None:
        tr.write_line(f"report: {os.path.relpath(state.report_path)}")

