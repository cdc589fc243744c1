"""The pytest plugin: options, configuration, and hooks that hand off to the session.

Registered through the ``pytest11`` entry point, it is inert in a project until a run collects probes: it
defines no fixture, loads no hypothesis profile, installs no signal handler and writes no report before
then. Probes are the tests of probe-suite modules (``suites.ProbeModule``) that ask for ``obs``; once
collected, a ``session.ConformanceSession`` is started and does the work (judging, results, report, exit
status, summary lines). Each probe's result travels back to the controller in ``report.user_properties``
(pytest-xdist forwards those), so the report and record mode work the same with ``-n 0`` and ``-n N``; only
the controller writes files.
"""

from __future__ import annotations

import functools
import gc
import json
import signal
import threading
from pathlib import Path
from typing import Any

import pytest

from . import devices, items, modes
from . import options
from .invariants import activate
from .options import OptionError, reaches, select_devices, select_modes, table_dirs
from .result import ProbeResult
from .session import ConformanceSession, RunContext, SessionError
from .summary import verdict_line
from .probes import MODE, OBSERVATION, ProbeModule, Suite, in_modes, suite_of, suites_for
from .verdict import ERROR, SKIPPED

PROP = "autograd_conformance"
_WORKER_OUTPUT = "autograd_conformance"
#: The attribute that carries a probe's result on its report when it ran in this process (no JSON round trip).
_LOCAL = "_autograd_conformance_result"
_PLUGIN = pytest.StashKey["Conformance"]()
_RESULT = pytest.StashKey[ProbeResult]()
MARKERS = ("ops: the op-wide fingerprint over torch's OpInfo database (deselect with -m 'not ops')",
           "numerics: numerical gradient checks over torch's OpInfo database (deselect with -m 'not numerics')",
           f"{modes.MARKER}(*names): the execution modes a probe module or function runs in (default: eager)",
           "compile: a probe run under torch.compile (--ac-modes=eager,compile; deselect with -m 'not compile')")


class ConformanceFailure(AssertionError):
    """A probe's observation differs from the table (its text is the fact diff)."""


def pytest_addoption(parser: pytest.Parser) -> None:
    options.register(parser)


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


class Conformance:
    """The plugin's per-run state: which suites hold probes, and the session once probes are collected."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.suites: list[Suite] = suites_for(table_dirs(config))
        self.session: ConformanceSession | None = None
        self.error: str | None = None
        self.previous_sigterm: Any = None
        self.pytest_session: pytest.Session | None = None
        self.group_ops = False

    def activate(self) -> ConformanceSession | None:
        """Start the session (once): parse the options, load the table. On the controller a bad option or
        table stops the run (exit 4); a worker keeps the error for its probes (the controller stops first)."""
        if self.session is not None or self.error is not None:
            return self.session
        dist = getattr(self.config.option, "dist", "no") != "no"
        context = RunContext(pytest_args=list(self.config.invocation_params.args),
                             workers=len(getattr(self.config.option, "tx", None) or []) if dist else 0)
        try:
            self.session = ConformanceSession.from_config(self.config, context)
        except SessionError as exc:
            self.error = f"autograd-conformance: {exc}"
            if not _is_worker(self.config):
                raise pytest.UsageError(self.error) from None
            return None
        activate(self.session.options.hypothesis_profile)
        if _is_worker(self.config):
            devices.share_cpu(int(self.config.workerinput.get("workercount", 1)))
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None and not _is_worker(self.config):
            for note in self.session.notes:
                reporter.write_line(f"autograd-conformance: {note}", yellow=True)
        # SIGTERM ends the run like Ctrl-C (the last complete report kept), unless the project handles
        # SIGTERM itself: a handler of its own is left as it is.
        if (not _is_worker(self.config) and threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None)):
            self.previous_sigterm = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
        return self.session

    @functools.cached_property
    def devices(self) -> tuple[str, ...]:
        """The devices probes are generated for (a bad --ac-devices is reported when the session starts)."""
        try:
            return select_devices(self.config.getoption("ac_devices"))[0]
        except OptionError:
            return (devices.REFERENCE,)

    @functools.cached_property
    def modes(self) -> tuple[str, ...]:
        """The execution modes probes are collected in (a bad --ac-modes is reported when the session starts)."""
        try:
            return select_modes(self.config)
        except OptionError:
            return (modes.REFERENCE,)

    def in_suite(self, path: Path) -> bool:
        return suite_of(path, self.suites) is not None

    # Hooks pytest calls without the config: this object is registered as a plugin.
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.session is None or _is_worker(self.config):
            return
        result = getattr(report, _LOCAL, None)  # in this process (-n 0): the object itself
        if result is not None:
            self.session.add(result)
        for name, payload in report.user_properties:
            if name == PROP:  # from an xdist worker
                self.session.add(ProbeResult.from_json(json.loads(payload)))
        if report.when == "???":  # pytest-xdist: the worker died while running this test
            self.session.worker_crashed(report.nodeid, str(report.longrepr))

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        if self.session is not None:
            self.session.deselected += len(items)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """An xdist worker finished: it says which devices this machine has (it asked torch)."""
        found = getattr(node, "workeroutput", {}).get(_WORKER_OUTPUT, {}).get("availability")
        if self.session is not None and found:
            self.session.availability.update(found)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        """The controller of an xdist run learns from a worker's collection whether probes will run."""
        if self.session is None and self.error is None and any(self._probe_nodeid(i) for i in ids):
            self.activate()

    def _probe_nodeid(self, nodeid: str) -> bool:
        file = nodeid.partition("::")[0]
        root, invocation = Path(self.config.rootpath), Path(self.config.invocation_params.dir)
        bases = [root, invocation, *(s.directory for s in self.suites)]
        return any(self.in_suite(base / file) and (base / file).is_file() for base in bases)


