"""Compile mode: a probe's scenario run under ``torch.compile``, observed by the same ``Observation`` calls.

The harness compiles the probe function as a whole; probes are not written differently for it. Every
observation call (``fact``, ``facts_of``, ``tensor``, ``outcome``) is a graph break: it runs eagerly on the real
tensors the compiled code produced, so a fact reads what a user holding those tensors would see (a compiled
output's ``grad_fn`` is ``CompiledFunctionBackward``). The action an ``outcome`` observes is compiled too (it is
where most probes put the operation they are about), so what ``torch.compile`` raises for it, where eager
raises at backward or not at all, is recorded as that outcome's ``raises``/``message``. An exception that
escapes the compiled scenario outside any ``outcome`` (eager would have raised later, or not at all) is a fact
as well: ``scenario.raises`` and ``scenario.message``, with the facts observed before it kept. ``ProbeError``
(the probe is wrong) and pytest's skip still end the probe as in eager.

Each probe starts from fresh dynamo caches (``torch._dynamo.reset()``), so its facts do not depend on which
probes ran before it in the process (order, ``-n``). A compiled scenario that fails can leave the dispatcher's
thread-local key sets changed (on 2.13, a failed aot_eager compile inside ``inference_mode`` leaves the
PythonDispatcher key on, and every later operation in the thread raises an INTERNAL ASSERT): that is recorded
as ``dispatcher_state.same = false``. Any other piece of torch's process-wide state the compiled scenario left
changed (``isolation``: a grad mode dynamo set at a graph break and never set back, autograd's multithreading
flag after a failed compile) is recorded by name as ``process_state.value``. Both are put back before the probe
ends: they are torch's facts, not a leak of the probe.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from . import isolation
from .modes import DEFAULT_BACKEND

#: The environment variable torch's inductor caches (FX graphs, AOTAutograd, kernels) read when they compile.
CACHE_ENV = "TORCHINDUCTOR_CACHE_DIR"


def use_cache(directory: Path) -> Path:
    """Keep torch.compile's artefacts in ``directory`` across runs (torch reads ``TORCHINDUCTOR_CACHE_DIR`` each
    time it compiles; importing torch._dynamo sets it to a per-user default in /tmp, which this replaces: a
    user's own setting is chosen by the options, ``options.USER_COMPILE_CACHE``). Returns the directory."""
    directory.mkdir(parents=True, exist_ok=True)
    os.environ[CACHE_ENV] = str(directory)
    return directory
from .normalize import normalize_message
from .observe import Observation, ProbeError

#: The facts an exception escaping the compiled scenario is recorded as.
SCENARIO = "scenario"
#: The fact recorded (false) when the compiled scenario left the dispatcher's thread-local key sets changed.
DISPATCHER_STATE = "dispatcher_state.same"
#: The fact recorded when the compiled scenario left other process-wide state changed: the pieces' names.
PROCESS_STATE = "process_state.value"


def _eager(method: Callable[..., Any]) -> Callable[..., Any]:
    """The method as a graph break: dynamo calls it, it does not trace it."""
    return torch._dynamo.disable(method)


class CompiledObservation(Observation):
    """The Observation of a probe in compile mode: observing is eager, an outcome's action is compiled."""

    def __init__(self, backend: str = DEFAULT_BACKEND) -> None:
        super().__init__()
        self.backend = backend

    fact = _eager(Observation.fact)
    facts_of = _eager(Observation.facts_of)
    tensor = _eager(Observation.tensor)

    @_eager
    def outcome(self, name: str, action: Callable[[], Any], warns: bool = True) -> Any:
        """As ``Observation.outcome``, with ``action`` run under ``torch.compile``. Its warnings are recorded
        once each: tracing the region again (AOTAutograd traces what dynamo traced) repeats a warning the code
        raises, and a compile served from the cache of an earlier run does not, so how many times it shows is
        the cache's state, not torch's behaviour; notes the compiler gives only while it compiles
        (``COMPILER_NOTES``) are left out for the same reason."""
        result = Observation.outcome(self, name, torch.compile(action, backend=self.backend), warns)
        said = self.facts.get(f"{name}.warns")
        if said is not None:
            kept = [w for w in dict.fromkeys(said) if not w.startswith(COMPILER_NOTES)]
            if kept:
                self.facts[f"{name}.warns"] = kept
            else:
                del self.facts[f"{name}.warns"]
        return result


#: Warnings the compiler gives while it compiles a region, and not when the compiled code comes from its cache.
COMPILER_NOTES = ("UserWarning: Torchinductor does not support code generation for complex operators",)


def _dispatch_keys() -> tuple[frozenset[Any], frozenset[Any]]:
    """The dispatch keys this thread has locally included and excluded."""
    keys = torch._C.DispatchKey.__members__.values()
    return (frozenset(k for k in keys if torch._C._dispatch_tls_is_dispatch_key_included(k)),
            frozenset(k for k in keys if torch._C._dispatch_tls_is_dispatch_key_excluded(k)))


def _restore_dispatch_keys(saved: tuple[frozenset[Any], frozenset[Any]]) -> None:
    included, excluded = _dispatch_keys()
    for key in included ^ saved[0]:
        torch._C._dispatch_tls_set_dispatch_key_included(key, key in saved[0])
    for key in excluded ^ saved[1]:
        torch._C._dispatch_tls_set_dispatch_key_excluded(key, key in saved[1])


def call(probe: Callable[..., Any], kwargs: dict[str, Any], obs: CompiledObservation) -> None:
    """Run a probe function compiled as a whole, from fresh dynamo caches; an exception escaping the compiled
    scenario becomes ``scenario.raises``/``scenario.message`` (ProbeError and pytest's outcomes propagate)."""
    torch._dynamo.reset()
    keys, state = _dispatch_keys(), isolation.snapshot()
    # torch.compile's structured trace (for tlparse) logs at DEBUG; pytest >= 9 captures it even though the
    # logger does not propagate, and a failing probe's report would show hundreds of empty DEBUG lines.
    trace = logging.getLogger("torch.__trace")
    trace_disabled, trace.disabled = trace.disabled, True
    try:
        torch.compile(probe, backend=obs.backend)(**kwargs)
    except ProbeError:
        raise
    except Exception as exc:  # noqa: BLE001 - what the compiled scenario raised is the observation
        Observation.fact(obs, f"{SCENARIO}.raises", type(exc).__name__)
        Observation.fact(obs, f"{SCENARIO}.message", normalize_message(str(exc)))
    finally:
        trace.disabled = trace_disabled
        if _dispatch_keys() != keys:
            _restore_dispatch_keys(keys)
            Observation.fact(obs, DISPATCHER_STATE, False)
        changed = isolation.changed(state, isolation.snapshot())
        if changed:
            isolation.apply(state)
            Observation.fact(obs, PROCESS_STATE, changed)
        torch._dynamo.reset()
