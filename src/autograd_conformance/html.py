"""HTML views of saved reports and diffs: self-contained pages (no network), everything from the report escaped."""

from __future__ import annotations

import json
from collections import Counter
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import jinja2
from packaging.version import Version
from markupsafe import Markup

from .diff import CATEGORIES, IMPACTS, Diff
from .modes import HAZARDS
from .facts import SEMANTIC, is_compared, is_wording, kind_of
from .report import Report
from .repro import PRELUDE
from .result import Location, ProbeResult
from .text import first_line, shorten
from .verdict import FAILING, SKIPPED, UNRECORDED, VERDICTS, conformance_sentence, detail

if TYPE_CHECKING:
    from .changelog import Changelog


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader(__package__, "templates"),
                              autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
                              trim_blocks=True, lstrip_blocks=True)


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath("templates", name).read_text(encoding="utf-8")


def script_json(value: Any) -> Markup:
    """JSON safe to embed in a <script> element: no '<', '>' or '&' survives literally."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _raw_asset(name: str) -> Markup:
    """A packaged CSS/JS asset, trusted and inlined as is (it contains no report data)."""
    return Markup(_asset(name))


def report_verdict(report: Report) -> tuple[str, bool]:
    """The verdict of a saved run, in words (the terminal's sentence), and whether it is green."""
    text, conform = conformance_sentence((p.verdict for p in report.probes), report.run_info.gate)
    if conform and not report.stale:
        return f"PASS — {text}", True
    parts = ([] if conform else [text]) + ([f"{len(report.stale)} stale rows match no probe"] if report.stale else [])
    return "FAIL — " + "; ".join(parts), False


def _devices_line(info: Any) -> str:
    generated = [name for name, d in info.devices.items() if d.get("generated", d.get("available"))]
    absent = [(name, d.get("not_generated", 0)) for name, d in info.devices.items() if name not in generated]
    line = ", ".join(generated) or "cpu"
    if absent:
        line += f" ({' and '.join(n for n, _ in absent)} not on this machine: {absent[0][1]} probes each not generated)"
    return line


def _gist(p: ProbeResult) -> str:
    if p.mismatches:
        first = p.mismatches[0]
        more = f" (+{len(p.mismatches) - 1} more)" if len(p.mismatches) > 1 else ""
        return f"{first.fact}: {detail(first)}{more}"
    return shorten(first_line(p.message), 140)


def render_report(report: Report) -> str:
    """The report as one HTML page: the verdict, verdict bars per family, what needs a decision, then every
    probe grouped by family (failures first, all-passing families collapsed), with filters kept in the URL."""
    order = {v: i for i, v in enumerate(VERDICTS)}
    failing_first = {v: (0 if v in FAILING else 1, order[v]) for v in VERDICTS}
    families: dict[str, list[tuple[int, ProbeResult]]] = {}
    data = []
    for index, p in enumerate(report.probes):
        families.setdefault(p.section, []).append((index, p))
        exp = p.expectation
        data.append({
            "id": p.id, "family": p.section, "verdict": p.verdict, "doc": p.doc, "message": p.message,
            "observation": p.observation, "expected": exp.facts if exp else None,
            "sources": exp.sources if exp else None, "keys": exp.keys if exp else None,
            "differs": [m.fact for m in p.mismatches],
            "info": [name for name in p.observation if not is_compared(kind_of(name, default=SEMANTIC))],
            "location": (p.location or Location("")).to_json(), "duration": p.duration, "repro": p.repro,
            "timeline": p.timeline,
        })
    for probes in families.values():
        probes.sort(key=lambda item: (failing_first[item[1].verdict], item[1].id))
    family_counts = {f: sorted(Counter(p.verdict for _, p in probes).items(), key=lambda kv: order[kv[0]])
                     for f, probes in families.items()}
    bars = [(f, counts, sum(n for _, n in counts)) for f, counts in sorted(family_counts.items())]
    review = (*FAILING, UNRECORDED)  # what a reviewer decides on: failures, and differences on unrecorded devices
    decisions = [(p, _gist(p)) for p in sorted(report.probes, key=lambda p: (order[p.verdict], p.id))
                 if p.verdict in review]
    open_families = {f for f, counts in family_counts.items() if any(v in review for v, _ in counts)}
    settled = [v for v in VERDICTS if v not in review]
    settled_counts = {f: [(v, n) for v, n in counts if v in settled] for f, counts in family_counts.items()}
    stated = [p for p in report.probes if p.expectation is not None and p.expectation.hazard]
    divergences = [(h, sorted((p for p in stated if p.expectation.hazard == h), key=lambda p: p.id))
                   for h in HAZARDS if any(p.expectation.hazard == h for p in stated)]  # silent first
    text, ok = report_verdict(report)
    payload = {"probes": data, "sources": report.sources, "prelude": PRELUDE,
               "torch": report.run_info.torch_version}
    return _env().get_template("report.html.j2").render(
        info=report.run_info, summary=report.summary, stale=report.stale, verdicts=VERDICTS,
        verdict={"text": text, "ok": ok}, not_baseline=report.not_a_baseline(), divergences=divergences, devices_line=_devices_line(report.run_info),
        bars=bars, decisions=decisions, families=sorted(families.items()), family_counts=family_counts,
        open_families=open_families, settled=settled, settled_counts=settled_counts, data_json=script_json(payload), css=_raw_asset("base.css"),
        common=_raw_asset("common.js"), script=_raw_asset("report.js"))


def render_diff(diff: Diff, links: dict[str, str] | None = None) -> str:
    """The diff as one HTML page: new changes apart from those the table already states, behaviour apart
    from wording, grouped by family with a bar per family, filters kept in the URL, links to both reports."""
    changed = [{"id": p.id, "family": p.family, "verdict_before": p.verdict_before, "verdict_after": p.verdict_after,
                "category": p.category,
                "changes": [{"fact": c.fact, "kind": c.kind, "category": c.category, "before": c.before, "after": c.after,
                             "in_before": c.in_before, "in_after": c.in_after, "source_after": c.source_after,
                             "reason": c.reason, "link": c.link, "impact": IMPACTS[c.impact]}
                            for c in p.changes]} for p in diff.changed]
    added = [{"id": p.id, "family": p.section, "verdict": p.verdict} for p in diff.added]
    removed = [{"id": p.id, "family": p.section, "verdict": p.verdict} for p in diff.removed]
    per_family: dict[str, Counter] = {}
    for p in changed:
        per_family.setdefault(p["family"], Counter())[p["category"]] += 1
    for what, items in (("added", added), ("removed", removed)):
        for p in items:
            per_family.setdefault(p["family"], Counter())[what] += 1
    totals = Counter()
    for counts in per_family.values():
        totals.update(counts)
    bars = [(f, [(c, counts[c]) for c in CATEGORIES if counts[c]], sum(counts.values()))
            for f, counts in sorted(per_family.items())]
    counts = {"new_semantic": sum(1 for p in changed if p["category"] == "new-semantic"),
              "new_text": sum(1 for p in changed if p["category"] == "new-text"),
              "accepted": sum(1 for p in changed if p["category"].startswith("accepted"))}
    payload = {"changed": changed, "added": added, "removed": removed, "labels": CATEGORIES,
               "families": sorted(per_family, key=lambda f: (min((IMPACTS.index(c["impact"]) for p in changed
                                                                  if p["family"] == f for c in p["changes"]),
                                                                 default=9), f))}
    undecided = sum(1 for p in diff.changed for c in p.changes if not c.accepted_after)
    wording_only = all(is_wording(c.kind) for p in diff.changed for c in p.changes if not c.accepted_after) and \
        not diff.added and not diff.removed
    tone = "pass" if diff.decided else "warn" if wording_only else "fail"
    causes = [{"why": c.why, "stated": c.stated, "link": c.link, "impact": IMPACTS[c.impact], "probes": c.probes,
               "changes": len(c.changes)} for c in diff.causes()]
    return _env().get_template("diff.html.j2").render(
        diff=diff, links=links or {}, counts=counts, tone=tone, totals=totals, bars=bars, causes=causes,
        undecided=undecided, families=sorted(per_family, key=lambda f: (min(
            (IMPACTS.index(c["impact"]) for p in changed if p["family"] == f for c in p["changes"]), default=9), f)),
        categories=list(CATEGORIES.items()), labels=CATEGORIES, data_json=script_json(payload),
        css=_raw_asset("base.css"), common=_raw_asset("common.js"), script=_raw_asset("diff.js"))


def render_changelog(log: "Changelog") -> str:
    """The changelog as one HTML page that reads at 1280 px: the summary first (per kind, per release, the
    biggest causes), then per release boundary its causes as collapsible sections (why, an example with the
    command that runs it, the probes), each probe linking to its timeline at the end of the page."""
    import hashlib

    from .changelog import TOPICS, change_line, repro_command, summary
    from .text import many

    causes = log.causes()
    timelines: dict[str, list[Any]] = {}
    for item in sorted(log.items, key=lambda i: (i.key, Version(i.after_release), i.fact)):
        timelines.setdefault(item.key, []).append(item)

    def slug(key: str) -> str:
        return hashlib.sha1(key.encode()).hexdigest()[:12]

    def anchor(cause: Any) -> str:
        return f"c-{cause.after_release.replace('.', '-')}-{slug(cause.title + (cause.link or ''))}"

    return _env().get_template("changelog.html.j2").render(
        log=log, head=summary(log, causes), causes=causes, topics=TOPICS, timelines=sorted(timelines.items()),
        modes="all modes" if len(log.modes) > 1 else f"{log.modes[0]} mode", line=change_line,
        repro=repro_command, slug=slug, anchor=anchor, many=many, css=_raw_asset("base.css"))


def render_matrix(reports: list[Report], links: list[str | None]) -> str:
    """Several runs as one page, in the manner of wpt.fyi's browser × version view: families × runs (ordered by
    torch version), pass counts per cell, each cell linking to what changed since the run before it."""
    from packaging.version import Version

    from .diff import compute
    from .verdict import show

    order = sorted(range(len(reports)), key=lambda i: Version(Version(reports[i].run_info.torch_version).public))
    columns: list[dict[str, Any]] = []
    families: set[str] = set()
    previous: Report | None = None
    for i in order:
        report = reports[i]
        cells: dict[str, dict[str, int]] = {}
        for p in report.probes:
            if p.verdict == SKIPPED:
                continue
            cell = cells.setdefault(p.section, {"passed": 0, "ran": 0, "changed": 0})
            cell["ran"] += 1
            cell["passed"] += p.verdict == "pass"
        changes: dict[str, list[tuple[str, str, str, str, str]]] = {}
        if previous is not None:
            diff = compute(previous, report)
            for change in diff.changed:
                rows = changes.setdefault(change.family, [])
                for c in change.changes:
                    rows.append((change.id, c.fact, c.kind, show(c.before) if c.in_before else "(not observed)",
                                 show(c.after) if c.in_after else "(not observed)"))
                if change.family in cells:
                    cells[change.family]["changed"] += 1
            for what, items in (("added", diff.added), ("removed", diff.removed)):
                for p in items:
                    changes.setdefault(p.section, []).append((p.id, f"(probe {what})", SEMANTIC, "", ""))
                    if p.section in cells:
                        cells[p.section]["changed"] += 1
        families.update(cells)
        columns.append({"name": report.run_info.run_name, "torch": report.run_info.torch_version,
                        "previous": previous.run_info.torch_version if previous else None, "link": links[i],
                        "cells": cells, "changes": dict(sorted(changes.items()))})
        previous = report
    return _env().get_template("matrix.html.j2").render(columns=columns, families=sorted(families),
                                                        css=_raw_asset("base.css"))