def pytest_configure(config: pytest.Config) -> None:
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)
    plugin = Conformance(config)
    config.stash[_PLUGIN] = plugin
    config.pluginmanager.register(plugin, "autograd-conformance")
    _group_the_ops_family(config, plugin)


def _group_the_ops_family(config: pytest.Config, plugin: "Conformance") -> None:
    """Under ``-n`` with xdist's default ``--dist load``, a run that reaches the bundled suite is scheduled so
    that the ops family goes to one worker as a whole: only that worker imports torch's OpInfo database
    (~1.3 s a process). Everything else is scheduled test by test, as with ``load``; an explicit ``--dist``
    is left as it is, and so is a run that does not reach the bundled suite."""
    bundled = next((s for s in plugin.suites if s.bundled), None)
    explicit = any(a == "--dist" or a.startswith("--dist=") for a in config.invocation_params.args)
    plugin.group_ops = (bundled is not None and not explicit and not _is_worker(config)
                        and getattr(config.option, "dist", "no") == "load" and reaches(config, bundled))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    plugin = config.stash.get(_PLUGIN, None)
    if plugin is None or not plugin.group_ops:
        return None
    from .schedule import OpsTogetherScheduling

    return OpsTogetherScheduling(config, log)


def _sigterm_as_interrupt(signum: int, frame: Any) -> None:
    """SIGTERM stops the run like Ctrl-C: the last complete report is left as it was, the stream says why."""
    raise KeyboardInterrupt("SIGTERM")


def pytest_unconfigure(config: pytest.Config) -> None:
    plugin = config.stash.get(_PLUGIN, None)
    if plugin is None:
        return
    _print_verdict(config, plugin)
    if plugin.previous_sigterm is not None:
        signal.signal(signal.SIGTERM, plugin.previous_sigterm)
    if plugin.session is not None:
        plugin.session.close()


