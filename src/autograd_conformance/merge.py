"""The saved-runs recorder (``autograd-conformance record``): several runs (torch versions, devices, modes)
into the table with the fewest edits. (One live run is the other recorder's job: ``record``, ``pytest
--ac-record``.)

For each probe whose facts the table does not already predict for every run, only that probe's own row is
rewritten, fact by fact: the oldest run's value on the reference variant (cpu, eager) as the base, and
``when`` blocks with PEP 440 ranges for the releases that differ. A range ends where the next known release
behaves differently (``>2.13.0,<2.15.0`` for a change that was reverted), so nothing is claimed beyond what was
observed. Other variants (a device, a mode, both) get blocks with their conditions where their values differ
from what the blocks so far state for them. Notes (``reason``, ``link``) of blocks with the same condition are
kept. The result is verified: every run must pass against the new table.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.version import Version

from . import devices, modes
from .errors import ConformanceError
from .expectations import Block, Table, variant_conditions
from .ids import without_mode
from .releases import torch_release
from .facts import compared_facts
from .report import Report
from .result import ProbeResult
from .tablefile import ABSENT, CONDITION_KEYS, NOTE_KEYS, WHEN, TableError, commit, dumps_table, load_docs
from .verdict import CRASHED, ERROR, PASS, SKIPPED, TIMEOUT, equal, judge


class MergeError(ConformanceError):
    """A run that cannot be recorded, or facts that cannot be stated; str() is one line."""


@dataclass
class Run:
    """One saved run as the merge reads it: its torch release and the probes that ran."""

    name: str
    version: Version
    torch_version: str
    probes: list[ProbeResult]
    partial: bool = False
    #: The torch.compile backend its compile probes ran under.
    backend: str = modes.DEFAULT_BACKEND
    #: Every compile probe of its suites ran (a whole run, or one that left only eager mode out).
    whole_compile: bool = False

    def variant(self, probe: ProbeResult) -> "Variant":
        """The variant a probe of this run observed: (device, mode, backend; None outside compile mode)."""
        return probe.table_device, probe.mode, self.backend if probe.mode == modes.COMPILE else None


@dataclass
class MergeSummary:
    """What a merge of saved runs writes: rows added and changed, facts and conditioned blocks, files."""

    added_rows: list[str] = field(default_factory=list)
    changed_rows: list[str] = field(default_factory=list)
    facts_written: int = 0
    blocks_written: int = 0
    files: set[str] = field(default_factory=set)

    def account(self, versions: list[str]) -> list[str]:
        """The recorder's account of a merge of runs on these torch versions, line by line."""
        return [f"recording {len(versions)} run(s) (torch {', '.join(versions)}): {len(self.added_rows)} rows "
                f"added, {len(self.changed_rows)} rows changed, {self.facts_written} facts and "
                f"{self.blocks_written} conditioned blocks written in {', '.join(sorted(self.files)) or 'no file'}",
                *(f"  added   {key}" for key in self.added_rows), *(f"  changed {key}" for key in self.changed_rows)]


def _runs(reports: list[Report]) -> list[Run]:
    runs = []
    for report in reports:
        info = report.run_info
        broken = [p.id for p in report.probes if p.verdict in (ERROR, CRASHED, TIMEOUT)]
        if broken:
            raise MergeError(f"{info.run_name}: {len(broken)} probe(s) broke, crashed or timed out ({', '.join(broken[:3])}"
                             f"{', ...' if len(broken) > 3 else ''}); fix the harness or probes before recording")
        runs.append(Run(info.run_name, torch_release(info.torch_version), info.torch_version,
                        [p for p in report.probes if p.verdict != SKIPPED], info.partial or info.incomplete,
                        info.compile_backend or modes.DEFAULT_BACKEND,
                        any(p.mode == modes.COMPILE for p in report.probes) and (
                            not (info.partial or info.incomplete) or info.partial_reason == f"--ac-modes={modes.COMPILE}")))
    return sorted(runs, key=lambda r: r.version)


def _segments(points: list[tuple[Version, Any]]) -> list[tuple[Version, Version, Any]]:
    """Consecutive versions with equal values, as (first, last, value)."""
    segments: list[list[Any]] = []
    for version, value in points:
        if segments and equal(segments[-1][2], value) and equal(value, segments[-1][2]):
            segments[-1][1] = version
        else:
            segments.append([version, version, value])
    return [tuple(s) for s in segments]


