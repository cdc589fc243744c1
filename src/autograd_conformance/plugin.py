"""The pytest plugin: options, configuration, collection, and the role objects that do the work.

Registered through the ``pytest11`` entry point, it is inert in a project until a run collects probes: it
defines no fixture, loads no hypothesis profile, installs no signal handler and writes no report before
then. Probes are the tests of probe-suite modules (``probes.ProbeModule``) that ask for ``obs``; once
collected, a ``session.ConformanceSession`` is started and does the work. As pytest-xdist does, the plugin
chooses each process's roles once, in ``pytest_configure``: every process that runs probes gets a
``runner.ProbeRunner`` (with the ``transport`` channel that carries results to the collector), the process
that collects results and ends the run gets a ``collector.ResultCollector``; a ``-n 0`` run has both. Hooks
never ask which process they are in.
"""

from __future__ import annotations

import functools
import gc
from pathlib import Path
from typing import Any

import pytest

from . import devices, modes, options, transport
from .collector import ResultCollector
from .items import is_probe
from .options import OptionError, check_path_options, reaches, select_devices, select_modes, table_dirs
from .probes import ProbeModule, Suite, in_modes, suite_of, suites_for
from .runner import ProbeRunner
from .scaffold import configuration_lines
from .session import ConformanceSession, RunContext, SessionError

_PLUGIN = pytest.StashKey["Conformance"]()
MARKERS = ("ops: the op-wide fingerprint over torch's OpInfo database (deselect with -m 'not ops')",
           "numerics: numerical gradient checks over torch's OpInfo database (deselect with -m 'not numerics')",
           f"{modes.MARKER}(*names): the execution modes a probe module or function runs in (default: eager)",
           "compile: a probe run under torch.compile (--ac-modes=eager,compile; deselect with -m 'not compile')")


def pytest_addoption(parser: pytest.Parser) -> None:
    options.register(parser)


class Conformance:
    """The plugin's per-run state: which suites hold probes, this process's role objects, and the session once
    probes are collected."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.suites: list[Suite] = suites_for(table_dirs(config))
        self.session: ConformanceSession | None = None
        self.error: str | None = None
        self.roles: list[Any] = []
        self.collector: ResultCollector | None = None
        self.group_ops = False

    def activate(self) -> ConformanceSession | None:
        """Start the session (once): parse the options, load the table, tell the roles. Where results are
        collected, a bad option or table stops the run (exit 4); a worker keeps the error for its probes (the
        controller stops the run first)."""
        if self.session is not None or self.error is not None:
            return self.session
        dist = getattr(self.config.option, "dist", "no") != "no"
        context = RunContext(pytest_args=list(self.config.invocation_params.args),
                             workers=len(getattr(self.config.option, "tx", None) or []) if dist else 0)
        try:
            self.session = ConformanceSession.from_config(self.config, context)
        except SessionError as exc:
            self.error = f"autograd-conformance: {exc}"
            if self.collector is not None:
                stop(self.error, usage=exc.usage)
            return None
        for role in self.roles:
            role.started(self.session)
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


#: Exit statuses of a run stopped before its probes: a usage error, and a broken table (the contract's 2 and 4).
EXIT_USAGE, EXIT_TABLE = 2, 4


def stop(message: str, usage: bool) -> None:
    """Stop the run before any probe with one line: a usage error exits 2, a broken table 4."""
    if usage:
        pytest.exit(message, returncode=EXIT_USAGE)
    raise pytest.UsageError(message)  # pytest's usage-error status is 4, the contract's "the table is broken"


def pytest_configure(config: pytest.Config) -> None:
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)
    try:
        check_path_options(config)
    except OptionError as exc:
        stop(f"autograd-conformance: {exc}", usage=True)
    state = Conformance(config)
    config.stash[_PLUGIN] = state
    _choose_roles(config, state)
    _group_the_ops_family(config, state)


def _choose_roles(config: pytest.Config, state: Conformance) -> None:
    """Register this process's role objects, once: an xdist worker runs probes and sends their results; the
    xdist controller collects them; a run without xdist does both."""
    worker = hasattr(config, "workerinput")
    controller = not worker and getattr(config.option, "dist", "no") != "no"
    if not controller:
        channel: Any = transport.WorkerChannel(lambda: state.session is not None) if worker \
            else transport.LocalChannel()
        workers = int(config.workerinput.get("workercount", 1)) if worker else 0  # type: ignore[attr-defined]
        runner = ProbeRunner(lambda: state.session, channel, workers)
        state.roles.append(runner)
        config.pluginmanager.register(runner, "autograd-conformance-runner")
        if worker:
            config.pluginmanager.register(channel, "autograd-conformance-channel")
    if not worker:
        state.collector = ResultCollector(config, state.suites, lambda: state.session, state.activate,
                                          lambda: state.error)
        state.roles.append(state.collector)
        config.pluginmanager.register(state.collector, "autograd-conformance-collector")


def _group_the_ops_family(config: pytest.Config, state: Conformance) -> None:
    """Under ``-n`` with xdist's default ``--dist load``, a run that reaches the bundled suite is scheduled so
    that the ops family goes to one worker as a whole: only that worker imports torch's OpInfo database
    (~1.3 s a process). Everything else is scheduled test by test, as with ``load``; an explicit ``--dist``
    is left as it is, and so is a run that does not reach the bundled suite."""
    bundled = next((s for s in state.suites if s.bundled), None)
    explicit = any(a == "--dist" or a.startswith("--dist=") for a in config.invocation_params.args)
    state.group_ops = (bundled is not None and not explicit and state.collector is not None
                       and getattr(config.option, "dist", "no") == "load" and reaches(config, bundled))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    state = config.stash.get(_PLUGIN, None)
    if state is None or not state.group_ops:
        return None
    from .schedule import OpsTogetherScheduling

    return OpsTogetherScheduling(config, log)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A test that asks for ``obs`` outside a probe suite fails at set-up as pytest says; the report adds where
    the setting goes that makes its directory a suite."""
    rep = yield
    if call.when == "setup" and rep.failed and "fixture 'obs' not found" in rep.longreprtext:
        suite = Path(item.path).parent.relative_to(item.config.rootpath) if Path(item.path).is_relative_to(
            item.config.rootpath) else Path(item.path).parent
        hint = "\n".join(configuration_lines(suite / "expectations"))
        rep.longrepr = (f"{rep.longreprtext}\nautograd-conformance: {item.nodeid} asks for 'obs' but {suite} is "
                        f"not a probe suite: no ac_expectations names its table.\n{hint}")
    return rep


