"""The autograd changelog nobody publishes, as release notes: from the table alone (no torch needed), what
changes at each boundary between the torch releases the table describes, grouped by cause — the torch change
(a registered link that shipped at that boundary) or, where none is known, the stated reason — each with its
kind, size, an example and the command that runs it; a one-screen summary first.

Each row's own statements are read release by release (``Entry.facts_for``), so a pattern row's change is
listed once, under its pattern; a device- or mode-specific change is listed for that device or mode only when
it differs from the reference's (cpu, eager). Eager mode by default; where the table records another mode and
it is asked for, the changelog also counts, per release, the facts in which that mode differs from eager. A
probe's ``timeline`` (carried in reports) is the same kind of ``Change``, read for one probe id.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from packaging.version import InvalidVersion, Version

from . import devices, modes, opdb
from .errors import ConformanceError
from .expectations import Entry, Table
from .facts import GATE_SEMANTIC, SEMANTIC, fails_gate, is_wording, kind_of
from .ids import without_mode
from .links import Link, kind_of_url, label_of
from .releases import torch_release
from .tablefile import ABSENT
from .text import many, probes, shorten
from .verdict import differences, show

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
    #: The torch change behind it in a few words, where the block names one (``cause``).
    cause: str | None = None
    #: For a mode's change, how much its difference from eager matters (``modes.HAZARDS``).
    hazard: str | None = None

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
            # The block in force after the boundary says why (also where it makes the fact absent); else a block
            # of the row that starts at this boundary (the change that ends an earlier block); else a
            # conditioned value ends, and its own reason explains the change back.
            block = rb.blocks.get(name) if name in rb.blocks and rb.blocks[name].torch is not None else None
            if block is None:
                block = next((blk for e in entries if (blk := _began(e, a, b, device, mode))), None)
            if block is None and name in ra.blocks and ra.blocks[name].torch is not None:
                block = ra.blocks[name]
            changes.append(Change(str(a), str(b), family, probe_id, name, _kind(name), before, after,
                                  reason=block.reason if block else None, link=block.link if block else None,
                                  cause=block.cause if block else None, **variant))
    return changes


#: What a change is about, for a reader choosing what to read (``--kind``), most consequential first.
TOPICS = {"values": "gradient and output values, checks that hold or fail",
          "errors": "what raises, and what no longer does",
          "api": "graph and API surface: nodes, leaves, flags, versions, what exists",
          "messages": "error and warning texts",
          "test-database": "what PyTorch's OpInfo database declares (entries, skips, claims)"}
_VALUE_ATTRS = ("grad", "values", "value", "holds", "finite")


def topic(family: str, fact: str) -> str:
    """The topic of a change of ``fact`` in a probe of ``family`` (one of ``TOPICS``)."""
    if fact == PROBE_EXISTS:
        return "test-database" if family in opdb.FAMILIES else "api"
    attr = fact.rsplit(".", 1)[-1]
    if attr == "declared" or fact.split(".", 1)[0] in ("claims", "sample"):
        return "test-database"
    if is_wording(kind_of(fact, default=SEMANTIC)):
        return "messages"
    if attr == "raises":
        return "errors"
    return "values" if attr in _VALUE_ATTRS else "api"


@dataclass
class Cause:
    """The changes at one release boundary that one torch change explains: its link (the PR that made it, an
    issue, a discussion) where the table gives one that shipped at this boundary, else its reason."""

    before_release: str
    after_release: str
    link: str | None
    #: What the registry says of the link (``_links.toml``), where it is registered.
    about: Link | None
    #: The blocks' own name for the change, where they share one and no link is the change.
    named: str | None = None
    changes: list[Change] = field(default_factory=list)

    @property
    def probes(self) -> list[str]:
        return sorted({c.key for c in self.changes})

    @property
    def reasons(self) -> list[str]:
        """The distinct reasons of its changes, most frequent first."""
        counted = Counter(c.reason for c in self.changes if c.reason)
        return [r for r, _ in counted.most_common()]

    @property
    def topic(self) -> str:
        counted = Counter(topic(c.family, c.fact) for c in self.changes)
        return min(counted, key=lambda t: (-counted[t], list(TOPICS).index(t)))

    @property
    def semantic(self) -> bool:
        return any(not is_wording(c.kind) for c in self.changes)

    @property
    def hazard(self) -> str | None:
        """For a mode's changes, the most severe hazard they state (silent before loud before cosmetic)."""
        stated = {c.hazard for c in self.changes if c.hazard}
        return next((h for h in modes.HAZARDS if h in stated), None)

    @property
    def example(self) -> Change:
        """A change that shows what the cause does: of behaviour where there is one, on the shortest id."""
        return min(self.changes, key=lambda c: (is_wording(c.kind), c.fact == PROBE_EXISTS, len(c.key), c.key,
                                                c.fact))

    @property
    def title(self) -> str:
        """The cause in a few words: the link's label and title, else its reason (shortened)."""
        if self.about is not None:
            return f"{self.about.label}: {self.about.title}"
        if self.link is not None:
            return label_of(self.link)
        if self.named:
            return self.named
        return shorten(self.reasons[0], 110) if self.reasons else "(no reason stated)"

    def to_json(self) -> dict[str, Any]:
        example = self.example
        return {"before_release": self.before_release, "after_release": self.after_release, "link": self.link,
                "link_kind": self.about.kind if self.about else (kind_of_url(self.link) if self.link else None),
                "link_title": self.about.title if self.about else None,
                "shipped": str(self.about.shipped) if self.about and self.about.shipped else None,
                "kind": self.topic, "hazard": self.hazard, "probes": self.probes, "facts": len(self.changes), "reasons": self.reasons,
                "example": example.to_json(), "repro": repro_command(example.key, example.device),
                "changes": [c.to_json() for c in self.changes]}


