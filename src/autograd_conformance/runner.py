"""The hooks of every process that runs probes (a ``-n 0`` run, each xdist worker): call a probe (compiled in
compile mode), let the session settle its verdict, and send its result on the report through the channel the
plugin chose for this process (``transport``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import pytest

from . import devices, items
from .errors import StateLeak
from .invariants import activate
from .probes import MODE, OBSERVATION
from .result import ProbeResult
from .session import ConformanceSession
from .verdict import ERROR, SKIPPED

_RESULT = pytest.StashKey[ProbeResult]()


class ConformanceFailure(AssertionError):
    """A probe's observation differs from the table (its text is the fact diff)."""


class Channel(Protocol):
    def send(self, report: pytest.TestReport, result: ProbeResult) -> None: ...


class ProbeRunner:
    """Runs probes in this process; ``session()`` is the run's session once probes are collected (None before,
    or when the options were bad: the collecting process stops the run first)."""

    def __init__(self, session: Callable[[], ConformanceSession | None], channel: Channel, workers: int = 0) -> None:
        self.session = session
        self.channel = channel
        #: How many xdist workers share this machine (0 for a run without xdist).
        self.workers = workers

    def started(self, session: ConformanceSession) -> None:
        """The session has started: load the properties' hypothesis profile; an xdist worker takes its share
        of the cores for torch's intra-op threads."""
        activate(session.options.hypothesis_profile)
        if self.workers:
            devices.share_cpu(self.workers)
        if session.options.compile_cache is not None:
            from .compiled import use_cache  # imports torch: compile-mode probes run here

            use_cache(session.options.compile_cache)

    def collected(self, session: ConformanceSession, nodeids: list[str]) -> None:
        """The probes this process collected (the collecting process checks them; nothing to do here)."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> bool | None:
        """A probe in compile mode is called compiled (``compiled.call``); every other test as pytest calls it."""
        mode = pyfuncitem.stash.get(MODE, None)
        if mode is None:
            return None
        from .compiled import call  # imports torch: only where a compile-mode probe runs

        call(pyfuncitem.obj, {arg: pyfuncitem.funcargs[arg] for arg in pyfuncitem._fixtureinfo.argnames},
             pyfuncitem.funcargs["obs"])
        return True

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item):
        session = self.session()
        if session is None or not items.is_probe(item):
            return (yield)
        try:
            outcome = yield
        except BaseException as exc:
            self._settle(session, item, exc)
            raise
        failure = self._settle(session, item, None)
        if failure is not None:
            raise ConformanceFailure(failure)
        return outcome

    def _settle(self, session: ConformanceSession, item: pytest.Item, raised: BaseException | None) -> str | None:
        observation = item.stash.get(OBSERVATION, None)
        result = item.stash[_RESULT] = items.result_of(item, ERROR, observation.facts if observation else None)
        return session.settle(result, raised)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        """A probe's result is finished at its teardown (where the isolation check runs) and sent then."""
        rep = yield
        session = self.session()
        if session is None or not items.is_probe(item):
            return rep
        if call.when == "call":
            result = item.stash[_RESULT] = item.stash.get(_RESULT, None) or _unjudged(item, rep)
            if call.excinfo is not None and call.excinfo.errisinstance(ConformanceFailure):
                rep.longrepr = str(call.excinfo.value)
            result.duration = round(call.duration, 6)
        elif call.when == "setup" and rep.outcome != "passed":
            item.stash[_RESULT] = _unjudged(item, rep)
        elif call.when == "teardown":
            result = item.stash.get(_RESULT, None) or _unjudged(item, rep)
            if call.excinfo is not None and call.excinfo.errisinstance(StateLeak):
                session.leaked(result, call.excinfo.value)
                rep.longrepr = f"{result.id}: {result.message}"
            self.channel.send(rep, result)
        return rep


def _unjudged(item: pytest.Item, rep: pytest.TestReport) -> ProbeResult:
    """The result of a probe whose call never reached the judge: skipped or failed in its set-up (or a call
    another plugin ended first)."""
    verdict, message = ERROR, str(rep.longrepr)
    if rep.when == "setup" and rep.skipped:
        reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        verdict, message = SKIPPED, reason.removeprefix("Skipped: ")
    elif rep.when == "setup":
        message = f"set-up failed: {rep.longreprtext.strip().splitlines()[-1]}"
    return items.result_of(item, verdict, message=message)
