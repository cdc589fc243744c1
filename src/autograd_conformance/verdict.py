"""Comparing an observation with the expectation in force, and the verdict that follows."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

from .expectations import Resolved
from .facts import GATE_ALL, GATES, SEMANTIC, compile_match, fails_gate, is_compared, is_wording, kind_of
from .text import conform, counted, join_within, probes, shorten

PASS, MISMATCH, DRIFT, MISSING, ERROR, SKIPPED = "pass", "mismatch", "drift", "missing", "error", "skipped"
CRASHED, TIMEOUT = "crashed", "timeout"
#: The probe left torch's process-wide state changed (``isolation``); the state was put back.
LEAKED = "leaked"
#: The probe was collected but never ran (its worker died before it, the run stopped): it has no facts.
NOT_RUN = "not-run"
#: The probe's facts differ from the table on a device (or under a compile backend) the table has no recording
#: of for this release: what differs may be the device's own behaviour, not a change of torch
#: (``Releases.device_recorded_on``, ``backend_recorded_on``). Reported with its facts; it fails a probe only
#: under ``--ac-gate=…,unrecorded``.
UNRECORDED = "unrecorded"
VERDICTS = (PASS, MISMATCH, DRIFT, UNRECORDED, MISSING, ERROR, CRASHED, TIMEOUT, LEAKED, NOT_RUN, SKIPPED)
FAILING = (MISMATCH, DRIFT, MISSING, ERROR, CRASHED, TIMEOUT, LEAKED, NOT_RUN)
#: Verdicts of probes whose facts are not a complete observation (record mode leaves their rows alone).
UNOBSERVED = (ERROR, CRASHED, TIMEOUT, LEAKED, NOT_RUN, SKIPPED)

DEFAULT_RTOL = 1e-5
DEFAULT_ATOL = 1e-8

NOT_IN_TABLE = "not in table"
NOT_OBSERVED = "not observed"


@dataclass
class Mismatch:
    """One fact that differs from the table: expected and observed values, its kind, the row in force, and a
    note when one side is missing (``NOT_IN_TABLE``, ``NOT_OBSERVED``)."""

    fact: str
    kind: str
    expected: Any
    observed: Any
    source: str | None
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Verdict:
    """The verdict of one probe (one of ``VERDICTS``) and the facts that differ."""

    status: str
    mismatches: list[Mismatch]

    def fails(self, gate: str = GATE_ALL, allow_missing: bool = False) -> bool:
        """Whether this verdict fails the probe under ``gate`` (``--ac-gate``) and ``--ac-allow-missing``."""
        if self.status == MISSING:
            return not allow_missing
        if self.status == UNRECORDED:
            return gates_unrecorded(gate) and any(fails_gate(m.kind, gate) for m in self.mismatches)
        return self.status in FAILING and (
            self.status not in (MISMATCH, DRIFT) or any(fails_gate(m.kind, gate) for m in self.mismatches))

    def on_unrecorded(self) -> "Verdict":
        """This verdict for a probe of a variant the table has not recorded (a device, a compile backend): a
        difference (mismatch or drift) is ``unrecorded``; every other verdict stands."""
        return Verdict(UNRECORDED, self.mismatches) if self.status in (MISMATCH, DRIFT) else self


#: ``--ac-gate``'s optional term that makes ``unrecorded`` probes fail too (``all,unrecorded``).
GATE_UNRECORDED = "unrecorded"


def parse_gate(text: str) -> str:
    """``--ac-gate``'s value in its one spelling (``all``, ``semantic``, ``all,unrecorded``,
    ``semantic,unrecorded``); ValueError names what is wrong."""
    terms = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [t for t in terms if t not in (*GATES, GATE_UNRECORDED)]
    kinds = [t for t in terms if t in GATES]
    if unknown or len(kinds) > 1 or not terms:
        raise ValueError(f"use {' or '.join(GATES)}, optionally with ',{GATE_UNRECORDED}' "
                         f"(e.g. all,{GATE_UNRECORDED})")
    return ",".join([kinds[0] if kinds else GATE_ALL] + ([GATE_UNRECORDED] if GATE_UNRECORDED in terms else []))


def gates_unrecorded(gate: str) -> bool:
    """Whether ``gate`` fails probes that differ on a device the table has not recorded."""
    return GATE_UNRECORDED in gate.split(",")


@lru_cache(maxsize=4096)
def _regex(pattern: str) -> Any:
    """A table's ``match`` regex, compiled by RE2 (``facts.compile_match``): matching takes linear time."""
    return compile_match(pattern)


