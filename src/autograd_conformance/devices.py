"""The device vocabulary, in one place: which devices probes may run on, the reference device, which exist here.

Every other module asks this one: the table's ``device`` conditions, the plugin's ``device`` dimension, the
stream's reading of a crashed probe's id and the multi-run recorder's reference all use these names.
"""

from __future__ import annotations

import functools

DEVICES = ("cpu", "cuda", "mps")
#: The device every machine has: the baseline a device-specific ``when`` block is stated against.
REFERENCE = "cpu"
#: A test-only setting: ``AC_DEVICE_STANDIN=cuda`` makes this process treat cuda (or mps) as present and run its
#: probes on the reference device, so the path of a device the table has not recorded is tested on any machine.
#: Its probes are named for the device they stand in for; their facts are the reference device's.
STANDIN_ENV = "AC_DEVICE_STANDIN"


def is_device(name: str) -> bool:
    return name in DEVICES


def standin() -> str | None:
    """The device the reference device stands in for in this process (``AC_DEVICE_STANDIN``), or None."""
    import os

    name = os.environ.get(STANDIN_ENV, "").strip()
    return name if name in DEVICES and name != REFERENCE else None


class StandIn(str):
    """A probe's ``device`` argument where the reference device stands in for another (``STANDIN_ENV``): torch
    sees the reference device's name; ``name`` is the device the probe is named and judged for."""

    def __new__(cls, name: str) -> "StandIn":
        made = super().__new__(cls, REFERENCE)
        made.name = name
        return made


def argument(name: str) -> str:
    """What a probe's ``device`` argument is for a device name: the name, or a ``StandIn`` for it."""
    return StandIn(name) if name == standin() else name


def name_of(argument: str) -> str:
    """The device a probe's ``device`` argument names (a ``StandIn``'s device, else the argument itself)."""
    return getattr(argument, "name", argument)


def available(name: str) -> bool:
    """Whether this machine can run probes on ``name`` (cpu always; cuda and mps where torch finds them, or
    where the test-only ``STANDIN_ENV`` names them)."""
    return name == standin() or present(name)


@functools.lru_cache(maxsize=None)
def present(name: str) -> bool:
    """Whether torch finds the device here (asked once per process)."""
    import torch

    if name == "cpu":
        return True
    if name == "cuda":
        return torch.cuda.is_available()
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def share_cpu(workers: int) -> None:
    """Give this process its share of the CPU cores when ``workers`` processes run probes side by side. torch's
    intra-op thread pool defaults to every core, so N pools on N cores oversubscribe them (on 2 cores the suite
    took 49 s with ``-n 2`` instead of 18 s). An explicit ``OMP_NUM_THREADS`` is left as the user set it."""
    import os

    if workers <= 1 or os.environ.get("OMP_NUM_THREADS"):
        return
    import torch

    torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))


def torch_build() -> tuple[str, str | None]:
    """(torch.__version__, torch.version.git_version) of the installed torch, read from ``torch/version.py``
    without importing torch (a process that only collects results, an xdist controller, never needs it)."""
    import importlib.util
    import re

    spec = importlib.util.find_spec("torch")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        try:
            text = open(f"{location}/version.py", encoding="utf-8").read()
        except OSError:
            continue
        version = re.search(r"^__version__\s*=\s*['\"]([^'\"]+)['\"]", text, re.M)
        git = re.search(r"^git_version\s*=\s*['\"]([^'\"]+)['\"]", text, re.M)
        if version:
            return version.group(1), git.group(1) if git else None
    import torch  # an unusual install: ask torch itself

    return torch.__version__, getattr(torch.version, "git_version", None)


def in_params(parts: list[str]) -> str | None:
    """The device among a probe id's parameter parts (``[cuda-sigmoid]``), or None."""
    return next((p for p in parts if p in DEVICES), None)