# --- collection ---------------------------------------------------------------------------------------------

def pytest_pycollect_makemodule(module_path: Any, parent: pytest.Collector) -> pytest.Module | None:
    """Modules of a probe suite are ProbeModules (they get ``obs``); every other module is pytest's."""
    state = parent.config.stash.get(_PLUGIN, None)
    suite = suite_of(module_path, state.suites) if state is not None else None
    if suite is None:
        return None
    bundled = next((s for s in state.suites if s.bundled), None)
    if not suite.bundled and bundled is not None and (bundled.directory / Path(module_path).name).is_file():
        family = Path(module_path).stem.removeprefix("test_")
        stop(f"autograd-conformance: {module_path}: family {family!r} is the bundled suite's own; name your module "
             f"after a family of yours (test_<yours>.py), so that its probes' ids are never the bundled ones",
             usage=True)
    return ProbeModule.from_parent(parent, path=module_path)


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A probe that asks for ``device`` runs on each selected device (parametrized first: ``[cpu-…]``)."""
    if "device" in metafunc.fixturenames and "obs" in metafunc.fixturenames and isinstance(
            metafunc.definition.getparent(pytest.Module), ProbeModule):
        names = list(metafunc.config.stash[_PLUGIN].devices)
        metafunc.parametrize("device", [devices.argument(n) for n in names], ids=names)


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


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Start the session when probes were collected; give each probe pytest-timeout's signal-method limit."""
    probes = [item for item in items if is_probe(item)]
    if not probes:
        return
    # torch and the probe modules live as long as the process: out of the garbage collector's way.
    gc.freeze()
    session = config.stash[_PLUGIN].activate()
    if session is None:
        return
    for role in config.stash[_PLUGIN].roles:
        role.collected(session, [item.nodeid for item in probes])
    timeout = session.options.timeout
    if not timeout or not config.pluginmanager.hasplugin("timeout"):
        return
    for item in probes:
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(timeout, method="signal"))

