"""The terminal summary: the lines printed at the end of a run, and the verdict line that ends it, rendered
from the run's ``RunOutcome`` (never from the session)."""

from __future__ import annotations

import os
from collections import Counter

from .devices import is_device
from .facts import GATE_SEMANTIC
from .modes import HAZARDS
from .outcome import RunOutcome
from .result import ProbeResult
from .text import conform, counted, first_line, probes, shorten
from .verdict import (CRASHED, DETAIL_WIDTH, DRIFT, ERROR, LEAKED, MISMATCH, MISSING, NOT_RUN, TIMEOUT, UNRECORDED,
                      conformance_sentence, detail, failing_counts, gates_unrecorded)

#: The widest a probe id or a fact name gets its own column; longer ones take a line of their own.
ID_WIDTH, FACT_WIDTH = 60, 32


def _rows(results: tuple[ProbeResult, ...]) -> list[tuple[str, str, str, str]]:
    """(probe, fact, verdict, detail) for every probe that fails, one row per differing fact."""
    rows = []
    for res in sorted(results, key=lambda r: r.id):
        if res.verdict == MISSING:
            rows.append((res.id, "(no row)", res.verdict, "record it with --ac-record, then review the row"))
        elif res.verdict in (ERROR, CRASHED, TIMEOUT, LEAKED):
            rows.append((res.id, f"(probe {res.verdict})" if res.verdict != ERROR else "(probe error)",
                         res.verdict, shorten(first_line(res.message), DETAIL_WIDTH)))
        elif res.verdict in (MISMATCH, DRIFT, UNRECORDED):
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


def _rel(path: os.PathLike[str] | str | None) -> str:
    """A path as the reader finds it: relative to here when it is below here, else whole."""
    if path is None:
        return "(none)"
    relative = os.path.relpath(path)
    return str(path) if relative.startswith("..") else relative


def summary_lines(outcome: RunOutcome) -> list[str]:
    """Counts, devices, one line per failing fact, missing/broken/crashed probe and stale row, record mode's
    account, and where the report is."""
    if outcome.interrupted:
        where = _rel(outcome.stream_path) if outcome.stream_path else "(no stream)"
        return [f"interrupted: {len(outcome.results)} probe results kept in {where}; "
                f"{_rel(outcome.baseline_path)} was left as it was"]
    results = outcome.results
    counts: dict[str, int] = {}
    for res in results:
        counts[res.verdict] = counts.get(res.verdict, 0) + 1
    lines = [*outcome.notes,
             f"{probes(len(results))} on torch {outcome.torch_version}: {counted(dict(sorted(counts.items())))}; "
             f"{len(outcome.stale)} stale rows"
             + (" (partial run: staleness not checked)" if outcome.partial else "")
             + (" (rows without a probe on this release: reported, not failing)"
                if outcome.stale and outcome.stale_reported_only else "")]
    if outcome.absent:
        would = max((sum(1 for r in results if r.device == d) for d in outcome.generated), default=0)
        lines.append(f"devices: {', '.join(outcome.generated)}; {' and '.join(outcome.absent)} not on this "
                     f"machine: {would} probes each were not generated")
    if any(m != "eager" for m in outcome.modes):
        per_mode = ", ".join(f"{sum(1 for r in results if r.mode == m)} in {m} mode" for m in outcome.modes)
        lines.append(f"modes: {per_mode}" + (f" (torch.compile backend {outcome.compile_backend}; compiled "
                                             f"artefacts kept in {_rel(outcome.compile_cache)})"
                                             if outcome.compile_backend else ""))
        stated = Counter(r.expectation.hazard for r in results if r.expectation is not None and r.expectation.hazard)
        if stated:
            n = sum(stated.values())
            lines.append(f"  the table states how {probes(n)} differ{'s' if n == 1 else ''} from eager: "
                         + ", ".join(f"{stated[h]} {h}" for h in HAZARDS if stated[h])
                         + " (silent: other values or a missing error, nothing tells the user)")
    rows = _rows(results) + [(s.key, "(stale row)", "stale", f"matches no probe; in {s.file}")
                             for s in outcome.stale]
    if rows:
        lines += _table(rows)
    never = sorted(r.id for r in results if r.verdict == NOT_RUN)
    if never:
        lines.append(f"not run: {len(never)} collected probes never ran ({', '.join(never[:3])}"
                     f"{', ...' if len(never) > 3 else ''})")
    if counts.get(UNRECORDED):
        n = counts[UNRECORDED]
        devices = [u for u in outcome.unrecorded if is_device(u)]
        lines.append(f"unrecorded: {probes(n)} differ{'s' if n == 1 else ''} where the table has no recording "
                     f"({', '.join(outcome.unrecorded)}); "
                     + ("failing by --ac-gate" if gates_unrecorded(outcome.gate) else
                        "reported, not failing (--ac-gate=all,unrecorded fails them)")
                     + (f"; record the device into your own table: autograd-conformance record-device "
                        f"{devices[0]} --expectations DIR --reason TEXT" if devices else ""))
    if GATE_SEMANTIC in outcome.gate.split(",") and counts.get(DRIFT):
        lines.append(f"gate: semantic — {probes(counts[DRIFT])} drifted only in wording (reported, not failing)")
    lines += [f"problem: {p}" for p in outcome.problems]
    if outcome.record is not None:
        lines += record_banner(outcome)
    if outcome.report_path is not None:
        lines.append(f"report: {_rel(outcome.report_path)}"
                     + (f" and {_rel(outcome.html_path)}" if outcome.html_path is not None else ""))
        if outcome.gap is not None:
            lines.append(f"  ({outcome.gap.why}: the full report {_rel(outcome.baseline_path)} is left as it was)")
    return lines


