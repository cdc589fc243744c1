"""The fact vocabulary: every fact a probe may emit, declared once with its value type and kind.

A fact name is ``<subject>.<attribute>``: the subject is the probe's own name for a tensor or an action
(``input``, ``loss``, ``backward``, ``x.grad``), the attribute is one of the declared names below.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from .errors import ConformanceError

# Fact kinds. What each kind means for comparing, gating and recording is decided only by the predicates
# below (``is_compared``, ``is_wording``, ``fails_gate``); other modules ask them and never spell the kinds.
#: Behaviour: a difference is a ``mismatch`` and fails every gate.
SEMANTIC = "semantic"
#: Wording (messages, warning texts): a difference alone is ``drift``, which ``--ac-gate semantic`` lets pass.
TEXT = "text"
#: Recorded in the report for the reader, never compared or written to the table (e.g. how many examples ran).
INFO = "info"
KINDS = (SEMANTIC, TEXT, INFO)

#: What fails a probe: every compared difference, or only behaviour (wording drift is reported, not failing).
GATE_ALL, GATE_SEMANTIC = "all", "semantic"
GATES = (GATE_ALL, GATE_SEMANTIC)

# Value types a fact may declare.
BOOL = "bool"
INT = "int"
STR = "str"
OPT_STR = "str|null"
STR_LIST = "list[str]"
INT_LIST = "list[int]"
TENSOR = "tensor"
OPT_TENSOR = "tensor|null"
JSON = "json"


@dataclass(frozen=True)
class FactSpec:
    """One declared fact attribute: its name pattern, value type, kind and what it means."""

    attribute: str
    type: str
    kind: str
    meaning: str


_SPECS = [
    FactSpec("is_leaf", BOOL, SEMANTIC, "Tensor.is_leaf."),
    FactSpec("requires_grad", BOOL, SEMANTIC, "Tensor.requires_grad."),
    FactSpec("grad_fn", OPT_STR, SEMANTIC, "Class name of Tensor.grad_fn (e.g. SqrtBackward0); null when it has none."),
    FactSpec("dtype", STR, SEMANTIC, "The tensor's dtype, as torch prints it (torch.float32)."),
    FactSpec("shape", INT_LIST, SEMANTIC, "The tensor's shape as a list of sizes."),
    FactSpec("device", STR, SEMANTIC, "The device type the tensor lives on (cpu, cuda, mps)."),
    FactSpec("grad", OPT_TENSOR, SEMANTIC, "Tensor.grad as dtype, shape and values; null when it is None."),
    FactSpec("values", TENSOR, SEMANTIC, "The tensor's own dtype, shape and values."),
    FactSpec("value", JSON, SEMANTIC, "A plain value the probe computed (number, bool, string or list)."),
    FactSpec("version", INT, SEMANTIC, "Tensor._version, the in-place version counter."),
    FactSpec("retains_grad", BOOL, SEMANTIC, "Tensor.retains_grad."),
    FactSpec("is_inference", BOOL, SEMANTIC, "Tensor.is_inference()."),
    FactSpec("grad_enabled", BOOL, SEMANTIC, "torch.is_grad_enabled() at the point observed."),
    FactSpec("inference_mode", BOOL, SEMANTIC, "torch.is_inference_mode_enabled() at the point observed."),
    FactSpec("raises", OPT_STR, SEMANTIC, "Class name of the exception the action raised; null when it returned."),
    FactSpec("message", OPT_STR, TEXT, "The exception's message, normalised (build noise stripped)."),
    FactSpec("warns", STR_LIST, TEXT, "Warnings the action emitted, in order, as 'Category: normalised message'."),
    FactSpec("present", BOOL, SEMANTIC, "Whether an API exists in the installed torch."),
    FactSpec("same", BOOL, SEMANTIC, "Whether two things are the same object / share what the subject names."),
    FactSpec("calls", JSON, SEMANTIC, "The calls a hook or function received, in order."),
    FactSpec("count", INT, SEMANTIC, "How many times something happened."),
    FactSpec("name", OPT_STR, SEMANTIC, "A name torch reports (e.g. grad_fn.name())."),
    FactSpec("finite", BOOL, SEMANTIC, "Whether every value is finite."),
    FactSpec("holds", BOOL, SEMANTIC, "Whether a property or numerical check held on every example."),
    FactSpec("examples", INT, INFO, "How many examples a property or check ran (depends on the hypothesis profile)."),
    FactSpec("falsifying", OPT_STR, INFO, "A property's shrunk falsifying example or a check's first failing sample; "
                                          "null when it held."),
    FactSpec("declared", STR, SEMANTIC, "What torch's OpInfo database declares about its own test of a check "
                                        "(expected failure: the check runs; skipped: reason: it does not)."),
]

VOCABULARY: dict[str, FactSpec] = {spec.attribute: spec for spec in _SPECS}

_NAME = re.compile(r"^[A-Za-z_][\w\[\]]*(\.[A-Za-z_][\w\[\]]*)*\.(?P<attr>[A-Za-z_]\w*)$")


class UnknownFact(ConformanceError, ValueError):
    """A fact name whose attribute is not in the vocabulary, or that is not of the form subject.attribute."""


def spec_of(name: str) -> FactSpec:
    """Return the declaration that governs fact ``name`` or raise UnknownFact."""
    m = _NAME.match(name)
    if not m:
        raise UnknownFact(f"fact {name!r} is not of the form <subject>.<attribute>")
    attr = m.group("attr")
    if attr not in VOCABULARY:
        import difflib

        near = difflib.get_close_matches(attr, VOCABULARY, n=1)
        hint = f"did you mean {near[0]!r}? " if near else ""
        raise UnknownFact(f"fact {name!r}: unknown attribute {attr!r} ({hint}declared: "
                          f"{', '.join(sorted(VOCABULARY))})")
    return VOCABULARY[attr]


def kind_of(name: str, default: str | None = None) -> str:
    """The fact's kind; with ``default``, an undeclared fact (e.g. from a report of another harness version)
    gets that kind instead of raising."""
    if default is None:
        return spec_of(name).kind
    try:
        return spec_of(name).kind
    except UnknownFact:
        return default


def is_compared(kind: str) -> bool:
    """Facts of this kind are compared with the table and written to it by record mode."""
    return kind != INFO


def is_wording(kind: str) -> bool:
    """A difference in a fact of this kind is a change of wording (drift), not of behaviour."""
    return kind == TEXT


def fails_gate(kind: str, gate: str) -> bool:
    """Whether a difference in a fact of this kind fails a probe under ``gate`` (``all`` or ``semantic``, with
    any further terms after a comma)."""
    return is_compared(kind) and (GATE_SEMANTIC not in gate.split(",") or not is_wording(kind))


def compared_facts(facts: dict[str, Any]) -> dict[str, Any]:
    """The facts the table states (info facts left out); an undeclared fact counts as behaviour."""
    return {name: value for name, value in facts.items() if is_compared(kind_of(name, default=SEMANTIC))}


def canonical(value: Any) -> Any:
    """JSON-safe canonical form of a fact value: non-finite floats become the strings 'nan', 'inf', '-inf'."""
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in value.items()}
    return value


def _is_tensor_fact(value: Any) -> bool:
    return isinstance(value, dict) and {"dtype", "shape"} <= value.keys() and set(value) <= {
        "dtype", "shape", "values", "rtol", "atol"}


def check_type(name: str, value: Any) -> str | None:
    """Return None if ``value`` fits the declared type of fact ``name``, else a sentence saying why not."""
    spec = spec_of(name)
    t = spec.type
    ok: bool
    if t == BOOL:
        ok = isinstance(value, bool)
    elif t == INT:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif t == STR:
        ok = isinstance(value, str)
    elif t == OPT_STR:
        ok = value is None or isinstance(value, str)
    elif t == STR_LIST:
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
    elif t == INT_LIST:
        ok = isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    elif t == TENSOR:
        ok = _is_tensor_fact(value)
    elif t == OPT_TENSOR:
        ok = value is None or _is_tensor_fact(value)
    else:  # JSON: anything but null, which the TOML table cannot state for it
        if value is None:
            return (f"fact {name!r} is null, which the table cannot state for a {t} fact; record a string such as "
                    f"'None' instead")
        ok = True
    if ok:
        return None
    return f"fact {name!r} expects a {t} value, got {type(value).__name__} {value!r}"


def vocabulary_markdown() -> str:
    """The vocabulary as a Markdown table (the README's facts section is generated from this)."""
    lines = ["| attribute | type | kind | meaning |", "|---|---|---|---|"]
    for spec in sorted(_SPECS, key=lambda s: s.attribute):
        lines.append(f"| `{spec.attribute}` | {spec.type} | {spec.kind} | {spec.meaning} |")
    return "\n".join(lines)


def compile_match(pattern: str) -> Any:
    """A ``{ match = "..." }`` regex compiled by RE2, a linear-time engine (a catastrophic pattern such as
    ``(a+)+$`` cannot hang a run), with ``.`` matching newlines as Python's ``re.DOTALL`` does. RE2 has no
    backreferences or lookaround: such a pattern raises ``re2.error`` (the table names its file and key)."""
    import re2

    options = re2.Options()
    options.dot_nl = True
    options.log_errors = False  # the table's error names the file and key; RE2's own log would only repeat it
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        raise ValueError(reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason)) from None