def repro_command(key: str, device: str | None = None) -> str:
    """The command that runs a table key's probes on this machine's torch (a ``*`` device part as ``device``,
    else cpu)."""
    name = key.split("/", 1)[1]
    if "[" in name:
        test, params = name.split("[", 1)
        parts = [(device or devices.REFERENCE) if p == "*" else p for p in params.rstrip("]").split("-")]
        name = f"{test}[{'-'.join(parts)}]" if "*" not in parts and "?" not in name else test
    return f'autograd-conformance run -k "{name}"'


@dataclass
class Changelog:
    """The changes the table states between consecutive described releases from ``start`` to ``end`` (in the
    execution modes asked for), grouped into causes, and per release how another mode differs from eager."""

    described: list[str]
    start: str
    end: str
    items: list[Change] = field(default_factory=list)
    #: Per release in range, per mode other than eager: how many facts of how many rows differ from eager.
    mode_differences: dict[str, dict[str, tuple[int, int]]] = field(default_factory=dict)
    modes: tuple[str, ...] = (modes.REFERENCE,)
    links: dict[str, Link] = field(default_factory=dict)

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

    def causes(self) -> dict[tuple[str, str], list[Cause]]:
        """Per boundary, its causes: behaviour first, then the most probes first. A change joins the cause of
        its link when the link is the change of this boundary (a registered PR that shipped here, or any issue
        or discussion), else the cause of its reason."""
        out: dict[tuple[str, str], dict[tuple[str, str], Cause]] = {b: {} for b in self.boundaries}
        for item in self.items:
            about = self.links.get(item.link) if item.link else None
            link = item.link if item.link and (about is None or about.ships_at(Version(item.after_release))) else None
            ident = ("link", link) if link else ("cause", item.cause) if item.cause else ("reason", item.reason or "")
            boundary = (item.before_release, item.after_release)
            cause = out[boundary].get(ident)
            if cause is None:
                cause = out[boundary][ident] = Cause(*boundary, link, about if link else None,
                                                     item.cause if ident[0] == "cause" else None)
            cause.changes.append(item)
        rank = {h: i for i, h in enumerate(modes.HAZARDS)}  # a mode's silent differences before everything
        return {b: sorted(found.values(), key=lambda c: (rank.get(c.hazard or "", len(rank)), not c.semantic,
                                                         -len(c.probes), c.title))
                for b, found in out.items()}

    @property
    def semantic(self) -> int:
        return sum(1 for i in self.items if not is_wording(i.kind))