def _range(segments: list[tuple[Version, Version, Any]], k: int) -> str:
    lower = f">{segments[k - 1][1]}"
    return f"{lower},<{segments[k + 1][0]}" if k + 1 < len(segments) else lower


#: A probe variant: (device, mode, compile backend or None). The reference variant is what a row's base facts
#: describe.
Variant = tuple[str, str, str | None]
REFERENCE: Variant = (devices.REFERENCE, modes.REFERENCE, None)
_CONFLICT = object()


def _variant_order(variant: Variant) -> tuple[bool, int, tuple[str, str, str]]:
    """The reference first, then variants by how many conditions single them out (a compile backend other than
    the default after compile mode itself)."""
    return (variant != REFERENCE, len(variant_conditions(*variant)), (variant[0], variant[1], variant[2] or ""))


def _parent(variant: Variant) -> Variant:
    """The variant whose rows a variant's blocks state their difference from: another backend's from compile
    mode's own rows, compile mode's from eager's, another device's from the reference device's."""
    device, mode, backend = variant
    if mode == modes.COMPILE and backend not in (None, modes.DEFAULT_BACKEND):
        return device, mode, modes.DEFAULT_BACKEND
    if mode != modes.REFERENCE:
        return device, modes.REFERENCE, None
    return devices.REFERENCE, modes.REFERENCE, None


def _block_variant(block: dict[str, Any]) -> Variant:
    """The variant a table block's conditions single out (any torch range)."""
    mode = block.get("mode", modes.REFERENCE)
    return (block.get("device", devices.REFERENCE), mode,
            block.get("backend", modes.DEFAULT_BACKEND) if mode == modes.COMPILE else None)


def _predict(base: Any, blocks: list[tuple[dict[str, str], Any]], version: Version, variant: Variant) -> Any:
    """What base + blocks state for (version, variant), by the table's own matching and precedence
    (``Block.matches``, ``Block.precedence``); _CONFLICT where equally specific blocks disagree."""
    value, level = base, Block.of_conditions({}, index=None).precedence
    for condition, stated in blocks:
        block = Block.of_conditions(condition)
        if not block.matches(version, *variant):
            continue
        if block.precedence > level:
            value, level = stated, block.precedence
        elif block.precedence == level and not _same(value, stated):
            return _CONFLICT
    return value


def _same(a: Any, b: Any) -> bool:
    if a is _CONFLICT or b is _CONFLICT:
        return False
    return a == b if ABSENT in (a, b) else equal(a, b) and equal(b, a)


def _variant_blocks(observed: dict[tuple[Version, Variant], Any], parent: dict[tuple[Version, Variant], Any]
                    ) -> list[tuple[dict[str, str], Any]]:
    """[(condition, value)] for variants whose reference the runs did not observe: each variant's blocks state
    where its observed values differ from what its parent variant resolves to (``parent``: per observed
    (version, variant), the parent's value)."""
    blocks: list[tuple[dict[str, str], Any]] = []
    for variant in sorted({v for _, v in observed}, key=_variant_order):
        condition = variant_conditions(*variant)
        points = sorted((v, val) for (v, var), val in observed.items() if var == variant)
        differs = [(v, val) for v, val in points if not _same(parent[(v, variant)], val)]
        if not differs:
            continue
        segments = _segments([(v, (val, not _same(parent[(v, variant)], val))) for v, val in points])
        if len(segments) == 1:
            blocks.append((condition, segments[0][2][0]))
            continue
        for k, (first, last, (value, different)) in enumerate(segments):
            if different:
                spec = _range(segments, k) if k else f"<{segments[1][0]}"
                blocks.append(({**condition, "torch": spec}, value))
    return blocks


