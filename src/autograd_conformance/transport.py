"""How a probe's result travels from the process that ran it to the process that collects it: the one place
that knows how results ride on pytest's reports and what pytest-xdist's report of a crashed worker looks like.

With ``-n 0`` the result rides on the report as the object itself (no JSON round trip); on an xdist worker it
rides in ``report.user_properties`` as JSON (xdist forwards those to the controller), and at the end of the
session the worker tells the controller which devices this machine has (the controller never imports torch).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from . import devices
from .probes import IMPORT_LEAKS
from .result import ProbeResult

#: The user property that carries a probe's result from an xdist worker.
PROPERTY = "autograd_conformance"
#: The report attribute that carries a probe's result when it ran in the collecting process.
_LOCAL = "_autograd_conformance_result"
#: The key of the worker's output (xdist's ``workeroutput``) that says which devices the machine has.
_WORKER_OUTPUT = "autograd_conformance"
#: What pytest-xdist names the phase of the report it makes for a test whose worker died while running it.
_CRASH_PHASE = "???"


class LocalChannel:
    """The channel of a process that runs probes and collects their results itself (``-n 0``)."""

    def send(self, report: pytest.TestReport, result: ProbeResult) -> None:
        setattr(report, _LOCAL, result)


class WorkerChannel:
    """The channel of an xdist worker: results as JSON in the reports xdist forwards; the machine's devices in
    the worker's output. Registered as a plugin on workers only."""

    def __init__(self, active: Any) -> None:
        #: Whether the worker ran probes (a callable: the session starts after the channel is made).
        self._active = active

    def send(self, report: pytest.TestReport, result: ProbeResult) -> None:
        report.user_properties = [*report.user_properties, (PROPERTY, json.dumps(result.to_json()))]

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self._active():
            session.config.workeroutput[_WORKER_OUTPUT] = {  # type: ignore[attr-defined]
                "availability": {name: devices.available(name) for name in devices.DEVICES},
                "import_leaks": session.config.stash.get(IMPORT_LEAKS, [])}


def received(report: pytest.TestReport) -> list[ProbeResult]:
    """The probe results a report carries (from this process or from an xdist worker)."""
    found = []
    local = getattr(report, _LOCAL, None)
    if local is not None:
        found.append(local)
    found.extend(ProbeResult.from_json(json.loads(payload))
                 for name, payload in report.user_properties if name == PROPERTY)
    return found


def crash_of(report: pytest.TestReport) -> tuple[str, str] | None:
    """(node id, xdist's text) when the report is xdist's word that a worker died while running that test."""
    return (report.nodeid, str(report.longrepr)) if report.when == _CRASH_PHASE else None


def availability_of(node: Any) -> dict[str, bool] | None:
    """Which devices a finished xdist worker found on this machine (None when it ran no probes)."""
    return getattr(node, "workeroutput", {}).get(_WORKER_OUTPUT, {}).get("availability")


def import_leaks_of(node: Any) -> list[str]:
    """What importing probe modules changed of torch's state on a finished xdist worker (it was put back)."""
    return list(getattr(node, "workeroutput", {}).get(_WORKER_OUTPUT, {}).get("import_leaks", []))