def _close(a: float, b: float, rtol: float, atol: float) -> bool:
    return a == b or abs(a - b) <= atol + rtol * abs(b)


def equal(expected: Any, observed: Any, rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL) -> bool:
    """Whether an observed fact value satisfies an expected one (regex matchers, tolerances, exact otherwise)."""
    if isinstance(expected, dict):
        if set(expected) == {"match"}:
            return isinstance(observed, str) and _regex(expected["match"]).fullmatch(observed) is not None
        if not isinstance(observed, dict):
            return False
        rtol = expected.get("rtol", rtol)
        atol = expected.get("atol", atol)
        keys = set(expected) - {"rtol", "atol"}
        if not keys <= set(observed):
            return False
        # A tensor fact may omit values in the table to pin only dtype and shape.
        extra = set(observed) - keys
        if extra - {"values"}:
            return False
        return all(equal(expected[k], observed[k], rtol, atol) for k in keys)
    if isinstance(expected, list):
        return (isinstance(observed, list) and len(expected) == len(observed)
                and all(equal(e, o, rtol, atol) for e, o in zip(expected, observed)))
    if isinstance(expected, bool) or isinstance(observed, bool):
        return type(expected) is type(observed) and expected == observed
    if isinstance(expected, (int, float)) and isinstance(observed, (int, float)):
        if isinstance(expected, int) and isinstance(observed, int):
            return expected == observed
        return math.isfinite(expected) and math.isfinite(observed) and _close(observed, expected, rtol, atol)
    return expected == observed


def judge(observed: dict[str, Any], resolved: Resolved | None) -> Verdict:
    """Compare facts; semantic differences give ``mismatch``, differences only in text facts give ``drift``."""
    if resolved is None:
        return Verdict(MISSING, [])
    mismatches: list[Mismatch] = []
    for name in sorted(set(observed) | set(resolved.facts)):
        kind = kind_of(name, default=SEMANTIC)  # a fact of another harness version's report counts as behaviour
        if not is_compared(kind):
            continue
        source = resolved.sources.get(name)
        if name not in resolved.facts:
            mismatches.append(Mismatch(name, kind, None, observed[name], None, NOT_IN_TABLE))
        elif name not in observed:
            mismatches.append(Mismatch(name, kind, resolved.facts[name], None, source, NOT_OBSERVED))
        elif not equal(resolved.facts[name], observed[name]):
            mismatches.append(Mismatch(name, kind, resolved.facts[name], observed[name], source))
    if not mismatches:
        return Verdict(PASS, [])
    if all(is_wording(m.kind) for m in mismatches):
        return Verdict(DRIFT, mismatches)
    return Verdict(MISMATCH, mismatches)


def is_tensor_value(value: Any) -> bool:
    return isinstance(value, dict) and "dtype" in value and "shape" in value


def _flat(values: Any, depth: int, index: tuple[int, ...] = ()) -> list[tuple[tuple[int, ...], Any]]:
    """A tensor fact's nested values as (index, value) pairs, ``depth`` (the number of dims) levels deep; a
    complex element ([re, im]) stays whole."""
    if depth == 0 or not isinstance(values, list):
        return [(index, values)]
    return [pair for i, v in enumerate(values) for pair in _flat(v, depth - 1, (*index, i))]


def _index(index: tuple[int, ...]) -> str:
    return "[" + ", ".join(map(str, index)) + "]" if index else "value"


