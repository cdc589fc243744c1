"""Cross-run diff: what torch did differently between two saved reports, fact by fact."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from packaging.version import Version

from . import opdb
from .changelog import PROBE_EXISTS
from .modes import HAZARDS
from .facts import GATE_SEMANTIC, SEMANTIC, TEXT, fails_gate, is_compared, is_wording, kind_of
from .report import Report, RunInfo
from .result import ProbeResult
from .releases import torch_release
from .text import probes
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
    #: Why the table says this fact changes between the two runs' releases (its block's reason and link), if it
    #: says so: taken from the after run's timeline of the probe.
    reason: str | None = None
    link: str | None = None
    #: What the change is about (an index into ``IMPACTS``): the diff shows the most pressing first.
    impact: int = 0

    @property
    def accepted_both(self) -> bool:
        return self.accepted_before and self.accepted_after

    @property
    def category(self) -> str:
        """``new-`` or ``accepted-`` (the table states the change in both runs), then ``semantic`` or ``text``."""
        return ("accepted-" if self.accepted_both else "new-") + ("text" if is_wording(self.kind) else "semantic")


#: What a change is about, most pressing first: gradient values and semantics, then whether an error is raised,
#: then messages and warnings, then which APIs exist, then the bookkeeping of torch's own test database (what
#: its OpInfos declare, which ops it holds).
IMPACTS = ("gradient values and semantics", "errors raised or not", "messages and warnings", "API surface",
           "torch's test-database bookkeeping")


def impact(fact: str, family: str) -> int:
    """The ``IMPACTS`` index of a change of ``fact`` in a probe of ``family``."""
    attribute = fact.rsplit(".", 1)[-1]
    if attribute == "declared" or fact == PROBE_EXISTS and family in opdb.FAMILIES:
        return 4
    if family == "api" or attribute == "present":
        return 3
    if is_wording(kind_of(fact, default=SEMANTIC)):
        return 2
    if attribute == "raises":
        return 1
    return 0


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
    #: For a compile probe, how much its difference from eager matters as the after run's table states it.
    hazard: str | None = None

    @property
    def kind(self) -> str:
        """The probe's change is wording only if every fact that changed is wording."""
        return TEXT if all(is_wording(c.kind) for c in self.changes) else SEMANTIC

    @property
    def impact(self) -> int:
        """The most pressing of its changes' impacts."""
        return min((c.impact for c in self.changes), default=0)

    @property
    def category(self) -> str:
        """The most pressing category among its changes."""
        order = list(CATEGORIES)
        return min((c.category for c in self.changes), key=order.index)


@dataclass
class Cause:
    """One cause of changes: the reason and link of the table's block that states them (None: not stated), the
    most pressing impact among them, and the changes, per probe."""

    reason: str | None
    link: str | None
    impact: int
    #: The candidate run's table expects these values (a reason may still be missing).
    stated: bool = False
    changes: list[tuple["ProbeChange", FactChange]] = field(default_factory=list)

    @property
    def why(self) -> str:
        if self.reason:
            return self.reason
        return "stated by the table, without a reason" if self.stated else "not stated by the table: to decide on"

    @property
    def probes(self) -> list[str]:
        return sorted({p.id for p, _ in self.changes})


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
    #: Removed probes the table says no longer exist on the after run's release (their timeline says so).
    removal_stated: set[str] = field(default_factory=set)
    #: Why either report cannot stand for a full run (then probes it did not run show as added or removed).
    warnings: list[str] = field(default_factory=list)
    #: Where the two reports were read from (for links), when known.
    paths: tuple[str, str] | None = None

    def causes(self) -> list[Cause]:
        """The changes grouped by cause (the table's reason and link, or none), most pressing first, then the
        cause that moves the most probes."""
        groups: dict[tuple[Any, ...], Cause] = {}
        for p in self.changed:
            for c in p.changes:
                key = (c.impact, c.accepted_after, c.reason, c.link)
                groups.setdefault(key, Cause(c.reason, c.link, c.impact, c.accepted_after)).changes.append((p, c))
        return sorted(groups.values(), key=lambda c: (c.impact, c.stated, -len(c.probes), c.reason or ""))

    @property
    def decided(self) -> bool:
        """Whether the table states every change (the candidate run's table expected each new value, and each
        probe added or removed): nothing is left to decide."""
        return (all(c.accepted_after for p in self.changed for c in p.changes)
                and all(p.verdict == "pass" for p in self.added)
                and all(p.id in self.removal_stated for p in self.removed))

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


