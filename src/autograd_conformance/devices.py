"""The device vocabulary, in one place: which devices probes may run on, the reference device, which exist here.

Every other module asks this one: the table's ``device`` conditions, the plugin's ``device`` dimension, the
stream's reading of a crashed probe's id and the multi-run recorder's reference all use these names.
"""

from __future__ import annotations

DEVICES = ("cpu", "cuda", "mps")
#: The device every machine has: the baseline a device-specific ``when`` block is stated against.
REFERENCE = "cpu"


def is_device(name: str) -> bool:
    return name in DEVICES


def available(name: str) -> bool:
    """Whether this machine can run probes on ``name`` (cpu always; cuda and mps where torch finds them)."""
    import torch

    if name == "cpu":
        return True
    if name == "cuda":
        return torch.cuda.is_available()
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def in_params(parts: list[str]) -> str | None:
    """The device among a probe id's parameter parts (``[cuda-sigmoid]``), or None."""
    return next((p for p in parts if p in DEVICES), None)