def _name_list(value: Any) -> bool:
    return (isinstance(value, list) and len(value) > 1 and all(isinstance(v, str) for v in value)
            and value == sorted(set(value)))


def _first_difference(a: str, b: str, context: int = 24) -> str:
    """Two strings around their first difference: ``…at char 57: 'will raise' → 'raises'``."""
    at = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    start = max(0, at - context // 2)

    def cut(text: str) -> str:
        part = text[start:at + context]
        return ("…" if start else "") + repr(part)[1:-1] + ("…" if at + context < len(text) else "")

    return f"differ from char {at}: '{cut(a)}' → '{cut(b)}'"


def differences(expected: Any, observed: Any, rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL,
                limit: int = 5) -> list[str]:
    """Where two fact values differ, pinpointed for a reader: the tensor elements (index, expected, observed,
    tolerance), the keys of a mapping, the items of a list, the first differing character of long strings.
    Empty when only a whole-value statement fits (a type change, short scalars)."""
    if is_tensor_value(expected) and is_tensor_value(observed):
        rtol, atol = expected.get("rtol", rtol), expected.get("atol", atol)
        out = [f"{k}: {show(expected[k])} → {show(observed[k])}" for k in ("dtype", "shape")
               if expected[k] != observed[k]]
        if expected["shape"] != observed["shape"] or "values" not in expected or "values" not in observed:
            return out
        depth = len(expected["shape"])
        pairs_e, pairs_o = _flat(expected["values"], depth), _flat(observed["values"], depth)
        differing = [(i, e, o) for (i, e), (_, o) in zip(pairs_e, pairs_o) if not equal(e, o, rtol, atol)]
        out.append(f"{len(differing)} of {len(pairs_e)} elements differ (rtol {rtol:g}, atol {atol:g})")
        out += [f"{_index(i)}: {show(e)} → {show(o)}" for i, e, o in differing[:limit]]
        if len(differing) > limit:
            out.append(f"… {len(differing) - limit} more")
        return out
    if isinstance(expected, dict) and isinstance(observed, dict) and set(expected) != {"match"}:
        keys = sorted(set(expected) | set(observed))
        out = []
        for k in keys:
            if k not in observed:
                out.append(f"{k}: expected {show(expected[k])}, not observed")
            elif k not in expected:
                out.append(f"{k}: not expected, observed {show(observed[k])}")
            elif not equal(expected[k], observed[k], rtol, atol):
                out.append(f"{k}: {show(expected[k])} → {show(observed[k])}")
        return out[:limit] + ([f"… {len(out) - limit} more keys differ"] if len(out) > limit else [])
    if _name_list(expected) and _name_list(observed):  # sorted names (an API listing): what came and went
        added, removed = sorted(set(observed) - set(expected)), sorted(set(expected) - set(observed))
        return ([f"added {', '.join(map(repr, added))}"] if added else []) + (
            [f"removed {', '.join(map(repr, removed))}"] if removed else [])
    if isinstance(expected, list) and isinstance(observed, list):
        out = [] if len(expected) == len(observed) else [f"length {len(expected)} → {len(observed)}"]
        for i, (e, o) in enumerate(zip(expected, observed)):
            if not equal(e, o, rtol, atol):
                inner = differences(e, o, rtol, atol, limit=1) if isinstance(e, str) and isinstance(o, str) else []
                out.append(f"[{i}]: " + (inner[0] if inner else f"{show(e)} → {show(o)}"))
        return out[:limit] + ([f"… {len(out) - limit} more items differ"] if len(out) > limit else [])
    if isinstance(expected, str) and isinstance(observed, str) and max(len(expected), len(observed)) > 40:
        return [_first_difference(expected, observed)]
    return []


def show(value: Any) -> str:
    """A value as a reader wants to see it in a diff line."""
    if value is None:
        return "None"
    if isinstance(value, dict) and set(value) == {"match"}:
        return f"/{value['match']}/"
    if isinstance(value, str):
        return repr(value)
    return repr(value)


def explain(probe_id: str, verdict: Verdict, observed: dict[str, Any] | None = None) -> str:
    """The failure text for a probe: one line per differing fact, expected vs observed and the row in force.

    Info facts of the observation (e.g. a property's falsifying example) follow, for the reader.
    """
    if verdict.status == MISSING:
        return (f"{probe_id}: no expectation in the table for this probe "
                f"(run with --ac-record to record what torch does, then review the row)")
    lines = [f"{probe_id}: {verdict.status} — {len(verdict.mismatches)} fact(s) differ from the table"]
    for m in verdict.mismatches:
        tag = f" [{m.kind}]" if is_wording(m.kind) else ""
        if m.note == NOT_IN_TABLE:
            lines.append(f"  {m.fact}{tag}: not in the table; observed {show(m.observed)}")
        elif m.note == NOT_OBSERVED:
            lines.append(f"  {m.fact}{tag}: expected {show(m.expected)} but the probe did not observe it")
        else:
            lines.append(f"  {m.fact}{tag}:")
            lines.append(f"    expected {show(m.expected)}")
            lines.append(f"    observed {show(m.observed)}")
            lines.extend(f"      {d}" for d in differences(m.expected, m.observed))
        if m.source:
            lines.append(f"    (row in force: {m.source})")
    for name, value in sorted((observed or {}).items()):
        if not is_compared(kind_of(name)) and value is not None:
            text = value if isinstance(value, str) else show(value)
            lines.append(f"  {name} [{kind_of(name)}]:")
            lines.extend(f"    {line}" for line in text.splitlines())
    return "\n".join(lines)


#: The widest a one-line mismatch gets in the terminal summary and on the pages.
DETAIL_WIDTH = 110


def detail(m: Mismatch) -> str:
    """One mismatch as a line: pinpointed where it can be, both sides always visible."""
    if m.note == NOT_IN_TABLE:
        return "(not in table) observed " + shorten(show(m.observed), DETAIL_WIDTH - 24)
    if m.note == NOT_OBSERVED:
        return f"expected {shorten(show(m.expected), DETAIL_WIDTH - 30)} (not observed)"
    pinpointed = differences(m.expected, m.observed)
    if pinpointed:
        return join_within(pinpointed, DETAIL_WIDTH)
    half = (DETAIL_WIDTH - 3) // 2
    return f"{shorten(show(m.expected), half)} → {shorten(show(m.observed), half)}"


def failing_counts(verdicts: Iterable[str]) -> dict[str, int]:
    """How many probes have each failing verdict, in verdict-name order (only those that occur)."""
    counts: dict[str, int] = {}
    for verdict in verdicts:
        if verdict in FAILING:
            counts[verdict] = counts.get(verdict, 0) + 1
    return dict(sorted(counts.items()))


def conformance_sentence(verdicts: Iterable[str], gate: str = GATE_ALL) -> tuple[str, bool]:
    """The verdict of a set of probes in words, shared by the terminal's last line and the report page: ``N
    probes conform to the table`` or ``K of N probes differ from the table (a mismatch, b drift)`` (skipped
    probes not counted), with the probes that differ on a device the table has not recorded said apart, and
    whether the set passes under ``gate`` (unrecorded probes fail only under ``…,unrecorded``)."""
    verdicts = list(verdicts)
    ran = sum(1 for v in verdicts if v != SKIPPED)
    failing = failing_counts(verdicts)
    unrecorded = sum(1 for v in verdicts if v == UNRECORDED)
    aside = (f"{unrecorded} differ{'s' if unrecorded == 1 else ''} where the table has no recording "
             f"(unrecorded{', failing by --ac-gate' if gates_unrecorded(gate) else ', not failing'})"
             if unrecorded else "")
    passes = not failing and not (unrecorded and gates_unrecorded(gate))
    if not failing:
        return "; ".join(filter(None, [f"{conform(ran - unrecorded)} to the table", aside])), passes
    k = sum(failing.values())
    text = f"{k} of {probes(ran)} differ{'s' if k == 1 else ''} from the table ({counted(failing)})"
    return "; ".join(filter(None, [text, aside])), passes
