"""The terminal summary: the lines the plugin prints at the end of a run, and the verdict line that ends it."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from .facts import GATE_SEMANTIC
from .result import ProbeResult
from .verdict import (CRASHED, DRIFT, ERROR, FAILING, MISMATCH, MISSING, NOT_IN_TABLE, NOT_OBSERVED, TIMEOUT,
                      differences, show)

if TYPE_CHECKING:
    from .session import ConformanceSession

#: The widest a probe id or a fact name gets its own column; longer ones take a line of their own.
ID_WIDTH, FACT_WIDTH, DETAIL_WIDTH = 60, 32, 110


def shorten(text: str, width: int) -> str:
    """``text`` within ``width`` characters, its middle elided, so both of its ends stay visible."""
    if len(text) <= width:
        return text
    keep = width - 1
    return text[: keep - keep // 3] + "…" + text[len(text) - keep // 3:]


def join_within(parts: list[str], width: int) -> str:
    """Parts joined by '; ' as far as they fit in ``width``, then a count of the rest (each part whole)."""
    out = shorten(parts[0], width)
    for k, part in enumerate(parts[1:], 1):
        rest = len(parts) - k
        if len(out) + 2 + len(part) + (len(f"; (+{rest - 1} more)") if rest > 1 else 0) > width:
            return f"{out}; (+{rest} more)"
        out += "; " + part
    return out


def detail(m: Any) -> str:
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


def _rows(results: list[ProbeResult]) -> list[tuple[str, str, str, str]]:
    """(probe, fact, verdict, detail) for every probe that fails, one row per differing fact."""
    rows = []
    for res in sorted(results, key=lambda r: r.id):
        first_line = (res.message or "").strip().splitlines()[0] if (res.message or "").strip() else ""
        if res.verdict == MISSING:
            rows.append((res.id, "(no row)", res.verdict, "record it with --ac-record, then review the row"))
        elif res.verdict in (ERROR, CRASHED, TIMEOUT):
            rows.append((res.id, f"(probe {res.verdict})" if res.verdict != ERROR else "(probe error)",
                         res.verdict, shorten(first_line, DETAIL_WIDTH)))
        elif res.verdict in (MISMATCH, DRIFT):
            rows.extend((res.id, m.fact, res.verdict, detail(m)) for m in res.mismatches)
    return rows


def _table(rows: list[tuple[str, str, str, str]]) -> list[str]:
    width = min(max(len(r[0]) for r in rows), ID_WIDTH)
    fwidth = min(max(len(r[1]) for r in rows), FACT_WIDTH)
    lines = [f"{'probe':<{width}}  {'fact':<{fwidth}}  {'verdict':<8}  expected → observed"]
    for pid, fact, verdict, text in rows:
        if len(pid) > width:  # too long for its column: on a line of its own, the rest aligned below
            lines.append(pid)
            pid = ""
        if len(fact) > fwidth:
            lines.append(f"{pid:<{width}}  {fact}")
            pid, fact = "", ""
        lines.append(f"{pid:<{width}}  {fact:<{fwidth}}  {verdict:<8}  {text}")
    return lines


def summary_lines(session: "ConformanceSession") -> list[str]:
    """Counts, devices, one line per failing fact, missing/broken/crashed probe and stale row, record mode's
    account, and where the report is."""
    options = session.options
    if session.interrupted:
        stream = session.stream
        where = os.path.relpath(stream.path) if stream is not None and stream.path else "(no stream)"
        return [f"interrupted: {len(session.results)} probe results kept in {where}; "
                f"{os.path.relpath(session.baseline_path)} was left as it was"]
    results = list(session.results.values())
    counts: dict[str, int] = {}
    for res in results:
        counts[res.verdict] = counts.get(res.verdict, 0) + 1
    parts = ", ".join(f"{counts[v]} {v}" for v in sorted(counts))
    lines = [f"{len(results)} probes on torch {options.torch_version}: {parts}; {len(session.stale)} stale rows"
             + (" (partial run: staleness not checked)" if session.partial else "")
             + (" (rows without a probe on this release: reported, not failing)"
                if session.stale and session.version_note else "")]
    lines[:0] = session.notes
    generated, absent = session.devices
    if absent:
        would = max((sum(1 for r in results if r.device == d) for d in generated), default=0)
        lines.append(f"devices: {', '.join(generated)}; {' and '.join(absent)} not on this machine: "
                     f"{would} probes each were not generated")
    other_modes = [m for m in options.modes if m != "eager"]
    if other_modes:
        per_mode = ", ".join(f"{sum(1 for r in results if r.mode == m)} in {m} mode" for m in options.modes)
        lines.append(f"modes: {per_mode}" + (f" (torch.compile backend {options.compile_backend})"
                                             if "compile" in options.modes else ""))
    rows = _rows(results) + [(s.key, "(stale row)", "stale", f"matches no probe; in {s.file}") for s in session.stale]
    if rows:
        lines += _table(rows)
    if options.gate == GATE_SEMANTIC and counts.get(DRIFT):
        lines.append(f"gate: semantic — {counts[DRIFT]} probes drifted only in wording (reported, not failing)")
    lines += [f"problem: {p}" for p in session.problems]
    if session.record_summary is not None:
        lines += record_banner(session)
    if session.report_path is not None:
        html = session.report_path.with_suffix(".html")
        lines.append(f"report: {os.path.relpath(session.report_path)}"
                     + (f" and {os.path.relpath(html)}" if options.html and html.exists() else ""))
        if session.report_kind:
            lines.append(f"  ({_why_named(session)}: the full report {os.path.relpath(session.baseline_path)} "
                         f"is left as it was)")
    return lines


def _why_named(session: "ConformanceSession") -> str:
    if session.report_kind == "record":
        return "a recording run"
    if session.report_kind == "partial":
        return f"a partial run, {session.partial_reason}"
    return "probes crashed in this run"


def record_banner(session: "ConformanceSession") -> list[str]:
    s = session.record_summary
    mode = session.options.record
    out = [f"RECORD MODE (--ac-record={mode}): the gate was off for this run; the table is written, not checked",
           f"  wrote {len(s.added_entries)} new rows, {s.added_facts} facts added, {s.changed_facts} facts changed"
           f" in {', '.join(sorted(s.files)) or 'no file'} ({session.options.record_dir})"]
    if s.kept_different:
        shown = ", ".join(f"{pid} {fact}" for pid, fact in s.kept_different[:3])
        more = f" and {len(s.kept_different) - 3} more" if len(s.kept_different) > 3 else ""
        out.append(f"  kept unwritten: {len(s.kept_different)} facts differ from existing rows ({shown}{more}); "
                   f"--ac-record=all overwrites them")
    return out


EXIT_WORDS = {2: "interrupted", 3: "the harness broke", 4: "the table is broken", 5: "too few probes ran"}


def verdict_line(session: "ConformanceSession | None", status: int, probes_seen: bool) -> tuple[str, bool]:
    """The last line of a run: its verdict and exit status in words, and whether it is green (status 0)."""
    if session is None or not session.results:
        if status == 0:
            return "autograd-conformance: PASS (exit 0): no probes were collected", True
        return f"autograd-conformance: FAIL (exit {status}): {EXIT_WORDS.get(status, 'pytest failed')}", False
    results = list(session.results.values())
    failing = [r for r in results if r.verdict in FAILING]
    ran = sum(1 for r in results if r.verdict != "skipped")
    head = "autograd-conformance:"
    if session.interrupted:
        return f"{head} INTERRUPTED (exit {status}): {len(results)} probe results kept in the stream; no report", False
    if status == 0:
        if session.options.record:
            return f"{head} RECORDED (exit 0): {ran} probes written into the table; the gate was off", True
        missing = sum(1 for r in results if r.verdict == "missing")
        if missing:
            return (f"{head} PASS (exit 0): {ran - missing} probes conform to the table; {missing} not in the "
                    f"table, allowed by --ac-allow-missing", True)
        return f"{head} PASS (exit 0): {ran} probes conform to the table", True
    reasons = []
    if status == 3:
        reasons.append(f"the harness broke: {session.problems[-1] if session.problems else 'see above'}")
    elif status == 4:
        reasons.append(f"the table is broken: {len(session.stale)} stale rows match no probe")
    elif status == 5:
        reasons.append(f"too few probes ran: {session.problems[0] if session.problems else ''}")
    elif session.record_summary is not None and session.record_summary.kept_different:
        reasons.append(f"record mode kept {len(session.record_summary.kept_different)} differing facts unwritten")
    elif failing:
        by = {}
        for r in failing:
            by[r.verdict] = by.get(r.verdict, 0) + 1
        reasons.append(f"autograd behaves differently from the table: {len(failing)} of {ran} probes "
                       f"({', '.join(f'{n} {v}' for v, n in sorted(by.items()))})")
    else:
        reasons.append(f"all {ran} probes conform, but other tests failed or pytest stopped (exit {status})")
    return f"{head} FAIL (exit {status}): {'; '.join(reasons)}", False
