"""The autograd changelog nobody publishes: from the table alone (no torch needed), what changes at each boundary
between the torch releases the table describes — probe, fact, before → after, semantic or text, reason, link.

Each row's own statements are read release by release (``Entry.facts_for``), so a pattern row's change is
listed once, under its pattern; a device- or mode-specific change is listed for that device or mode only when
it differs from the reference's (cpu, eager). Where the table records another mode, the changelog also counts,
per release, the facts in which that mode differs from eager. A probe's ``timeline`` (carried in reports) is
the same kind of ``Change``, read for one probe id instead of one row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from packaging.version import InvalidVersion, Version

from . import devices, modes
from .errors import ConformanceError
from .expectations import Entry, Table
from .facts import GATE_SEMANTIC, SEMANTIC, fails_gate, is_wording, kind_of
from .ids import without_mode
from .releases import torch_release
from .tablefile import ABSENT
from .verdict import show

#: The pseudo-fact of a change in whether a probe exists at all (an entry-level torch range).
PROBE_EXISTS = "(probe exists)"


class ChangelogError(ConformanceError, ValueError):
    """A release range the table cannot answer; str() is one line."""


@dataclass(frozen=True)
class Change:
    """One fact the table states differently for two consecutive described releases: of one row (in the
    changelog) or of one probe (its timeline in a report), with the reason and link of the block that says so."""

    before_release: str
    after_release: str
    family: str
    key: str
    fact: str
    kind: str
    before: Any
    after: Any
    device: str | None = None
    reason: str | None = None
    link: str | None = None
    mode: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    def timeline_json(self) -> dict[str, Any]:
        """The change as a probe's report timeline carries it (the probe names the rest)."""
        return {"before_release": self.before_release, "after_release": self.after_release, "fact": self.fact,
                "before": self.before, "after": self.after, "reason": self.reason, "link": self.link}


def _kind(fact: str) -> str:
    return SEMANTIC if fact == PROBE_EXISTS else kind_of(fact, default=SEMANTIC)


def timeline(table: Table, probe_id: str, device: str, mode: str = modes.REFERENCE) -> list[Change]:
    """What changes for one probe from one described release to the next, as the table states it: per
    fact, the value before and after and the reason of the row that says so (empty for most probes)."""
    probe_id = without_mode(probe_id, mode)
    if len(table.described) < 2:
        return []
    entries = table.matching(probe_id)
    if not any(e.base.torch is not None or any(b.torch is not None for b in e.when) for e in entries):
        return []
    family = probe_id.split("/", 1)[0]
    variant = {"device": None if device == devices.REFERENCE else device,
               "mode": None if mode == modes.REFERENCE else mode}
    states = [(release, table.resolve(probe_id, device, str(release), mode)) for release in table.described]
    changes = []
    for (a, ra), (b, rb) in zip(states, states[1:]):
        if (ra is None) != (rb is None):
            entry = next((e for e in entries if e.base.torch is not None), None)
            changes.append(Change(str(a), str(b), family, probe_id, PROBE_EXISTS, _kind(PROBE_EXISTS), ra is not None,
                                  rb is not None, reason=entry.base.reason if entry else None,
                                  link=entry.base.link if entry else None, **variant))
        if ra is None or rb is None:
            continue
        for name in sorted(set(ra.facts) | set(rb.facts)):
            before, after = ra.facts.get(name, ABSENT), rb.facts.get(name, ABSENT)
            if before == after:
                continue
            # The block in force after the boundary says why (also where it makes the fact absent); else a
            # conditioned value ends, and its own reason explains the change back.
            block = rb.blocks.get(name) if name in rb.blocks and rb.blocks[name].torch is not None else None
            if block is None and name in ra.blocks and ra.blocks[name].torch is not None:
                block = ra.blocks[name]
            changes.append(Change(str(a), str(b), family, probe_id, name, _kind(name), before, after,
                                  reason=block.reason if block else None, link=block.link if block else None,
                                  **variant))
    return changes