def _desired_blocks(observed: dict[tuple[Version, Variant], Any]) -> tuple[Any, list[tuple[dict[str, str], Any]]]:
    """(base value, [(condition, value)]) reproducing ``observed`` (version, variant) -> value."""
    variants = sorted({v for _, v in observed}, key=_variant_order)
    ref_segments = _segments(sorted((v, val) for (v, var), val in observed.items() if var == REFERENCE))
    base = ref_segments[0][2]
    blocks = [({"torch": _range(ref_segments, k)}, value) for k, (_, _, value) in enumerate(ref_segments)
              if k and not equal(value, base)]
    for variant in variants[1:]:
        condition = variant_conditions(*variant)
        points = sorted((v, val) for (v, var), val in observed.items() if var == variant)
        if all(_same(_predict(base, blocks, v, variant), val) for v, val in points):
            continue
        segments = _segments(points)
        if len(segments) == 1:
            candidate = [*blocks, (condition, segments[0][2])]
            if all(_same(_predict(base, candidate, v, variant), val) for v, val in points):
                blocks = candidate
                continue
        for k, (first, last, value) in enumerate(segments):
            if all(_same(_predict(base, blocks, v, variant), value) for v, _ in points if first <= v <= last):
                continue
            spec = _range(segments, k) if k else (f"<{segments[1][0]}" if len(segments) > 1 else f">={first}")
            blocks.append(({**condition, "torch": spec}, value))
    return base, blocks


def merge(directory: Path, reports: list[Report]) -> tuple[dict[str, dict[str, Any]], MergeSummary]:
    """The table documents updated so that every given run passes, and a summary of what changed."""
    runs = _runs(reports)
    if not runs:
        raise MergeError("no reports given")
    docs = load_docs(directory)
    try:
        tables = {run.torch_version: Table.load(directory, run.torch_version) for run in runs}
    except TableError as exc:
        raise MergeError(str(exc)) from None
    # (family, record key) -> the (run, probe) observations behind it, over versions and devices.
    members: dict[tuple[str, str], list[tuple[Run, ProbeResult]]] = {}
    for run in runs:
        for probe in run.probes:
            members.setdefault((probe.family, probe.record_key), []).append((run, probe))
    summary = MergeSummary()
    for (family, key), entries in sorted(members.items()):
        names = sorted({n for _, p in entries for n in compared_facts(p.observation)})
        per_fact: dict[str, dict[tuple[Version, Variant], Any]] = {n: {} for n in names}
        wrong: set[str] = set()
        for run, probe in entries:
            device = probe.table_device
            resolved = tables[run.torch_version].resolve(probe.id, device, run.torch_version, probe.mode,
                                                         run.backend)
            expected = resolved.facts if resolved else {}
            for name in names:
                value = probe.observation.get(name, ABSENT)
                slot = (run.version, run.variant(probe))
                if slot in per_fact[name] and not equal(per_fact[name][slot], value):
                    raise MergeError(f"{probe.id}: runs of torch {run.version} on {device} ({probe.mode}) "
                                     f"disagree on {name}")
                per_fact[name][slot] = value
                predicted = expected.get(name, ABSENT)
                if not (predicted == value if ABSENT in (predicted, value) else equal(predicted, value)):
                    wrong.add(name)
            wrong.update(set(expected) - set(names))  # facts the table expects that no run observed
        if not wrong:
            continue
        for name in wrong - set(per_fact):
            per_fact[name] = {(run.version, run.variant(p)): ABSENT for run, p in entries}
        _rewrite(docs.setdefault(f"{family}.toml", {}), entries[0][1].id, key,
                 {n: per_fact[n] for n in sorted(wrong)}, tables, entries, summary, f"{family}.toml")
    _set_availability(docs, members, runs, summary)
    _verify(docs, runs)
    return docs, summary


def _set_availability(docs: dict[str, dict[str, Any]], members: dict[tuple[str, str], list[tuple[Run, ProbeResult]]],
                      runs: list[Run], summary: MergeSummary) -> None:
    """A probe that full runs show on some releases only gets its row's own torch range."""
    full = [run for run in runs if not run.partial]
    versions = sorted({run.version for run in full})
    for (family, key), entries in sorted(members.items()):
        present = {run.version for run, _ in entries if not run.partial}
        if not present or present == set(versions):
            continue
        flags = [(v, v in present) for v in versions]
        segments = _segments(flags)
        spans = [k for k, (_, _, on) in enumerate(segments) if on]
        if len(spans) != 1:
            raise MergeError(f"{key}: the probe comes and goes across releases; state its torch range by hand")
        k = spans[0]
        bounds = ([f">{segments[k - 1][1]}"] if k else []) + (
            [f"<{segments[k + 1][0]}"] if k + 1 < len(segments) else [])
        spec = ",".join(bounds)
        filename = f"{family}.toml"
        doc = docs.setdefault(filename, {})
        own = doc.setdefault(entries[0][1].id if entries[0][1].id in doc else key, {})
        if own.get("torch") != spec:
            own["torch"] = spec
            own.setdefault("reason", f"the probe exists on torch {', '.join(str(v) for v in sorted(present))} "
                                     f"only (recorded from reports)")
            summary.files.add(filename)
            if key not in summary.changed_rows + summary.added_rows:
                summary.changed_rows.append(key)