def _stated(probe: ProbeResult, fact: str, low: Version, high: Version) -> tuple[str | None, str | None]:
    """The reason and link the table gives (in ``probe``'s timeline) for a change of ``fact`` at a release
    boundary between ``low`` and ``high``: the boundary nearest ``high``."""
    found = [t for t in probe.timeline if t.get("fact") == fact
             and low <= torch_release(t["before_release"]) and torch_release(t["after_release"]) <= high]
    if not found:
        return None, None
    last = max(found, key=lambda t: torch_release(t["after_release"]))
    return last.get("reason"), last.get("link")


def compute(before: Report, after: Report, ignore: list[str] | None = None) -> Diff:
    """Compare observations (not verdicts): probes added, removed, changed (per fact), unchanged; each change
    with the reason and link the table gives for it, and its impact. Changed probes come most pressing first."""
    ignore = list(ignore or [])
    low, high = sorted((torch_release(before.run_info.torch_version), torch_release(after.run_info.torch_version)))
    a, b = _comparable(before), _comparable(after)
    diff = Diff(before.run_info, after.run_info, ignored=ignore)
    for side, report in (("before", before), ("after", after)):
        why = report.not_a_baseline()
        if why:
            diff.warnings.append(f"{side} ({report.run_info.run_name}) is {why}: probes it did not run show as "
                                 f"{'added' if side == 'before' else 'removed'}")
    diff.added = [b[i] for i in sorted(b.keys() - a.keys())]
    diff.removed = [a[i] for i in sorted(a.keys() - b.keys())]
    diff.removal_stated = {p.id for p in diff.removed if any(  # the table says this probe changes here
        low <= torch_release(t["before_release"]) and torch_release(t["after_release"]) <= high for t in p.timeline)}
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
            reason, link = _stated(pb, name, low, high)
            changes.append(FactChange(
                name, _kind(name), oa.get(name), ob.get(name), name in oa, name in ob,
                accepted_before=pa.expectation is not None and name not in mismatched_a,
                accepted_after=pb.expectation is not None and name not in mismatched_b,
                source_after=pb.expectation.sources.get(name) if pb.expectation else None,
                reason=reason, link=link, impact=impact(name, pb.family)))
        if changes:
            diff.changed.append(ProbeChange(pid, pb.section, pa.verdict, pb.verdict, changes,
                                            pb.expectation.hazard if pb.expectation else None))
        else:
            diff.unchanged += 1
    rank = {h: i for i, h in enumerate(HAZARDS)}  # a compile probe's silent difference first
    diff.changed.sort(key=lambda p: (rank.get(p.hazard or "", len(rank)), p.impact, p.family, p.id))
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
             + (f"; ignoring {', '.join(diff.ignored)}" if diff.ignored else ""),
             "every change is stated by the table" if diff.decided else "some changes are not stated by the table: "
             "decide on them (autograd-conformance accept states them in your table)"]
    lines += [f"warning: {w}" for w in diff.warnings]
    shown = None
    for cause in diff.causes():
        if cause.impact != shown:
            shown = cause.impact
            lines.append(f"\n[{IMPACTS[cause.impact]}]")
        lines.append(f"cause: {cause.why}{f' ({cause.link})' if cause.link else ''} — {probes(len(cause.probes))}")
        for p, c in cause.changes:
            hazard = f" (compile: {p.hazard})" if p.hazard else ""
            lines.append(f"  {p.id}{hazard}  {c.fact} [{c.kind}]: {_value(c, 'before')} → {_value(c, 'after')}")
    if diff.added or diff.removed:
        lines.append("")
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
    out += ["Every change is stated by the table." if diff.decided else
            "**Some changes are not stated by the table**: decide on them.", ""]
    shown = None
    for cause in diff.causes():
        if cause.impact != shown:
            shown = cause.impact
            out += [f"### {IMPACTS[cause.impact]}", ""]
        why = (_md(cause.why) if cause.stated or cause.reason else f"**{cause.why}**") + (
            f" ([link]({cause.link}))" if cause.link else "")
        out += [f"<details><summary>{why} — {probes(len(cause.probes))}</summary>", "",
                "| probe | fact | kind | before | after |", "|---|---|---|---|---|"]
        out += [f"| `{_md(p.id)}` | `{_md(c.fact)}` | {c.kind} | `{_md(_value(c, 'before'))}` | "
                f"`{_md(_value(c, 'after'))}` |" for p, c in cause.changes]
        out += ["", "</details>", ""]
    for title, listed in (("Added", diff.added), ("Removed", diff.removed)):
        if listed:
            out += [f"### {title}", ""] + [f"- `{p.id}` ({p.verdict})" for p in listed] + [""]
    return "\n".join(out)


def format_json(diff: Diff) -> str:
    return json.dumps(diff.to_json(), indent=1, sort_keys=True, ensure_ascii=False) + "\n"


#: The text formats (the pages are rendered by ``html``).
FORMATS = {"text": format_text, "markdown": format_markdown, "json": format_json}