@dataclass
class Changelog:
    """The changes the table states between consecutive described releases from ``start`` to ``end``, and per
    release how another execution mode differs from eager."""

    described: list[str]
    start: str
    end: str
    items: list[Change] = field(default_factory=list)
    #: Per release in range, per mode other than eager: how many facts of how many rows differ from eager.
    mode_differences: dict[str, dict[str, tuple[int, int]]] = field(default_factory=dict)

    @property
    def boundaries(self) -> list[tuple[str, str]]:
        releases = [r for r in self.described if Version(self.start) <= Version(r) <= Version(self.end)]
        return list(zip(releases, releases[1:]))

    def by_family(self) -> dict[str, list[Change]]:
        """Items grouped by family; behaviour before wording, then by release and row."""
        out: dict[str, list[Change]] = {}
        for item in self.items:
            out.setdefault(item.family, []).append(item)
        for items in out.values():
            items.sort(key=lambda i: (is_wording(i.kind), Version(i.after_release), i.key, i.fact, i.device or "",
                                      i.mode or ""))
        return dict(sorted(out.items()))

    @property
    def semantic(self) -> int:
        return sum(1 for i in self.items if not is_wording(i.kind))


def _pick(table: Table, text: str | None, default: Version) -> Version:
    """The described release a bound names: ``2.8`` is its minor line's release, a release the table does not
    describe is the nearest one it does (as a run on that torch would be resolved); None gives ``default``."""
    if text is None:
        return default
    try:
        torch_release(text)
    except InvalidVersion:
        raise ChangelogError(f"not a torch version: {text!r}") from None
    chosen = torch_release(table.releases.nearest(text)[0])
    return next((v for v in table.described if v == chosen), chosen)  # 2.15 is printed as the release, 2.15.0


def _state(entry: Entry, release: Version, device: str, mode: str = modes.REFERENCE) -> dict[str, Any] | None:
    if not entry.available(release):
        return None
    return entry.facts_for(release, device, mode)[0]


def _block(entry: Entry, release: Version, device: str, fact: str, mode: str = modes.REFERENCE) -> Any:
    """The conditioned block that states ``fact`` for this release, device and mode, if one does."""
    blocks = [b for b in entry.when if fact in b.facts and b.matches(release, device, mode) and b.torch is not None]
    return max(blocks, key=lambda b: b.specificity, default=None)


def _changes(entry: Entry, a: Version, b: Version, device: str, mode: str = modes.REFERENCE
             ) -> list[tuple[str, Any, Any, Any]]:
    """(fact, before, after, note-carrying block or entry base) for one row across one boundary."""
    sa, sb = _state(entry, a, device, mode), _state(entry, b, device, mode)
    if (sa is None) != (sb is None):
        return [(PROBE_EXISTS, sa is not None, sb is not None, entry.base)]
    if sa is None or sb is None:
        return []
    out = []
    for fact in sorted(set(sa) | set(sb)):
        before, after = sa.get(fact, ABSENT), sb.get(fact, ABSENT)
        if before != after:
            out.append((fact, before, after, _block(entry, b, device, fact, mode) or _block(entry, a, device, fact, mode)))
    return out


def build(table: Table, start: str | None = None, end: str | None = None, semantic_only: bool = False
          ) -> Changelog:
    """Every change the table states between consecutive described releases from ``start`` to ``end`` (with
    ``semantic_only``, the changes of behaviour alone: wording left out)."""
    if len(table.described) < 2:
        raise ChangelogError("the table describes fewer than two torch releases (see its _releases.toml)")
    first, last = _pick(table, start, table.described[0]), _pick(table, end, table.described[-1])
    if first > last:
        raise ChangelogError(f"--from {start} comes after --to {end}")
    log = Changelog([str(v) for v in table.described], str(first), str(last))
    variants = [(d, m) for m in modes.MODES for d in devices.DEVICES]
    for a, b in log.boundaries:
        va, vb = Version(a), Version(b)
        for entry in table.entries:
            if entry.base.torch is None and not any(blk.torch is not None for blk in entry.when):
                continue
            family = entry.key.split("/", 1)[0]
            seen: dict[tuple[str, str], set[tuple[str, str, str]]] = {}
            for device, mode in variants:
                # A variant's change is listed only where its parents (the same device in eager mode, the
                # reference device in the same mode) do not already list it.
                parents = {(devices.REFERENCE, modes.REFERENCE), (device, modes.REFERENCE), (devices.REFERENCE, mode)}
                listed = set().union(*(seen.get(p, set()) for p in parents - {(device, mode)}))
                own = seen.setdefault((device, mode), set())
                for fact, before, after, note in _changes(entry, va, vb, device, mode):
                    change = (fact, json.dumps(before, sort_keys=True), json.dumps(after, sort_keys=True))
                    own.add(change)
                    if change in listed:
                        continue
                    log.items.append(Change(a, b, family, entry.key, fact, _kind(fact), before, after,
                                          None if device == devices.REFERENCE else device,
                                          getattr(note, "reason", None), getattr(note, "link", None),
                                          None if mode == modes.REFERENCE else mode))
    in_range = [str(v) for v in table.described if first <= v <= last]
    moded = [e for e in table.entries if any(blk.mode for blk in e.when)]
    for release in in_range:
        for mode in sorted({blk.mode for e in moded for blk in e.when if blk.mode}):
            recorded = table.releases.mode_recorded
            if mode in recorded and Version(release) not in recorded[mode]:
                continue  # the mode was not recorded on this release: the table cannot say how it differs there
            rows = facts = 0
            for entry in moded:
                eager, other = _state(entry, Version(release), devices.REFERENCE), \
                    _state(entry, Version(release), devices.REFERENCE, mode)
                if eager is None or other is None:
                    continue
                differing = sum(1 for f in set(eager) | set(other) if eager.get(f, ABSENT) != other.get(f, ABSENT))
                rows, facts = rows + bool(differing), facts + differing
            log.mode_differences.setdefault(release, {})[mode] = (facts, rows)
    if semantic_only:
        log.items = [i for i in log.items if fails_gate(i.kind, GATE_SEMANTIC)]
    return log


