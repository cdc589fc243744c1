"""The autograd changelog nobody publishes: from the table alone (no torch needed), what changes at each boundary
between the torch releases the table describes — probe, fact, before → after, semantic or text, reason, link.

Each row's own statements are read release by release (``Entry.facts_for``), so a pattern row's change is
listed once, under its pattern; a device-specific change is listed for that device only when it differs from
the reference device's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from packaging.version import InvalidVersion, Version

from . import devices
from .expectations import PROBE_EXISTS, Entry, Table, torch_release
from .facts import SEMANTIC, is_wording, kind_of
from .tablefile import ABSENT
from .verdict import show


class ChangelogError(ValueError):
    """A release range the table cannot answer; str() is one line."""


@dataclass(frozen=True)
class Item:
    """One change of one fact of one row between two consecutive described releases."""

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

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class Changelog:
    described: list[str]
    start: str
    end: str
    items: list[Item] = field(default_factory=list)

    @property
    def boundaries(self) -> list[tuple[str, str]]:
        releases = [r for r in self.described if Version(self.start) <= Version(r) <= Version(self.end)]
        return list(zip(releases, releases[1:]))

    def by_family(self) -> dict[str, list[Item]]:
        """Items grouped by family; behaviour before wording, then by release and row."""
        out: dict[str, list[Item]] = {}
        for item in self.items:
            out.setdefault(item.family, []).append(item)
        for items in out.values():
            items.sort(key=lambda i: (is_wording(i.kind), Version(i.after_release), i.key, i.fact, i.device or ""))
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
    return torch_release(table.nearest(text)[0])


def _state(entry: Entry, release: Version, device: str) -> dict[str, Any] | None:
    if not entry.available(release):
        return None
    return entry.facts_for(release, device)[0]


def _block(entry: Entry, release: Version, device: str, fact: str) -> Any:
    """The conditioned block that states ``fact`` for this release and device, if one does."""
    blocks = [b for b in entry.when if fact in b.facts and b.matches(release, device) and b.torch is not None]
    return max(blocks, key=lambda b: b.specificity, default=None)


def _changes(entry: Entry, a: Version, b: Version, device: str) -> list[tuple[str, Any, Any, Any]]:
    """(fact, before, after, note-carrying block or entry base) for one row across one boundary."""
    sa, sb = _state(entry, a, device), _state(entry, b, device)
    if (sa is None) != (sb is None):
        return [(PROBE_EXISTS, sa is not None, sb is not None, entry.base)]
    if sa is None or sb is None:
        return []
    out = []
    for fact in sorted(set(sa) | set(sb)):
        before, after = sa.get(fact, ABSENT), sb.get(fact, ABSENT)
        if before != after:
            out.append((fact, before, after, _block(entry, b, device, fact) or _block(entry, a, device, fact)))
    return out


def build(table: Table, start: str | None = None, end: str | None = None) -> Changelog:
    """Every change the table states between consecutive described releases from ``start`` to ``end``."""
    if len(table.described) < 2:
        raise ChangelogError("the table describes fewer than two torch releases (see its _releases.toml)")
    first, last = _pick(table, start, table.described[0]), _pick(table, end, table.described[-1])
    if first > last:
        raise ChangelogError(f"--from {start} comes after --to {end}")
    log = Changelog([str(v) for v in table.described], str(first), str(last))
    for a, b in log.boundaries:
        va, vb = Version(a), Version(b)
        for entry in table.entries:
            if entry.base.torch is None and not any(blk.torch is not None for blk in entry.when):
                continue
            family = entry.key.split("/", 1)[0]
            reference = {(f, json.dumps(x, sort_keys=True), json.dumps(y, sort_keys=True))
                         for f, x, y, _ in _changes(entry, va, vb, devices.REFERENCE)}
            for device in devices.DEVICES:
                for fact, before, after, note in _changes(entry, va, vb, device):
                    if device != devices.REFERENCE and (
                            fact, json.dumps(before, sort_keys=True), json.dumps(after, sort_keys=True)) in reference:
                        continue
                    kind = SEMANTIC if fact == PROBE_EXISTS else kind_of(fact, default=SEMANTIC)
                    log.items.append(Item(a, b, family, entry.key, fact, kind, before, after,
                                          None if device == devices.REFERENCE else device,
                                          getattr(note, "reason", None), getattr(note, "link", None)))
    return log


def _value(value: Any) -> str:
    if value == ABSENT:
        return "(not observed)"
    return show(value)


def format_text(log: Changelog) -> str:
    lines = [f"autograd changelog: torch {log.start} → {log.end} ({len(log.boundaries)} release boundaries): "
             f"{len(log.items)} changes, {log.semantic} of behaviour"]
    for family, items in log.by_family().items():
        lines.append(f"\n[{family}]")
        for i in items:
            where = f" on {i.device}" if i.device else ""
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
    for family, items in log.by_family().items():
        out += [f"### {family}", "", "| release | probe | fact | kind | before | after | why |",
                "|---|---|---|---|---|---|---|"]
        for i in items:
            why = _md(i.reason or "") + (f" ([link]({i.link}))" if i.link else "")
            fact = i.fact + (f" (on {i.device})" if i.device else "")
            out.append(f"| {i.before_release} → {i.after_release} | `{_md(i.key)}` | `{_md(fact)}` | {i.kind} | "
                       f"`{_md(_value(i.before))}` | `{_md(_value(i.after))}` | {why} |")
        out.append("")
    return "\n".join(out)


def format_json(log: Changelog) -> str:
    return json.dumps({"described": log.described, "from": log.start, "to": log.end,
                       "items": [i.to_json() for i in log.items]}, indent=1, ensure_ascii=False) + "\n"

