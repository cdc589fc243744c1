"""Cross-run diff: what torch did differently between two saved reports, fact by fact."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from .facts import GATE_SEMANTIC, SEMANTIC, TEXT, fails_gate, is_compared, is_wording, kind_of
from .report import Report, RunInfo
from .result import ProbeResult
from .verdict import SKIPPED, equal, show


@dataclass
class FactChange:
    """One fact that two runs observed differently (or only one of them observed), and whether each run's table
    accepted its value."""

    fact: str
    kind: str
    before: Any
    after: Any
    in_before: bool = True
    in_after: bool = True
    #: The table accepted the value in each run (it was not among that run's mismatches).
    accepted_before: bool = False
    accepted_after: bool = False
    source_after: str | None = None

    @property
    def accepted_both(self) -> bool:
        return self.accepted_before and self.accepted_after

    @property
    def category(self) -> str:
        """``new-`` or ``accepted-`` (the table states the change in both runs), then ``semantic`` or ``text``."""
        return ("accepted-" if self.accepted_both else "new-") + ("text" if is_wording(self.kind) else "semantic")


#: The kinds of difference between two runs, most pressing first, with the words the pages use for them.
CATEGORIES = {"new-semantic": "new behaviour", "new-text": "new wording", "accepted-semantic": "accepted behaviour",
              "accepted-text": "accepted wording", "added": "added", "removed": "removed"}


@dataclass
class ProbeChange:
    """A probe that both runs ran whose facts differ: its verdicts in both runs and the facts that changed."""

    id: str
    #: The section pages group the probe under: its family, and its mode where that is not eager.
    family: str
    verdict_before: str
    verdict_after: str
    changes: list[FactChange]

    @property
    def kind(self) -> str:
        """The probe's change is wording only if every fact that changed is wording."""
        return TEXT if all(is_wording(c.kind) for c in self.changes) else SEMANTIC

    @property
    def category(self) -> str:
        """The most pressing category among its changes."""
        order = list(CATEGORIES)
        return min((c.category for c in self.changes), key=order.index)