def record_banner(outcome: RunOutcome) -> list[str]:
    s = outcome.record
    assert s is not None
    out = [f"RECORD MODE (--ac-record={outcome.record_policy}): the gate was off for this run; the table is "
           f"written, not checked",
           f"  wrote {len(s.added_entries)} new rows, {s.added_facts} facts added, {s.changed_facts} facts changed"
           f" in {', '.join(sorted(s.files)) or 'no file'} ({outcome.record_dir})"]
    if s.left_alone:
        out.append(f"  left as they were: the rows of {probes(len(s.left_alone))} that did not observe a whole run "
                   f"(broke, crashed, timed out, leaked or never ran): {', '.join(s.left_alone[:3])}"
                   f"{', ...' if len(s.left_alone) > 3 else ''}")
    if s.devices:
        out.append(f"  recorded {', '.join(s.devices)}: listed in {outcome.record_dir}/_releases.toml [devices]; "
                   f"review the blocks it wrote, then commit them")
    if s.unexplained:
        n = len(s.unexplained)
        out.append(f"  kept unwritten: {probes(n)} differ{'s' if n == 1 else ''} on another device, and a device block "
                   f"needs a reason: --ac-record-reason=TEXT ({', '.join(s.unexplained[:3])}"
                   f"{', ...' if len(s.unexplained) > 3 else ''})")
    if s.kept_different:
        shown = ", ".join(f"{pid} {fact}" for pid, fact in s.kept_different[:3])
        more = f" and {len(s.kept_different) - 3} more" if len(s.kept_different) > 3 else ""
        out.append(f"  kept unwritten: {len(s.kept_different)} facts differ from existing rows ({shown}{more}); "
                   f"--ac-record=all overwrites them")
    return out


EXIT_WORDS = {2: "interrupted", 3: "the harness broke", 4: "the table is broken", 5: "too few probes ran"}
HEAD = "autograd-conformance:"


def verdict_line(outcome: RunOutcome | None, status: int, stopped: str | None = None) -> tuple[str, bool]:
    """The last line of a run: its verdict and exit status in words, and whether it is green (status 0);
    ``stopped`` is why a run was stopped before its probes (a bad option or table)."""
    if stopped:
        why = {2: "a usage error", 4: "the table is broken"}.get(status, "stopped before its probes")
        return f"{HEAD} FAIL (exit {status}): {why}: {stopped.removeprefix(HEAD).strip()}", False
    if outcome is None or not outcome.results:
        if status == 0:
            return f"{HEAD} PASS (exit 0): no probes were collected", True
        return f"{HEAD} FAIL (exit {status}): {EXIT_WORDS.get(status, 'pytest failed')}", False
    if outcome.interrupted:
        return (f"{HEAD} INTERRUPTED (exit {status}): {len(outcome.results)} probe results kept in the stream; "
                f"no report"), False
    ran = outcome.ran
    if status == 0:
        if outcome.record_policy is not None:
            s = outcome.record
            wrote = (f"{len(s.added_entries)} rows added, {s.added_facts} facts added and {s.changed_facts} changed"
                     if s is not None else "nothing written")
            return f"{HEAD} RECORDED (exit 0): {probes(ran)} recorded: {wrote}; the gate was off", True
        missing = outcome.count(MISSING)
        if missing:
            return (f"{HEAD} PASS (exit 0): {conform(ran - missing)} to the table; {missing} not in the "
                    f"table, allowed by --ac-allow-missing", True)
        return (f"{HEAD} PASS (exit 0): "
                f"{conformance_sentence((r.verdict for r in outcome.results), outcome.gate)[0]}"), True
    if status == 3:
        reason = f"the harness broke: {outcome.problems[-1] if outcome.problems else 'see above'}"
    elif status == 4:
        reason = f"the table is broken: {len(outcome.stale)} stale rows match no probe"
    elif status == 5:
        reason = f"too few probes ran: {outcome.problems[0] if outcome.problems else ''}"
    elif outcome.record is not None and outcome.record.kept_different:
        reason = f"record mode kept {len(outcome.record.kept_different)} differing facts unwritten"
    elif outcome.record is not None and outcome.record.unexplained:
        reason = (f"record mode kept the differences of {probes(len(outcome.record.unexplained))} on another device "
                  f"unwritten: a device block needs --ac-record-reason")
    elif failing_counts(r.verdict for r in outcome.results):
        reason = (f"autograd behaves differently: "
                  f"{conformance_sentence((r.verdict for r in outcome.results), outcome.gate)[0]}")
    elif outcome.count(UNRECORDED) and gates_unrecorded(outcome.gate):
        reason = (f"{conformance_sentence((r.verdict for r in outcome.results), outcome.gate)[0]} — the table has "
                  f"no recording of {', '.join(outcome.unrecorded)}: record it before gating on it")
    else:
        reason = f"all {conform(ran)}, but other tests failed or pytest stopped (exit {status})"
    return f"{HEAD} FAIL (exit {status}): {reason}", False