def _pick(table: Table, text: str | None, default: Version, flag: str) -> Version:
    """The described release a bound names: a described release, or a release of a described minor line
    (``2.8`` or ``2.8.1`` is 2.8's described release); anything else is a one-line error naming the releases
    the table describes."""
    if text is None:
        return default
    try:
        version = torch_release(text)
    except InvalidVersion:
        raise ChangelogError(f"{flag} {text}: not a torch version") from None
    described = table.described
    chosen = next((v for v in described if v == version or v.release[:2] == version.release[:2]), None)
    if chosen is not None:
        return chosen
    where = ("newer than the newest release" if version > described[-1] else
             "older than the oldest release" if version < described[0] else "not a release")
    span = ", ".join(str(v) for v in described)
    raise ChangelogError(f"{flag} {text}: torch {version} is {where} the table describes ({span}); name one of "
                         f"them, or its minor version (e.g. {described[-1].major}.{described[-1].minor})")


def _state(entry: Entry, release: Version, device: str, mode: str = modes.REFERENCE,
           backend: str = modes.DEFAULT_BACKEND) -> dict[str, Any] | None:
    if not entry.available(release):
        return None
    return entry.facts_for(release, device, mode, backend)[0]


def _block(entry: Entry, release: Version, device: str, fact: str, mode: str = modes.REFERENCE,
           backend: str = modes.DEFAULT_BACKEND) -> Any:
    """The conditioned block that states ``fact`` for this release, device and mode, if one does."""
    blocks = [b for b in entry.when
              if fact in b.facts and b.matches(release, device, mode, backend) and b.torch is not None]
    return max(blocks, key=lambda b: b.specificity, default=None)


def _changes(entry: Entry, a: Version, b: Version, device: str, mode: str = modes.REFERENCE,
             backend: str = modes.DEFAULT_BACKEND) -> list[tuple[str, Any, Any, Any]]:
    """(fact, before, after, note-carrying block or entry base) for one row across one boundary (compile mode's
    under ``backend``)."""
    sa, sb = _state(entry, a, device, mode, backend), _state(entry, b, device, mode, backend)
    if (sa is None) != (sb is None):
        return [(PROBE_EXISTS, sa is not None, sb is not None, entry.base)]
    if sa is None or sb is None:
        return []
    out = []
    for fact in sorted(set(sa) | set(sb)):
        before, after = sa.get(fact, ABSENT), sb.get(fact, ABSENT)
        if before != after:
            out.append((fact, before, after, _block(entry, b, device, fact, mode, backend)
                        or _began(entry, a, b, device, mode, backend)
                        or _block(entry, a, device, fact, mode, backend)))
    return out


def _began(entry: Entry, a: Version, b: Version, device: str, mode: str = modes.REFERENCE,
           backend: str = modes.DEFAULT_BACKEND) -> Any:
    """The one version block of the row that applies from ``b`` and not at ``a``: the change of this boundary,
    which explains a fact that an earlier block stops stating there (None where none or several begin)."""
    began = [blk for blk in entry.when if blk.torch is not None and blk.matches(b, device, mode, backend)
             and not blk.matches(a, device, mode, backend)]
    return began[0] if len(began) == 1 else None


