"""The hooks of the process that collects probe results and ends the run (a ``-n 0`` run, or the xdist
controller): results into the session, the session's end (``finish``, a ``RunOutcome``), and printing it."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from . import transport
from .probes import IMPORT_LEAKS, Suite, suite_module
from .session import ConformanceSession, SessionError
from .summary import summary_lines, verdict_line


class ResultCollector:
    """Collects the results of a run's probes; ``session()`` is the run's session once probes are collected,
    ``activate()`` starts it (an xdist controller learns from the workers' collections that probes will run)."""

    def __init__(self, config: pytest.Config, suites: list[Suite],
                 session: Callable[[], ConformanceSession | None], activate: Callable[[], Any],
                 error: Callable[[], str | None] = lambda: None) -> None:
        self.config = config
        self.suites = suites
        self.session = session
        self.activate = activate
        #: Why the run was stopped before its probes (a bad option or table), if it was.
        self.error = error
        self.previous_sigterm: Any = None
        self.pytest_session: pytest.Session | None = None

    def started(self, session: ConformanceSession) -> None:
        """The session has started: say what the run says about the table first; SIGTERM ends the run like
        Ctrl-C (the last complete report kept), unless the project handles SIGTERM itself."""
        self._say(session.notes)
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None)):
            self.previous_sigterm = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)

    def _say(self, notes: list[str]) -> None:
        """Say what the run says about the table (before its probes), one line a note."""
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            for note in notes:
                reporter.write_line(f"autograd-conformance: {note}", yellow=True)

    def collected(self, session: ConformanceSession, nodeids: list[str]) -> None:
        """The run collected these probes: each will get a verdict, and each must resolve against the table
        (a broken table stops the run before any probe runs)."""
        try:
            said = session.expect(nodeids)
        except SessionError as exc:
            raise pytest.UsageError(f"autograd-conformance: {exc}") from None  # a broken table: exit 4
        self._say(said)

    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> None:
        """Mark in the stream that a probe starts (here or on a worker), so a process that dies in it leaves its
        name."""
        session = self.session()
        if session is not None and session.owns(nodeid):
            session.probe_starting(nodeid)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        session = self.session()
        if session is None:
            return
        for result in transport.received(report):
            session.add(result)
        crash = transport.crash_of(report)
        if crash is not None:
            session.worker_crashed(*crash)

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        session = self.session()
        if session is not None:
            session.deselected += len(items)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """An xdist worker finished: it says which devices this machine has (it asked torch)."""
        found = transport.availability_of(node)
        session = self.session()
        if session is not None and found:
            session.availability.update(found)
        if session is not None:
            session.import_leaks.update(transport.import_leaks_of(node))

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        """The controller of an xdist run learns from a worker's collection whether probes will run."""
        if self.session() is None and any(self._probe_nodeid(i) for i in ids):
            self.activate()
        session = self.session()
        if session is not None:
            self.collected(session, [i for i in ids if session.owns(i)])

    def _probe_nodeid(self, nodeid: str) -> bool:
        bases = [Path(self.config.rootpath), Path(self.config.invocation_params.dir),
                 *(s.directory for s in self.suites)]
        return suite_module(nodeid.partition("::")[0], bases, self.suites) is not None

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        self.pytest_session = session
        conformance = self.session()
        if conformance is None:
            return
        conformance.import_leaks.update(session.config.stash.get(IMPORT_LEAKS, []))
        outcome = conformance.finish(int(exitstatus), interrupted=exitstatus == pytest.ExitCode.INTERRUPTED,
                                     stopped_early=bool(session.shouldstop or session.shouldfail))
        session.exitstatus = outcome.status

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        session = self.session()
        outcome = session.outcome if session is not None else None
        if outcome is None or not outcome.results:
            return
        terminalreporter.section("autograd-conformance")
        for line in summary_lines(outcome):
            terminalreporter.write_line(line)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        """The run's last line: its verdict and exit status in words, green only for exit 0 (after pytest's own
        counts, which say "passed" whatever the table's verdict was)."""
        session = self.session()
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None and self.pytest_session is not None and (session is not None or self.error()):
            status = int(self.pytest_session.exitstatus)
            text, green = verdict_line(session.outcome if session else None, status,
                                       None if session else self.error())
            reporter.write_line(text, green=green, red=not green, bold=True)
        if self.previous_sigterm is not None:
            signal.signal(signal.SIGTERM, self.previous_sigterm)
        if session is not None:
            session.close()


def _sigterm_as_interrupt(signum: int, frame: Any) -> None:
    """SIGTERM stops the run like Ctrl-C: the last complete report is left as it was, the stream says why."""
    raise KeyboardInterrupt("SIGTERM")
