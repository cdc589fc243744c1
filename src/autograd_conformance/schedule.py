"""xdist scheduling for the bundled suite: the ops family on one worker, everything else test by test."""

from __future__ import annotations

from typing import Any

from xdist.scheduler import LoadScopeScheduling

#: The module of the ops family, whose probes share torch's OpInfo database (imported once per process).
OPS_MODULE = "test_ops.py"


class OpsTogetherScheduling(LoadScopeScheduling):
    """``--dist loadscope`` with one scope for the ops family and one scope per probe function elsewhere (its
    parametrizations together): the worker that runs the ops family imports the OpInfo database, the others
    never do, and the controller sends a couple of hundred work units rather than one per test."""

    def remove_node(self, node: Any) -> str | None:
        """A crashed worker's probe is reported once, as crashed, and never re-run (xdist's loadscope sends it
        to each replacement worker until the restarts run out); the rest of its work units go back in the
        queue."""
        workload = self.assigned_work.pop(node)
        pending = [(unit, nodeid) for unit in workload.values() for nodeid, done in unit.items() if not done]
        if not pending:
            return None
        unit, crashitem = pending[0]
        unit[crashitem] = True
        self.workqueue.update((scope, unit) for scope, unit in workload.items() if not all(unit.values()))
        for other in self.assigned_work:
            self._reschedule(other)
        return crashitem

    def _split_scope(self, nodeid: str) -> str:
        file = nodeid.split("::", 1)[0]
        if file.rsplit("/", 1)[-1] == OPS_MODULE:
            return "autograd-conformance-ops"
        return nodeid.split("[", 1)[0]
