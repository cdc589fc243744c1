"""The op registry: elementwise ops on one tensor, each with its declared autograd class.

Shared by the table-driven ``nondiff`` family (which records what torch does for each op) and the property
suites (which draw op chains from it and check invariants that follow from the declared class).

Classes:
- ``differentiable``: output requires grad when the input does; backward gives the derivative.
- ``zero-gradient``: differentiable with a gradient of exactly zero (floor, sign, rounding division...).
- ``non-differentiable``: the output is bool/integer and never requires grad.
- ``not-implemented``: the output requires grad but backward raises.

``saves`` says what the op keeps for backward: its ``input``, its ``output``, a wrapped ``scalar``, or
``none`` (freeing a graph that saved anything makes a second backward raise; modifying a saved input or
output in place makes backward raise the version error). ``smooth`` is the interval of inputs where
gradcheck is meaningful (away from kinks and poles).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch

DIFFERENTIABLE = "differentiable"
ZERO_GRADIENT = "zero-gradient"
NON_DIFFERENTIABLE = "non-differentiable"
NOT_IMPLEMENTED = "not-implemented"
CLASSES = (DIFFERENTIABLE, ZERO_GRADIENT, NON_DIFFERENTIABLE, NOT_IMPLEMENTED)


@dataclass(frozen=True, repr=False)
class Op:
    """An op of the registry: how to call it, its declared autograd class and what it saves for backward."""

    id: str
    fn: Callable[[torch.Tensor], torch.Tensor]
    klass: str
    saves: str = "input"
    smooth: tuple[float, float] = (-3.0, 3.0)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)

    def __repr__(self) -> str:  # stable across processes (the default would show the lambda's address)
        return f"Op({self.id!r}, {self.klass})"


def _half(x: torch.Tensor) -> torch.Tensor:
    return torch.tensor(0.5, dtype=x.dtype, device=x.device)


UNARY: list[Op] = [
    Op("sin", torch.sin, DIFFERENTIABLE),
    Op("exp", torch.exp, DIFFERENTIABLE, saves="output"),
    Op("tanh", torch.tanh, DIFFERENTIABLE, saves="output"),
    Op("sigmoid", torch.sigmoid, DIFFERENTIABLE, saves="output"),
    Op("square", lambda x: x * x, DIFFERENTIABLE),
    Op("add-constant", lambda x: x + 1, DIFFERENTIABLE, saves="none"),
    Op("neg", torch.neg, DIFFERENTIABLE, saves="none"),
    # x * 2 keeps the wrapped scalar 2 as a saved tensor, so its graph cannot be walked twice either.
    Op("mul-constant", lambda x: x * 2, DIFFERENTIABLE, saves="scalar"),
    Op("abs", torch.abs, DIFFERENTIABLE, smooth=(0.1, 3.0)),
    Op("relu", torch.relu, DIFFERENTIABLE, saves="output", smooth=(0.1, 3.0)),
    Op("sqrt", torch.sqrt, DIFFERENTIABLE, saves="output", smooth=(0.1, 3.0)),
    Op("log", torch.log, DIFFERENTIABLE, smooth=(0.1, 3.0)),
    Op("frac", torch.frac, DIFFERENTIABLE, saves="none", smooth=(0.1, 0.9)),
    Op("remainder", lambda x: torch.remainder(x, 2.0), DIFFERENTIABLE, saves="none", smooth=(0.1, 1.9)),
    Op("fmod", lambda x: torch.fmod(x, 2.0), DIFFERENTIABLE, saves="none", smooth=(0.1, 1.9)),
    Op("mod-operator", lambda x: x % 2.0, DIFFERENTIABLE, saves="none", smooth=(0.1, 1.9)),
    Op("floor", torch.floor, ZERO_GRADIENT, saves="none"),
    Op("ceil", torch.ceil, ZERO_GRADIENT, saves="none"),
    Op("round", torch.round, ZERO_GRADIENT, saves="none"),
    Op("round-decimals", lambda x: torch.round(x, decimals=1), ZERO_GRADIENT, saves="none"),
    Op("trunc", torch.trunc, ZERO_GRADIENT, saves="none"),
    Op("fix", torch.fix, ZERO_GRADIENT, saves="none"),
    Op("sign", torch.sign, ZERO_GRADIENT, saves="none"),
    Op("sgn", torch.sgn, ZERO_GRADIENT, saves="none"),
    Op("div-floor", lambda x: torch.div(x, 0.5, rounding_mode="floor"), ZERO_GRADIENT, saves="none"),
    Op("div-trunc", lambda x: torch.div(x, 0.5, rounding_mode="trunc"), ZERO_GRADIENT, saves="none"),
    Op("isnan", torch.isnan, NON_DIFFERENTIABLE, saves="none"),
    Op("signbit", torch.signbit, NON_DIFFERENTIABLE, saves="none"),
    Op("eq-zero", lambda x: x == 0, NON_DIFFERENTIABLE, saves="none"),
    Op("cast-int", lambda x: x.int(), NON_DIFFERENTIABLE, saves="none"),
    Op("floor_divide", lambda x: torch.floor_divide(x, 0.5), NOT_IMPLEMENTED, saves="none"),
    Op("floordiv-operator", lambda x: x // 0.5, NOT_IMPLEMENTED, saves="none"),
    Op("heaviside", lambda x: torch.heaviside(x, _half(x)), NOT_IMPLEMENTED, saves="none"),
]

BY_ID: dict[str, Op] = {op.id: op for op in UNARY}


def of_class(*classes: str, ops: list[Op] | None = None) -> list[Op]:
    return [op for op in (UNARY if ops is None else ops) if op.klass in classes]


def params(ids: list[str]) -> list[object]:
    """``pytest.param(op, id=op.id)`` for the registry ops named (a table-driven family's parametrize list)."""
    return [pytest.param(BY_ID[i], id=i) for i in ids]