def build(table: Table, start: str | None = None, end: str | None = None, semantic_only: bool = False,
          mode: str = modes.REFERENCE, families: list[str] | None = None, kinds: list[str] | None = None,
          backend: str = modes.DEFAULT_BACKEND) -> Changelog:
    """Every change the table states between consecutive described releases from ``start`` to ``end``: in eager
    mode (the default), in another ``mode`` (compile mode's under ``backend``), or in ``all``; of the given
    families and topics (``TOPICS``) only where asked; with ``semantic_only``, the changes of behaviour alone
    (wording left out)."""
    if backend not in modes.BACKENDS:
        raise ChangelogError(f"--backend {backend}: use one of {', '.join(modes.BACKENDS)}")
    if len(table.described) < 2:
        raise ChangelogError("the table describes fewer than two torch releases (see its _releases.toml)")
    if mode != "all" and not modes.is_mode(mode):
        raise ChangelogError(f"--mode {mode}: use one of {', '.join(modes.MODES)} or all")
    unknown = sorted(set(kinds or ()) - set(TOPICS))
    if unknown:
        raise ChangelogError(f"--kind {', '.join(unknown)}: use one of {', '.join(TOPICS)}")
    first = _pick(table, start, table.described[0], "--from")
    last = _pick(table, end, table.described[-1], "--to")
    if first > last:
        raise ChangelogError(f"--from {start} comes after --to {end}")
    chosen_modes = modes.MODES if mode == "all" else (mode,)
    log = Changelog([str(v) for v in table.described], str(first), str(last), modes=tuple(chosen_modes),
                    links=dict(table.links))
    variants = [(d, m) for m in modes.MODES for d in devices.DEVICES]
    for a, b in log.boundaries:
        va, vb = Version(a), Version(b)
        for entry in table.entries:
            if entry.base.torch is None and not any(blk.torch is not None for blk in entry.when):
                continue
            family = entry.key.split("/", 1)[0]
            if families and family not in families:
                continue
            seen: dict[tuple[str, str], set[tuple[str, str, str]]] = {}
            for device, variant_mode in variants:
                # A variant's change is listed only where its parents (the same device in eager mode, the
                # reference device in the same mode) do not already list it.
                parents = {(devices.REFERENCE, modes.REFERENCE), (device, modes.REFERENCE),
                           (devices.REFERENCE, variant_mode)}
                listed = set().union(*(seen.get(p, set()) for p in parents - {(device, variant_mode)}))
                own = seen.setdefault((device, variant_mode), set())
                for fact, before, after, note in _changes(entry, va, vb, device, variant_mode, backend):
                    change = (fact, json.dumps(before, sort_keys=True), json.dumps(after, sort_keys=True))
                    own.add(change)
                    if change in listed or variant_mode not in chosen_modes:
                        continue
                    log.items.append(Change(a, b, family, entry.key, fact, _kind(fact), before, after,
                                          None if device == devices.REFERENCE else device,
                                          getattr(note, "reason", None), getattr(note, "link", None),
                                          None if variant_mode == modes.REFERENCE else variant_mode,
                                          getattr(note, "cause", None), getattr(note, "hazard", None)))
    in_range = [str(v) for v in table.described if first <= v <= last]
    moded = [e for e in table.entries if any(blk.mode for blk in e.when)]
    for release in in_range:
        for other in sorted({blk.mode for e in moded for blk in e.when if blk.mode} & set(chosen_modes)):
            recorded = table.releases.mode_recorded
            if other in recorded and Version(release) not in recorded[other]:
                continue  # the mode was not recorded on this release: the table cannot say how it differs there
            if other == modes.COMPILE and not table.releases.backend_recorded_on(backend, release):
                continue
            rows = facts = 0
            for entry in moded:
                eager, there = _state(entry, Version(release), devices.REFERENCE), \
                    _state(entry, Version(release), devices.REFERENCE, other, backend)
                if eager is None or there is None:
                    continue
                differing = sum(1 for f in set(eager) | set(there) if eager.get(f, ABSENT) != there.get(f, ABSENT))
                rows, facts = rows + bool(differing), facts + differing
            log.mode_differences.setdefault(release, {})[other] = (facts, rows)
    if semantic_only:
        log.items = [i for i in log.items if fails_gate(i.kind, GATE_SEMANTIC)]
    if kinds:
        log.items = [i for i in log.items if topic(i.family, i.fact) in kinds]
    return log


def _value(value: Any) -> str:
    if value == ABSENT:
        return "(not observed)"
    return show(value)


def change_line(change: Change) -> str:
    """One change as a reader reads it: the fact, and before → after, a long string as its differing span."""
    if change.fact == PROBE_EXISTS:
        return "probe added" if change.after else "probe removed"
    where = (f" on {change.device}" if change.device else "") + (f" in {change.mode} mode" if change.mode else "")
    if isinstance(change.before, str) and isinstance(change.after, str) and max(
            len(change.before), len(change.after)) > 60:
        return f"{change.fact}{where}: {differences(change.before, change.after)[0]}"
    return f"{change.fact}{where}: {shorten(_value(change.before), 70)} → {shorten(_value(change.after), 70)}"