@dataclass
class Diff:
    """Two runs compared: probes added, removed and changed, and the facts ignored."""

    before: RunInfo
    after: RunInfo
    added: list[ProbeResult] = field(default_factory=list)
    removed: list[ProbeResult] = field(default_factory=list)
    changed: list[ProbeChange] = field(default_factory=list)
    unchanged: int = 0
    ignored: list[str] = field(default_factory=list)
    #: Why either report cannot stand for a full run (then probes it did not run show as added or removed).
    warnings: list[str] = field(default_factory=list)
    #: Where the two reports were read from (for links), when known.
    paths: tuple[str, str] | None = None

    @property
    def has_differences(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def fails(self, gate: str) -> bool:
        """Whether the diff fails ``--fail-on``: any difference (``any``), or under the semantic gate only
        changes of behaviour and probes added or removed."""
        if gate == GATE_SEMANTIC:
            return any(fails_gate(c.kind, gate) for p in self.changed for c in p.changes) or bool(
                self.added or self.removed)
        return self.has_differences

    @property
    def semantic_changes(self) -> int:
        """Changed facts of behaviour."""
        return sum(1 for p in self.changed for c in p.changes if not is_wording(c.kind))

    @property
    def text_changes(self) -> int:
        """Changed facts of wording."""
        return sum(1 for p in self.changed for c in p.changes if is_wording(c.kind))

    def to_json(self) -> dict[str, Any]:
        def info(run: RunInfo) -> dict[str, Any]:
            return {k: getattr(run, k) for k in ("run_name", "torch_version", "torch_git_version", "table_hash")}

        return {
            "before": info(self.before), "after": info(self.after), "ignored": self.ignored,
            "warnings": self.warnings,
            "summary": {"added": len(self.added), "removed": len(self.removed), "changed": len(self.changed),
                        "unchanged": self.unchanged, "semantic_changes": self.semantic_changes,
                        "text_changes": self.text_changes},
            "added": [{"id": p.id, "verdict": p.verdict} for p in self.added],
            "removed": [{"id": p.id, "verdict": p.verdict} for p in self.removed],
            "changed": [{**{k: v for k, v in asdict(p).items() if k != "changes"}, "kind": p.kind,
                         "changes": [{**asdict(c), "accepted_both": c.accepted_both} for c in p.changes]}
                        for p in self.changed],
        }


def _kind(name: str) -> str:
    return kind_of(name, default=SEMANTIC)  # a fact this harness no longer declares still counts as behaviour


def _comparable(report: Report) -> dict[str, ProbeResult]:
    return {p.id: p for p in report.probes if p.verdict != SKIPPED}


def compute(before: Report, after: Report, ignore: list[str] | None = None) -> Diff:
    """Compare observations (not verdicts): probes added, removed, changed (per fact), unchanged."""
    ignore = list(ignore or [])
    a, b = _comparable(before), _comparable(after)
    diff = Diff(before.run_info, after.run_info, ignored=ignore)
    for side, report in (("before", before), ("after", after)):
        why = report.not_a_baseline()
        if why:
            diff.warnings.append(f"{side} ({report.run_info.run_name}) is {why}: probes it did not run show as "
                                 f"{'added' if side == 'before' else 'removed'}")
    diff.added = [b[i] for i in sorted(b.keys() - a.keys())]
    diff.removed = [a[i] for i in sorted(a.keys() - b.keys())]
    for pid in sorted(a.keys() & b.keys()):
        pa, pb = a[pid], b[pid]
        oa, ob = pa.observation, pb.observation
        mismatched_a = {m.fact for m in pa.mismatches}
        mismatched_b = {m.fact for m in pb.mismatches}
        changes = []
        for name in sorted(oa.keys() | ob.keys()):
            if not is_compared(_kind(name)) or any(fnmatchcase(name, pattern) for pattern in ignore):
                continue
            if name in oa and name in ob and equal(oa[name], ob[name]):
                continue
            changes.append(FactChange(
                name, _kind(name), oa.get(name), ob.get(name), name in oa, name in ob,
                accepted_before=pa.expectation is not None and name not in mismatched_a,
                accepted_after=pb.expectation is not None and name not in mismatched_b,
                source_after=pb.expectation.sources.get(name) if pb.expectation else None))
        if changes:
            diff.changed.append(ProbeChange(pid, pb.section, pa.verdict, pb.verdict, changes))
        else:
            diff.unchanged += 1
    return diff


def _value(change: FactChange, side: str) -> str:
    present = change.in_before if side == "before" else change.in_after
    return show(getattr(change, side)) if present else "(not observed)"


def format_text(diff: Diff) -> str:
    b, a = diff.before, diff.after
    lines = [f"autograd-conformance diff: {b.run_name} (torch {b.torch_version}) → "
             f"{a.run_name} (torch {a.torch_version})",
             f"{len(diff.changed)} changed ({diff.semantic_changes} semantic, {diff.text_changes} text facts), "
             f"{len(diff.added)} added, {len(diff.removed)} removed, {diff.unchanged} unchanged"
             + (f"; ignoring {', '.join(diff.ignored)}" if diff.ignored else "")]
    lines += [f"warning: {w}" for w in diff.warnings]
    for p in diff.changed:
        lines.append(f"changed {p.id} [{p.kind}] ({p.verdict_before} → {p.verdict_after})")
        for c in p.changes:
            note = f"  (accepted by the table in both runs: {c.source_after})" if c.accepted_both else ""
            lines.append(f"  {c.fact} [{c.kind}]: {_value(c, 'before')} → {_value(c, 'after')}{note}")
    lines += [f"added {p.id} ({p.verdict})" for p in diff.added]
    lines += [f"removed {p.id} ({p.verdict})" for p in diff.removed]
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>")


def format_markdown(diff: Diff) -> str:
    b, a = diff.before, diff.after
    out = [f"## autograd-conformance: `{b.run_name}` → `{a.run_name}`", "",
           f"torch `{b.torch_version}` → `{a.torch_version}`: **{len(diff.changed)} changed** "
           f"({diff.semantic_changes} semantic, {diff.text_changes} text facts), {len(diff.added)} added, "
           f"{len(diff.removed)} removed, {diff.unchanged} unchanged.", ""]
    out += [f"> **Warning:** {w}" for w in diff.warnings] + ([""] if diff.warnings else [])
    if diff.changed:
        out += ["| probe | fact | kind | before | after | table |", "|---|---|---|---|---|---|"]
        for p in diff.changed:
            for c in p.changes:
                out.append(f"| `{_md(p.id)}` | `{_md(c.fact)}` | {c.kind} | `{_md(_value(c, 'before'))}` | "
                           f"`{_md(_value(c, 'after'))}` | {'accepted in both runs' if c.accepted_both else ''} |")
        out.append("")
    for title, probes in (("Added", diff.added), ("Removed", diff.removed)):
        if probes:
            out += [f"### {title}", ""] + [f"- `{p.id}` ({p.verdict})" for p in probes] + [""]
    return "\n".join(out)


def format_json(diff: Diff) -> str:
    return json.dumps(diff.to_json(), indent=1, sort_keys=True, ensure_ascii=False) + "\n"


#: The text formats (the pages are rendered by ``html``).
FORMATS = {"text": format_text, "markdown": format_markdown, "json": format_json}