def _rewrite(doc: dict[str, Any], probe_id: str, key: str, per_fact: dict[str, dict[tuple[Version, Variant], Any]],
             tables: dict[str, Table], entries: list[tuple[Run, ProbeResult]], summary: MergeSummary,
             filename: str) -> None:
    key = probe_id if probe_id in doc else key
    existed = key in doc
    own = doc.setdefault(key, {})
    old_blocks = own.pop(WHEN, [])
    notes = {_slot(b): {n: b[n] for n in NOTE_KEYS if n in b} for b in old_blocks}
    blocks = {_slot(b): dict(b) for b in old_blocks}
    versions = sorted({run.version for run, _ in entries})
    first_run = min(entries, key=lambda e: e[0].version)[0]
    observed_variants = {run.variant(p) for run, p in entries}
    # Blocks of variants no run observed (compile blocks, when only eager runs are recorded) are kept as they are.
    owned = [b for b in blocks.values() if _block_variant(b) in observed_variants]
    new_slots: set[tuple[str | None, ...]] = set()
    # The id its eager twin has (probe_id is the first observation's, which may be a compile-mode probe's).
    eager_id = without_mode(probe_id, entries[0][1].mode)
    for name, observed in sorted(per_fact.items()):
        for block in owned:
            block.pop(name, None)
        if REFERENCE not in observed_variants:
            # Runs of other variants only (compile mode under a backend, a device): the row's base and the other
            # variants' blocks stay; the observed variants' blocks state how they differ from their parents.
            conditioned = _variant_blocks(observed, _parents(observed, probe_id, eager_id, name, tables))
        else:
            base, conditioned = _desired_blocks(observed)
            inherited = any(
                e.key != key and (name in e.base.facts or any(name in b.facts for b in e.when))
                for e in tables[first_run.torch_version].matching(probe_id))
            if base == ABSENT:
                own.pop(name, None)
                if inherited:
                    own[name] = dict(ABSENT)
            else:
                own[name] = base
        summary.facts_written += 1
        for condition, value in conditioned:
            slot = _slot(condition)
            if slot not in blocks:
                blocks[slot] = {**condition, **notes.get(slot, {"reason": _recorded_reason(condition, versions)})}
                new_slots.add(slot)
                summary.blocks_written += 1
            blocks[slot][name] = dict(ABSENT) if value == ABSENT else value
    for slot in new_slots:
        block = blocks[slot]
        if "mode" in block and "hazard" not in block:
            hazard = _hazard(block, eager_id, tables, entries, per_fact)
            if hazard:
                block["hazard"] = hazard
    kept = [b for b in blocks.values() if any(n not in (*CONDITION_KEYS, *NOTE_KEYS) for n in b)]
    if kept:
        own[WHEN] = kept
    (summary.changed_rows if existed else summary.added_rows).append(key)
    summary.files.add(filename)


def _slot(block: dict[str, Any]) -> tuple[str | None, ...]:
    """A block's conditions, as the key its notes are kept under."""
    return tuple(block.get(k) for k in CONDITION_KEYS)


def _recorded_reason(condition: dict[str, str], versions: list[Version]) -> str:
    """The placeholder reason of a block the merge writes: where it was observed, to be replaced on review."""
    seen = [str(v) for v in versions if Block.of_conditions(condition).matches(v, *_block_variant(condition))]
    return (f"observed on torch {', '.join(seen) or condition.get('torch')}"
            f"{' on ' + condition['device'] if 'device' in condition else ''}"
            f"{' in ' + condition['mode'] + ' mode' if 'mode' in condition else ''}"
            f"{' under ' + condition['backend'] if 'backend' in condition else ''}; "
            f"recorded from reports — replace with why torch differs")