def summary(log: Changelog, causes: dict[tuple[str, str], list[Cause]] | None = None) -> dict[str, Any]:
    """The range on one screen: causes, probes and facts in all; per topic and per release boundary the causes
    and probes; the biggest causes."""
    causes = causes if causes is not None else log.causes()
    every = [c for found in causes.values() for c in found]
    per_topic = {t: [c for c in every if c.topic == t] for t in TOPICS}
    return {
        "causes": len(every), "probes": len({c.key for c in log.items}), "facts": len(log.items),
        "behaviour": log.semantic,
        "topics": {t: {"causes": len(found), "probes": len({k for c in found for k in c.probes})}
                   for t, found in per_topic.items() if found},
        "boundaries": {f"{a} → {b}": {"causes": len(found), "probes": len({k for c in found for k in c.probes}),
                                       "topics": dict(Counter(c.topic for c in found).most_common())}
                       for (a, b), found in causes.items()},
        "biggest": sorted(every, key=lambda c: (-len(c.probes), Version(c.after_release), c.title))[:8],
    }


def _mode_words(log: Changelog) -> str:
    return "all modes" if len(log.modes) > 1 else f"{log.modes[0]} mode"


def format_text(log: Changelog, detail: bool = False) -> str:
    """The release notes: a one-screen summary, then per boundary its causes, each stated once with its link,
    size, kind, reason, an example with the command that runs it, and its probes (every fact with ``detail``)."""
    causes = log.causes()
    head = summary(log, causes)
    lines = [f"autograd changelog: torch {log.start} → {log.end}, {_mode_words(log)} "
             f"({len(log.boundaries)} release boundar{'y' if len(log.boundaries) == 1 else 'ies'}): "
             f"{many(head['causes'], 'cause')} move {probes(head['probes'])}, {many(head['facts'], 'fact')} "
             f"({head['behaviour']} of behaviour)"]
    for release, per_mode in log.mode_differences.items():
        for mode, (facts, rows) in per_mode.items():
            lines.append(f"  on torch {release}, {mode} mode differs from eager in {facts} facts of {rows} rows")
    if head["topics"]:
        lines.append("by kind: " + " · ".join(f"{t} {many(v['causes'], 'cause')} ({probes(v['probes'])})"
                                              for t, v in head["topics"].items()))
        lines.append("per release:")
        for boundary, v in head["boundaries"].items():
            if v["causes"]:
                lines.append(f"  {boundary:<18} {many(v['causes'], 'cause'):>10} {probes(v['probes']):>11}  "
                             + ", ".join(f"{t} {n}" for t, n in v["topics"].items()))
        lines.append("biggest:")
        for c in head["biggest"]:
            lines.append(f"  {c.after_release:<7} {probes(len(c.probes)):>11}  [{c.topic}] {shorten(c.title, 90)}")
    for (a, b), found in causes.items():
        if not found:
            continue
        lines.append(f"\n== torch {a} → {b}: {many(len(found), 'cause')}, "
                     f"{probes(len({k for c in found for k in c.probes}))} ==")
        for c in found:
            lines += _cause_text(c, detail)
    return "\n".join(lines) + "\n"


