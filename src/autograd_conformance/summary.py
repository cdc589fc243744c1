"""The terminal summary: the lines the plugin prints at the end of a run, built from the session's results."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from . import devices
from .facts import GATE_SEMANTIC
from .verdict import DRIFT, ERROR, FAILING, MISSING, show

if TYPE_CHECKING:
    from .session import ConformanceSession


def summary_lines(session: "ConformanceSession") -> list[str]:
    """Counts, one line per failing fact, missing probe and stale row, record mode's account, the report path."""
    options = session.options
    if session.interrupted:
        stream = session.stream
        where = os.path.relpath(stream.path) if stream is not None and stream.path else "(no stream)"
        return [f"interrupted: {len(session.results)} probe results kept in {where}; "
                f"{os.path.relpath(options.report_path)} was left as it was"]
    results = list(session.results.values())
    counts: dict[str, int] = {}
    for res in results:
        counts[res.verdict] = counts.get(res.verdict, 0) + 1
    parts = ", ".join(f"{counts[v]} {v}" for v in sorted(counts))
    lines = [f"{len(results)} probes on torch {options.torch_version}: {parts}; {len(session.stale)} stale rows"
             + (" (partial run: staleness not checked)" if session.partial else "")]
    absent = [name for name in devices.DEVICES if name not in options.devices]
    if absent:
        would = max((sum(1 for r in results if r.device == d) for d in options.devices), default=0)
        lines.append(f"devices: {', '.join(options.devices)}; {' and '.join(absent)} not on this machine: "
                     f"{would} probes each were not generated")
    rows = []
    for res in sorted(results, key=lambda r: r.id):
        if res.verdict == MISSING:
            rows.append((res.id, "(no row)", "", "missing"))
        elif res.verdict == ERROR:
            rows.append((res.id, "(probe error)", (res.message or "").splitlines()[0][:80], "error"))
        elif res.verdict in FAILING:
            for m in res.mismatches:
                rows.append((res.id, m.fact, f"{show(m.expected)} → {show(m.observed)}"[:100], res.verdict))
    for stale in session.stale:
        rows.append((stale.key, "(stale row)", f"matches no probe; in {stale.file}", "stale"))
    if rows:
        width = min(max(len(r[0]) for r in rows), 60)
        fwidth = min(max(len(r[1]) for r in rows), 36)
        lines.append(f"{'probe':<{width}}  {'fact':<{fwidth}}  {'verdict':<8}  expected → observed")
        lines.extend(f"{pid:<{width}}  {fact:<{fwidth}}  {verdict:<8}  {detail}" for pid, fact, detail, verdict in rows)
    if options.gate == GATE_SEMANTIC and counts.get(DRIFT):
        lines.append(f"gate: semantic — {counts[DRIFT]} probes drifted only in wording (reported, not failing)")
    if session.record_summary is not None:
        s = session.record_summary
        lines.append(f"recorded: {len(s.added_entries)} new rows, {s.added_facts} facts added, "
                     f"{s.changed_facts} facts changed in {', '.join(sorted(s.files)) or 'no file'}")
        if s.kept_different:
            lines.append(f"{len(s.kept_different)} facts differ from existing rows and were kept "
                         f"(use --ac-record=all to overwrite them), e.g. {s.kept_different[0][0]} "
                         f"{s.kept_different[0][1]}")
    if session.report_path is not None:
        lines.append(f"report: {os.path.relpath(session.report_path)}")
    return lines
