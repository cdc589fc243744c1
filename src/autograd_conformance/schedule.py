"""xdist scheduling for the bundled suite: the ops family on one worker, everything else test by test."""

from __future__ import annotations

from xdist.scheduler import LoadScopeScheduling

#: The module of the ops family, whose probes share torch's OpInfo database (imported once per process).
OPS_MODULE = "test_ops.py"


class OpsTogetherScheduling(LoadScopeScheduling):
    """``--dist loadscope`` with one scope for the ops family and one scope per probe function elsewhere (its
    parametrizations together): the worker that runs the ops family imports the OpInfo database, the others
    never do, and the controller sends a couple of hundred work units rather than one per test."""

    def _split_scope(self, nodeid: str) -> str:
        file = nodeid.split("::", 1)[0]
        if file.rsplit("/", 1)[-1] == OPS_MODULE:
            return "autograd-conformance-ops"
        return nodeid.split("[", 1)[0]
