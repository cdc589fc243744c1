"""Comparing an observation with the expectation in force, and the verdict that follows."""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

from .expectations import Resolved
from .facts import GATE_ALL, SEMANTIC, fails_gate, is_compared, is_wording, kind_of

PASS, MISMATCH, DRIFT, MISSING, ERROR, SKIPPED = "pass", "mismatch", "drift", "missing", "error", "skipped"
CRASHED, TIMEOUT = "crashed", "timeout"
VERDICTS = (PASS, MISMATCH, DRIFT, MISSING, ERROR, CRASHED, TIMEOUT, SKIPPED)
FAILING = (MISMATCH, DRIFT, MISSING, ERROR, CRASHED, TIMEOUT)

DEFAULT_RTOL = 1e-5
DEFAULT_ATOL = 1e-8

NOT_IN_TABLE = "not in table"
NOT_OBSERVED = "not observed"


@dataclass
class Mismatch:
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
    status: str
    mismatches: list[Mismatch]

    def fails(self, gate: str = GATE_ALL, allow_missing: bool = False) -> bool:
        """Whether this verdict fails the probe under ``gate`` (``--ac-gate``) and ``--ac-allow-missing``."""
        if self.status == MISSING:
            return not allow_missing
        return self.status in FAILING and (
            self.status not in (MISMATCH, DRIFT) or any(fails_gate(m.kind, gate) for m in self.mismatches))


@lru_cache(maxsize=4096)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.DOTALL)


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
        if m.source:
            lines.append(f"    (row in force: {m.source})")
    for name, value in sorted((observed or {}).items()):
        if not is_compared(kind_of(name)) and value is not None:
            text = value if isinstance(value, str) else show(value)
            lines.append(f"  {name} [{kind_of(name)}]:")
            lines.extend(f"    {line}" for line in text.splitlines())
    return "\n".join(lines)