def _cause_text(c: Cause, detail: bool) -> list[str]:
    hazard = f", compile: {c.hazard}" if c.hazard else ""
    out = [f"\n[{c.topic}{hazard}] {c.title}  ({probes(len(c.probes))}, {many(len(c.changes), 'fact')})"]
    if c.link:
        out.append(f"    link: {c.link}" + (f" (shipped in {c.about.shipped})" if c.about and c.about.shipped else "")
                   + (f"; {c.about.note}" if c.about and c.about.note else ""))
    reasons = c.reasons
    if reasons and (c.link or c.about or len(reasons) > 1 or shorten(reasons[0], 110) != reasons[0]):
        out.append(f"    why: {reasons[0]}" + (f" (+{len(reasons) - 1} probe-specific reasons)"
                                                if len(reasons) > 1 else ""))
    example = c.example
    out.append(f"    e.g. {example.key}  {change_line(example)}")
    out.append(f"         {repro_command(example.key, example.device)}")
    if detail:
        out += [f"    {i.key}  {change_line(i)}" for i in sorted(c.changes, key=lambda i: (i.key, i.fact))]
    else:
        shown = c.probes[:4]
        more = f", … (+{len(c.probes) - 4}; --detail lists every fact)" if len(c.probes) > 4 else ""
        out.append(f"    probes: {', '.join(shown)}{more}")
    return out


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>")


def format_markdown(log: Changelog, detail: bool = False) -> str:
    """The release notes as Markdown: the summary tables, then per boundary its causes, each with its probes
    in a collapsible list (every fact with ``detail``)."""
    causes = log.causes()
    head = summary(log, causes)
    out = [f"## Autograd changelog: torch {log.start} → {log.end} ({_mode_words(log)})", "",
           f"{many(head['causes'], 'cause')} move {probes(head['probes'])} ({many(head['facts'], 'fact')}, "
           f"{head['behaviour']} of behaviour) across {len(log.boundaries)} release boundaries. From the "
           f"expectations table of autograd-conformance.", ""]
    if head["topics"]:
        out += ["| kind | causes | probes |", "|---|---|---|"]
        out += [f"| {t} | {v['causes']} | {v['probes']} |" for t, v in head["topics"].items()]
        out += ["", "| release | causes | probes | kinds |", "|---|---|---|---|"]
        out += [f"| {b} | {v['causes']} | {v['probes']} | {', '.join(f'{t} {n}' for t, n in v['topics'].items())} |"
                for b, v in head["boundaries"].items() if v["causes"]]
        out.append("")
    if log.mode_differences:
        out += ["| release | " + " | ".join(f"{m} mode: facts (rows) that differ from eager"
                                            for m in next(iter(log.mode_differences.values()))) + " |",
                "|---|" + "---|" * len(next(iter(log.mode_differences.values())))]
        out += [f"| {release} | " + " | ".join(f"{f} ({r})" for f, r in per_mode.values()) + " |"
                for release, per_mode in log.mode_differences.items()]
        out.append("")
    for (a, b), found in causes.items():
        if not found:
            continue
        out += [f"### torch {a} → {b}", ""]
        for c in found:
            title = f"[{_md(c.title)}]({c.link})" if c.link else _md(c.title)
            hazard = f" (compile: **{c.hazard}**)" if c.hazard else ""
            out.append(f"- **{c.topic}**{hazard} — {title} — {probes(len(c.probes))}, {many(len(c.changes), 'fact')}")
            if c.reasons and (c.link or len(c.reasons) > 1):
                out.append(f"  - why: {_md(c.reasons[0])}"
                           + (f" (+{len(c.reasons) - 1} probe-specific reasons)" if len(c.reasons) > 1 else ""))
            out.append(f"  - e.g. `{_md(c.example.key)}` {_md(change_line(c.example))} — "
                       f"`{repro_command(c.example.key, c.example.device)}`")
            rows = ([f"`{_md(i.key)}` {_md(change_line(i))}" for i in c.changes] if detail else
                    [f"`{_md(k)}`" for k in c.probes])
            out.append(f"  <details><summary>{many(len(rows), 'fact' if detail else 'probe')}</summary>"
                       + "<br>".join(rows) + "</details>")
        out.append("")
    return "\n".join(out)


def format_json(log: Changelog, detail: bool = True) -> str:
    causes = log.causes()
    head = summary(log, causes)
    head["biggest"] = [{"after_release": c.after_release, "title": c.title, "probes": len(c.probes)}
                       for c in head["biggest"]]
    return json.dumps({"described": log.described, "from": log.start, "to": log.end, "modes": list(log.modes),
                       "summary": head,
                       "causes": [c.to_json() for found in causes.values() for c in found],
                       "items": [i.to_json() for i in log.items],
                       "mode_differences": {r: {m: {"facts": f, "rows": n} for m, (f, n) in per.items()}
                                            for r, per in log.mode_differences.items()}},
                      indent=1, ensure_ascii=False) + "\n"