def _value(value: Any) -> str:
    if value == ABSENT:
        return "(not observed)"
    return show(value)


def format_text(log: Changelog) -> str:
    lines = [f"autograd changelog: torch {log.start} → {log.end} ({len(log.boundaries)} release boundaries): "
             f"{len(log.items)} changes, {log.semantic} of behaviour"]
    for release, per_mode in log.mode_differences.items():
        for mode, (facts, rows) in per_mode.items():
            lines.append(f"  on torch {release}, {mode} mode differs from eager in {facts} facts of {rows} rows")
    for family, items in log.by_family().items():
        lines.append(f"\n[{family}]")
        for i in items:
            where = (f" on {i.device}" if i.device else "") + (f" in {i.mode} mode" if i.mode else "")
            what = (("probe added" if i.after else "probe removed") if i.fact == PROBE_EXISTS
                    else f"{i.fact} [{i.kind}]: {_value(i.before)} → {_value(i.after)}")
            lines.append(f"  {i.before_release} → {i.after_release}{where}  {i.key}  {what}")
            if i.reason:
                lines.append(f"      because: {i.reason}" + (f" ({i.link})" if i.link else ""))
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>")


def format_markdown(log: Changelog) -> str:
    out = [f"## Autograd changelog: torch {log.start} → {log.end}", "",
           f"{len(log.items)} changes across {len(log.boundaries)} release boundaries, {log.semantic} of behaviour "
           f"(the rest wording). From the expectations table of autograd-conformance.", ""]
    if log.mode_differences:
        out += ["| release | " + " | ".join(f"{m} mode: facts (rows) that differ from eager"
                                            for m in next(iter(log.mode_differences.values()))) + " |",
                "|---|" + "---|" * len(next(iter(log.mode_differences.values())))]
        out += [f"| {release} | " + " | ".join(f"{f} ({r})" for f, r in per_mode.values()) + " |"
                for release, per_mode in log.mode_differences.items()]
        out.append("")
    for family, items in log.by_family().items():
        out += [f"### {family}", "", "| release | probe | fact | kind | before | after | why |",
                "|---|---|---|---|---|---|---|"]
        for i in items:
            why = _md(i.reason or "") + (f" ([link]({i.link}))" if i.link else "")
            fact = i.fact + (f" (on {i.device})" if i.device else "") + (f" ({i.mode} mode)" if i.mode else "")
            out.append(f"| {i.before_release} → {i.after_release} | `{_md(i.key)}` | `{_md(fact)}` | {i.kind} | "
                       f"`{_md(_value(i.before))}` | `{_md(_value(i.after))}` | {why} |")
        out.append("")
    return "\n".join(out)


def format_json(log: Changelog) -> str:
    return json.dumps({"described": log.described, "from": log.start, "to": log.end,
                       "items": [i.to_json() for i in log.items],
                       "mode_differences": {r: {m: {"facts": f, "rows": n} for m, (f, n) in per.items()}
                                            for r, per in log.mode_differences.items()}},
                      indent=1, ensure_ascii=False) + "\n"



#: The text formats (the pages are rendered by ``html``).
FORMATS = {"text": format_text, "markdown": format_markdown, "json": format_json}
