"""Repro snippets: a probe as a self-contained script that needs only torch and pytest.

A snippet is PRELUDE (a stand-in recorder that prints facts, and a runner that picks parametrize values by
index) + the probe module's source (harness imports inlined) + one call line. Reports store each module's
source once and each probe's call line, so snippets cost little at 10k probes.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .report import Report
    from .result import ProbeResult

PRELUDE = '''\
# --- autograd-conformance repro: prints each fact the probe records instead of comparing it ---
import warnings as _warnings

import torch as _torch


class Observation:
    def fact(self, name, value):
        print(f"{name} = {value!r}")

    def facts_of(self, name, t, *attrs):
        read = {"grad_fn": lambda: None if t.grad_fn is None else type(t.grad_fn).__name__,
                "dtype": lambda: str(t.dtype), "shape": lambda: list(t.shape), "device": lambda: t.device.type,
                "values": t.detach, "version": lambda: t._version, "is_inference": t.is_inference}
        for attr in attrs or ("is_leaf", "requires_grad", "grad_fn"):
            with _warnings.catch_warnings():
                _warnings.simplefilter("ignore")
                self.fact(f"{name}.{attr}", read.get(attr, lambda: getattr(t, attr))())

    def tensor(self, name, t):
        self.fact(f"{name}.values", t)

    def outcome(self, name, action, warns=True):
        with _warnings.catch_warnings(record=True) as caught:
            _warnings.simplefilter("always")
            try:
                result, error = action(), None
            except Exception as exc:
                result, error = None, exc
        self.fact(f"{name}.raises", None if error is None else type(error).__name__)
        if error is not None:
            self.fact(f"{name}.message", str(error))
        if caught and warns:
            self.fact(f"{name}.warns", [f"{w.category.__name__}: {w.message}" for w in caught])
        return result


def _compiled_observation(backend):
    """Compile mode: observing is a graph break, an outcome's action is compiled."""
    import torch._dynamo

    disable = torch._dynamo.disable

    class CompiledObservation(Observation):
        fact, facts_of, tensor = disable(Observation.fact), disable(Observation.facts_of), disable(Observation.tensor)

        @disable
        def outcome(self, name, action, warns=True):
            return Observation.outcome(self, name, _torch.compile(action, backend=backend), warns)

    return CompiledObservation()


def run_probe(probe, device=None, mode="eager", backend="aot_eager", **indices):
    """Call a probe with the values pytest gives it (each parametrize list's entry at the given index), in
    eager mode or compiled as a whole (``mode="compile"``)."""
    kwargs = {} if device is None else {"device": device}
    for mark in getattr(probe, "pytestmark", []):
        if mark.name != "parametrize":
            continue
        names = mark.args[0].split(",") if isinstance(mark.args[0], str) else list(mark.args[0])
        names = [n.strip() for n in names]
        chosen = mark.args[1][indices[names[0]]]
        values = getattr(chosen, "values", chosen if len(names) > 1 else (chosen,))
        kwargs.update(zip(names, values))
    _torch.set_warn_always(True)
    _torch.manual_seed(0)
    if mode == "eager":
        return probe(Observation(), **kwargs)
    obs = _compiled_observation(backend)
    try:
        _torch.compile(probe, backend=backend)(obs, **kwargs)
    except Exception as exc:
        Observation.fact(obs, "scenario.raises", type(exc).__name__)
        Observation.fact(obs, "scenario.message", str(exc))

# --- the probe module ---
'''

_HARNESS_IMPORT = re.compile(r"^from autograd_conformance(?:\.(\w+))? import ([\w, ]+)$", re.MULTILINE)
_RELATIVE_IMPORT = re.compile(r"^\s*from \.(\w*) import ([\w, ()]+)", re.MULTILINE)


def _harness_source(name: str) -> str:
    return resources.files(__package__).joinpath(f"{name}.py").read_text(encoding="utf-8")


def _is_module(name: str) -> bool:
    return resources.files(__package__).joinpath(f"{name}.py").is_file()


def _harness_deps(text: str, package_level: bool) -> list[str]:
    """The harness modules a source imports: ``from autograd_conformance.X import`` (a probe module) or
    ``from .X import`` / ``from . import X`` (a harness module)."""
    found = []
    pattern = _HARNESS_IMPORT if package_level else _RELATIVE_IMPORT
    for module, names in pattern.findall(text):
        if module:
            found.append(module)
        else:
            found += [n.strip() for n in names.replace("(", "").replace(")", "").split(",")
                      if n.strip() and _is_module(n.strip())]
    return found


def _closure(roots: list[str]) -> list[str]:
    """The harness modules to embed, each after the ones it imports."""
    order: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        for dep in _harness_deps(_harness_source(name), package_level=False):
            visit(dep)
        order.append(name)

    for root in roots:
        visit(root)
    return order


def module_source(path: Path) -> str:
    """A probe module's source, preceded by the harness modules it imports (and theirs), installed under their
    own names so its ``from autograd_conformance... import`` lines work without the package."""
    text = Path(path).read_text(encoding="utf-8")
    modules = _closure(_harness_deps(text, package_level=True))
    if not modules:
        return text
    boot = ["# --- the harness modules the probes import, embedded (the package need not be installed) ---",
            "import sys as _sys, types as _types",
            "_sys.modules['autograd_conformance'] = _package = _types.ModuleType('autograd_conformance')",
            "_package.__path__ = []",
            "def _embed(name, source):",
            "    module = _types.ModuleType('autograd_conformance.' + name)",
            "    module.__package__ = 'autograd_conformance'",
            "    _sys.modules[module.__name__] = module",
            "    setattr(_package, name, module)",
            "    exec(compile(source, 'autograd_conformance/' + name + '.py', 'exec'), module.__dict__)"]
    boot += [f"_embed({name!r}, {_harness_source(name)!r})" for name in modules]
    return "\n".join(boot) + "\n# --- the probe module ---\n" + text


def call_line(function: str, device: str | None, indices: dict[str, int], mode: str = "eager") -> str:
    """The runner call that reproduces one parametrised probe (in its execution mode)."""
    args = [function]
    if device is not None:
        args.append(f"device={device!r}")
    if mode != "eager":
        args.append(f"mode={mode!r}")
    args.extend(f"{name}={index}" for name, index in sorted(indices.items()) if name != "device")
    return f"run_probe({', '.join(args)})\n"


def snippet(report: "Report", probe: "ProbeResult") -> str | None:
    """The whole repro script for one probe of a saved report (None if the report has no source for it)."""
    source = report.sources.get(probe.family)
    if source is None or not probe.repro:
        return None
    header = f"# Repro for {probe.id} (observed on torch {report.run_info.torch_version})\n"
    return header + PRELUDE + source["text"] + "\n\n" + probe.repro
