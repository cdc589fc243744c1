"""The pytest plugin: options, configuration, the probe fixtures, and hooks that hand off to the session.

A probe is any test that asks for the ``obs`` fixture. The work of a run (judging, collecting results,
writing the report, the exit status, the summary lines) is done by ``session.ConformanceSession``. Each
probe's result travels back to the controller in ``report.user_properties`` (pytest-xdist forwards those), so
the report and record mode work the same with ``-n 0`` and ``-n N``; only the controller writes files.
"""

from __future__ import annotations

import json
import signal
import threading
from typing import Any

import pytest

from . import devices, items
from .facts import GATES
from .invariants import activate, active_profile, register_profiles
from .observe import Observation, ProbeError, probe_context
from .record import MODES as RECORD_MODES, NEW
from .result import ProbeResult
from .session import ConformanceSession, RunContext, SessionError
from .verdict import ERROR, SKIPPED

PROP = "autograd_conformance"
_SESSION = pytest.StashKey[ConformanceSession]()
_OBS = pytest.StashKey[Observation]()
_RESULT = pytest.StashKey[ProbeResult]()


class ConformanceFailure(AssertionError):
    """A probe's observation differs from the table (its text is the fact diff)."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("autograd-conformance", "autograd-conformance: probes, expectations table, reports")
    group.addoption("--ac-record", nargs="?", const=NEW, default=None, choices=RECORD_MODES, dest="ac_record",
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
    group.addoption("--ac-gate", choices=GATES, dest="ac_gate", default=None,
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


def _context(config: pytest.Config) -> RunContext:
    dist = getattr(config.option, "dist", "no") != "no"
    return RunContext(
        pytest_args=list(config.invocation_params.args),
        workers=len(getattr(config.option, "tx", None) or []) if dist else 0,
        hypothesis={"profile": active_profile(), "seed": config.getoption("hypothesis_seed", None)})


class _Hooks:
    """The hooks pytest calls without the config, handed to the session (registered as a plugin object)."""

    def __init__(self, session: ConformanceSession, config: pytest.Config) -> None:
        self.session, self.config = session, config
        self.previous_sigterm: Any = None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if _is_worker(self.config):
            return
        for name, payload in report.user_properties:
            if name == PROP:
                self.session.add(ProbeResult.from_json(json.loads(payload)))
        if report.when == "???":  # pytest-xdist: the worker died while running this test
            self.session.worker_crashed(report.nodeid, str(report.longrepr))

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        self.session.deselected += len(items)


def pytest_configure(config: pytest.Config) -> None:
    from hypothesis import settings

    profile = config.getoption("hypothesis_profile", None) or "ci"
    settings.load_profile(profile)
    activate(profile)
    try:
        session = ConformanceSession.from_config(config, _context(config))
    except SessionError as exc:
        raise pytest.UsageError(f"autograd-conformance: {exc}") from None
    config.stash[_SESSION] = session
    hooks = _Hooks(session, config)
    config.pluginmanager.register(hooks, "autograd-conformance-session")
    if not _is_worker(config) and threading.current_thread() is threading.main_thread():
        hooks.previous_sigterm = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)


def _sigterm_as_interrupt(signum: int, frame: Any) -> None:
    """SIGTERM stops the run like Ctrl-C: the last complete report is left as it was, the stream says why."""
    raise KeyboardInterrupt("SIGTERM")


def pytest_unconfigure(config: pytest.Config) -> None:
    hooks = config.pluginmanager.get_plugin("autograd-conformance-session")
    if hooks is not None and hooks.previous_sigterm is not None:
        signal.signal(signal.SIGTERM, hooks.previous_sigterm)
    session = config.stash.get(_SESSION, None)
    if session is not None:
        session.close()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Give every probe pytest-timeout's signal-method limit unless it sets its own."""
    timeout = config.stash[_SESSION].options.timeout
    if not timeout or not config.pluginmanager.hasplugin("timeout"):
        return
    for item in items:
        if _probe(item) and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(timeout, method="signal"))


def _probe(item: pytest.Item) -> bool:
    return items.is_probe(item)


# --- fixtures -----------------------------------------------------------------------------------------------

@pytest.fixture(params=devices.DEVICES)
def device(request: pytest.FixtureRequest) -> str:
    """The device a probe runs on: cpu always, cuda/mps where this machine has them (skipped otherwise)."""
    if not devices.available(request.param):
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

@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if _probe(item) and not _is_worker(item.config):
        item.config.stash[_SESSION].probe_starting(item.nodeid)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    if not _probe(item):
        return (yield)
    session = item.config.stash[_SESSION]
    observation = item.stash.get(_OBS, None)
    try:
        outcome = yield
    except (pytest.skip.Exception, pytest.xfail.Exception) as exc:
        item.stash[_RESULT] = items.result_of(item, SKIPPED, message=str(exc))
        raise
    except BaseException as exc:
        result = item.stash[_RESULT] = items.result_of(item, ERROR, observation.facts if observation else None)
        if isinstance(exc, pytest.fail.Exception) and str(exc).startswith("Timeout"):
            session.timed_out(result)
        else:
            session.broke(result, "probe error" if isinstance(exc, ProbeError) else type(exc).__name__, str(exc))
        raise
    result = item.stash[_RESULT] = items.result_of(item, ERROR, observation.facts)
    failure = session.conclude(result)
    if failure is not None:
        raise ConformanceFailure(failure)
    return outcome


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    rep = yield
    if not _probe(item):
        return rep
    res = None
    if call.when == "call":
        res = item.stash.get(_RESULT, None) or items.result_of(item, ERROR, message=str(rep.longrepr))
        if call.excinfo is not None and call.excinfo.errisinstance(ConformanceFailure):
            rep.longrepr = str(call.excinfo.value)
        res.duration = round(call.duration, 6)
    elif call.when == "setup" and rep.outcome != "passed":
        if rep.skipped:
            reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
            res = items.result_of(item, SKIPPED, message=reason.removeprefix("Skipped: "))
        else:
            res = items.result_of(item, ERROR,
                                  message=f"set-up failed: {rep.longreprtext.strip().splitlines()[-1]}")
    if res is not None:
        rep.user_properties = [*rep.user_properties, (PROP, json.dumps(res.to_json()))]
    return rep


# --- end of session -----------------------------------------------------------------------------------------

def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _is_worker(session.config):
        return
    status = session.config.stash[_SESSION].finish(
        interrupted=exitstatus == pytest.ExitCode.INTERRUPTED,
        stopped_early=bool(session.shouldstop or session.shouldfail))
    if status is not None:
        session.exitstatus = status


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    session = config.stash.get(_SESSION, None)
    if session is None or _is_worker(config) or not session.results:
        return
    terminalreporter.section("autograd-conformance")
    for line in session.summary_lines():
        terminalreporter.write_line(line)