def _compile_hazards(table: Table, backend: str, version: str) -> dict[str, tuple[str, str]]:
    """Per row with compile blocks that apply under ``backend``: the hazard class of compile mode's difference from
    eager there (the rows resolved on ``version``), and the reason of the worst block in force. Rows whose compile
    mode agrees with eager are left out."""
    rank = {h: k for k, h in enumerate(modes.HAZARDS)}
    out: dict[str, tuple[str, str]] = {}
    for entry in table.entries:
        if not any(b.mode == modes.COMPILE and b.backend in (None, backend) for b in entry.when):
            continue
        eager = table.resolve(entry.key, devices.REFERENCE, version)
        compiled = table.resolve(entry.key, devices.REFERENCE, version, modes.COMPILE, backend)
        if eager is None or compiled is None:
            continue
        hazard = modes.hazard_of(eager.facts, compiled.facts, ABSENT)
        if hazard is None:
            continue
        blocks = [b for b in compiled.blocks.values() if b.mode == modes.COMPILE and b.hazard]
        worst = min(blocks, key=lambda b: (rank[b.hazard], b.backend is None), default=None)
        out[entry.key] = (hazard, (worst.reason if worst is not None else None) or "(no reason stated)")
    return out


def compile_safety(table: Table) -> str:
    """"Is it safe to compile?" from the table (the README's section is this text): per backend, how many rows'
    compile mode differs from eager in each hazard class, and the silent ones, grouped by the reason they share
    (for a backend other than the default, the ones it adds)."""
    from .text import shorten as cut

    recorded = table.releases.backend_recorded or {}
    compile_on = table.releases.mode_recorded.get(modes.COMPILE, [])
    out = ["| backend | silent | loud | cosmetic | recorded on |", "|---|---|---|---|---|"]
    found: dict[str, dict[str, tuple[str, str]]] = {}
    for backend in modes.BACKENDS:
        on = recorded.get(backend) or (compile_on if backend == modes.DEFAULT_BACKEND else [])
        if not on and backend != modes.DEFAULT_BACKEND:
            out.append(f"| `{backend}` | – | – | – | not recorded |")
            continue
        newest = (on or table.described)[-1:]  # resolved on the newest release the backend was recorded on
        found[backend] = _compile_hazards(table, backend, str(newest[0]) if newest else "0")
        counts = Counter(h for h, _ in found[backend].values())
        out.append(f"| `{backend}` | {counts['silent']} | {counts['loud']} | {counts['cosmetic']} | "
                   f"{', '.join(str(v) for v in on) or 'every described release'} |")
    out += ["", "Counted in rows (a probe and its parametrizations), resolved on the newest release each backend was "
                "recorded on.", ""]
    default = found.get(modes.DEFAULT_BACKEND, {})
    for backend, rows in found.items():
        silent: dict[str, list[str]] = {}
        own = [k for k, (h, _) in rows.items() if h == "silent"
               and (backend == modes.DEFAULT_BACKEND or default.get(k, ("",))[0] != "silent")]
        for key in own:
            silent.setdefault(rows[key][1], []).append(key)
        if backend == modes.DEFAULT_BACKEND:
            out += [f"The {len(own)} silent differences under `{backend}` (nothing tells you; most first):", ""]
        else:
            out += ["", f"Under `{backend}`, the {len(own)} silent differences it adds to `{modes.DEFAULT_BACKEND}`'s:",
                    ""]
        for reason, keys in sorted(silent.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            shown = ", ".join(f"`{k}`" for k in sorted(keys)[:2]) + (f" and {len(keys) - 2} more" if len(keys) > 2 else "")
            out.append(f"- {cut(reason, 220)} — {probes(len(keys))}: {shown}")
    return "\n".join(out) + "\n"


#: The text formats (the pages are rendered by ``html``).
FORMATS = {"text": format_text, "markdown": format_markdown, "json": format_json}