def _resolved(tables: dict[str, Table], version: Version, probe_id: str, variant: Variant) -> dict[str, Any]:
    """What the table as it was resolves for a probe's ``variant`` on ``version`` (a release a run was on); a
    MergeError where it has no row for the probe: only a run of the reference variant can start one."""
    table = next(t for v, t in tables.items() if torch_release(v) == version)
    device, mode, backend = variant
    resolved = table.resolve(probe_id, device, str(version), mode, backend or modes.DEFAULT_BACKEND)
    if resolved is None:
        raise MergeError(f"{probe_id}: no run observed the reference variant (cpu, eager) that a row's base "
                         f"describes, and the table has no row for it; record its runs together with a cpu, eager one")
    return resolved.facts


def _parents(observed: dict[tuple[Version, Variant], Any], probe_id: str, eager_id: str, name: str,
             tables: dict[str, Table]) -> dict[tuple[Version, Variant], Any]:
    """Per observed (version, variant), the value of fact ``name`` on its parent variant (``_parent``): what the
    runs observed there, else what the table resolves for it (by the eager twin's id where the parent is eager)."""
    out = {}
    for version, variant in observed:
        parent = _parent(variant)
        if (version, parent) in observed:
            out[(version, variant)] = observed[(version, parent)]
        else:
            twin = eager_id if parent[1] == modes.REFERENCE else probe_id
            out[(version, variant)] = _resolved(tables, version, twin, parent).get(name, ABSENT)
    return out


def _hazard(block: dict[str, Any], eager_id: str, tables: dict[str, Table], entries: list[tuple[Run, ProbeResult]],
            per_fact: dict[str, dict[tuple[Version, Variant], Any]]) -> str | None:
    """The hazard class of a new mode block: its facts against eager's on the first release it covers (what the
    runs observed in eager there, else what the table states); None where it states no difference from eager."""
    variant = _block_variant(block)
    covered = sorted(v for v in {run.version for run, _ in entries}
                     if Block.of_conditions(block).matches(v, *variant))
    if not covered:
        return None
    version, eager = covered[0], (variant[0], modes.REFERENCE, None)
    stated = {n: v for n, v in block.items() if n not in (*CONDITION_KEYS, *NOTE_KEYS)}
    observed = {n: per_fact[n][(version, eager)] for n in stated if (version, eager) in per_fact.get(n, {})}
    if len(observed) < len(stated):  # the rest from the table as it was
        observed = {**_resolved(tables, version, eager_id, eager), **observed}
    facts = {n: observed.get(n, ABSENT) for n in stated}
    return modes.hazard_of(facts, stated, ABSENT)


def _verify(docs: dict[str, dict[str, Any]], runs: list[Run]) -> None:
    """Every run must pass against the merged table (as it will be written), else nothing is written."""
    texts = {name: dumps_table(doc) for name, doc in docs.items()}
    for run in runs:
        try:
            table = Table.from_texts(texts, run.torch_version)
        except TableError as exc:
            raise MergeError(f"the merged table would be invalid: {exc}") from None
        for probe in run.probes:
            resolved = table.resolve(probe.id, probe.table_device, run.torch_version, probe.mode, run.backend)
            if judge(probe.observation, resolved).status != PASS:
                raise MergeError(f"{probe.id}: cannot state run {run.name}'s facts in the table; "
                                 f"edit its row by hand")


def record_reports(directory: Path, reports: list[Report], dry_run: bool = False) -> str:
    """Merge saved reports into the table in ``directory`` (made if missing) and say what was written; a dry
    run writes nothing and adds the table diff it would make."""
    docs, summary = merge(directory, reports)
    account = "\n".join(summary.account([r.run_info.torch_version for r in reports])) + "\n"
    listed = sorted({("backends", run.backend, str(run.version)) for run in _runs(reports)
                     if run.backend != modes.DEFAULT_BACKEND and run.whole_compile})
    if listed:
        account += "".join(f"compile mode under {name} listed as recorded on torch {release} ([backends])\n"
                           for _, name, release in listed)
    if dry_run:
        return account + table_diff(directory, docs, summary.files) + "dry run: nothing written\n"
    commit(directory, docs, summary.files, listed)
    return account


def table_diff(directory: Path, docs: dict[str, dict[str, Any]], files: set[str]) -> str:
    """A unified diff of the table files as they are and as the merge would write them."""
    out = []
    for name in sorted(files):
        path = Path(directory) / name
        old = path.read_text(encoding="utf-8") if path.exists() else ""
        out.extend(difflib.unified_diff(old.splitlines(keepends=True), dumps_table(docs[name]).splitlines(keepends=True),
                                        fromfile=str(path), tofile=str(path)))
    return "".join(out)