def _print_verdict(config: pytest.Config, plugin: "Conformance") -> None:
    """The run's last line: its verdict and exit status in words, green only for exit 0 (after pytest's own
    counts, which say "passed" whatever the table's verdict was)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    pytest_session = getattr(plugin, "pytest_session", None)
    if reporter is None or plugin.session is None or pytest_session is None or _is_worker(config):
        return
    text, green = verdict_line(plugin.session, int(pytest_session.exitstatus), True)
    reporter.write_line(text, green=green, red=not green, bold=True)


def _session(config: pytest.Config) -> ConformanceSession | None:
    plugin = config.stash.get(_PLUGIN, None)
    return plugin.session if plugin is not None else None


# --- collection ---------------------------------------------------------------------------------------------

def pytest_pycollect_makemodule(module_path: Path, parent: pytest.Collector) -> pytest.Module | None:
    """Modules of a probe suite are ProbeModules (they get ``obs``); every other module is pytest's."""
    plugin = parent.config.stash.get(_PLUGIN, None)
    if plugin is not None and plugin.in_suite(module_path):
        return ProbeModule.from_parent(parent, path=module_path)
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A probe that asks for ``device`` runs on each selected device (parametrized first: ``[cpu-…]``)."""
    if "device" in metafunc.fixturenames and "obs" in metafunc.fixturenames and isinstance(
            metafunc.definition.getparent(pytest.Module), ProbeModule):
        metafunc.parametrize("device", list(metafunc.config.stash[_PLUGIN].devices))


@pytest.hookimpl(wrapper=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: Any):
    """A probe function of a module marked for several modes is collected once per selected mode."""
    made = yield
    if made is None or not isinstance(collector, ProbeModule):
        return made
    selected = collector.config.stash[_PLUGIN].modes
    if selected == (modes.REFERENCE,):
        return made
    return in_modes(list(made) if isinstance(made, (list, tuple)) else [made], selected)


def _probe(item: pytest.Item) -> bool:
    return items.is_probe(item)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Start the session when probes were collected; give each probe pytest-timeout's signal-method limit."""
    probes = [item for item in items if _probe(item)]
    if not probes:
        return
    # torch and the probe modules live as long as the process: out of the garbage collector's way.
    gc.freeze()
    session = config.stash[_PLUGIN].activate()
    if session is None:
        return
    timeout = session.options.timeout
    if not timeout or not config.pluginmanager.hasplugin("timeout"):
        return
    for item in probes:
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(timeout, method="signal"))


# --- running a probe ----------------------------------------------------------------------------------------

@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """A probe in compile mode is called compiled (``compiled.call``); every other test as pytest calls it."""
    mode = pyfuncitem.stash.get(MODE, None)
    if mode is None:
        return None
    from .compiled import call  # imports torch: only where a compile-mode probe runs

    call(pyfuncitem.obj, {arg: pyfuncitem.funcargs[arg] for arg in pyfuncitem._fixtureinfo.argnames},
         pyfuncitem.funcargs["obs"])
    return True


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    session = _session(item.config)
    if session is not None and _probe(item) and not _is_worker(item.config):
        session.probe_starting(item.nodeid)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    session = _session(item.config)
    if session is None or not _probe(item):
        return (yield)
    observation = item.stash.get(OBSERVATION, None)
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
            from .observe import ProbeError

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
    if _session(item.config) is None or not _probe(item):
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
        if _is_worker(item.config):  # travels to the controller in the report xdist forwards
            rep.user_properties = [*rep.user_properties, (PROP, json.dumps(res.to_json()))]
        else:
            setattr(rep, _LOCAL, res)
    return rep


# --- end of session -----------------------------------------------------------------------------------------

def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    conformance = _session(session.config)
    if conformance is None:
        return
    if _is_worker(session.config):  # the controller learns device availability from here, not from torch
        session.config.workeroutput[_WORKER_OUTPUT] = {
            "availability": {name: devices.available(name) for name in devices.DEVICES}}
        return
    session.config.stash[_PLUGIN].pytest_session = session
    session.exitstatus = conformance.finish(int(exitstatus), interrupted=exitstatus == pytest.ExitCode.INTERRUPTED,
                                            stopped_early=bool(session.shouldstop or session.shouldfail))


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    session = _session(config)
    if session is None or _is_worker(config) or not session.results:
        return
    terminalreporter.section("autograd-conformance")
    for line in session.summary_lines():
        terminalreporter.write_line(line)
