"""The live-run recorder (``pytest --ac-record``): one run's observations written into the table files.

``new`` adds rows and facts the table lacks and never changes an existing fact; ``all`` also rewrites facts
that differ, in the block that was in force. Recording several saved runs (torch versions, devices) is the
other recorder's job: ``merge`` (``autograd-conformance record``).

A probe of another variant than the reference (a device other than cpu, a mode other than eager) is recorded
after the reference probes, against the table as they left it: where its facts differ from what the rows
state for the reference, the table lacks a statement for the variant, and one is added in a ``when`` block
with the variant's conditions (``mode = "compile"``), with a reason to be replaced by why torch differs. Only a
fact a block of the variant already states is "existing" for it (``new`` keeps it, ``all`` rewrites it there).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .expectations import Resolved, Table, variant_conditions
from .facts import OPT_STR, OPT_TENSOR, compared_facts, spec_of
from .result import ProbeResult
from .tablefile import ABSENT, CONDITION_KEYS, NOTE_KEYS, WHEN, dumps_table, load_docs, write_docs
from .verdict import ERROR, SKIPPED, equal

NEW, ALL, INIT = "new", "all", "init"
#: ``init`` records like ``new`` into a table directory it may create (the only mode that creates one).
MODES = (NEW, ALL, INIT)


@dataclass
class RecordSummary:
    added_entries: list[str] = field(default_factory=list)
    added_facts: int = 0
    changed_facts: int = 0
    kept_different: list[tuple[str, str]] = field(default_factory=list)
    files: set[str] = field(default_factory=set)


def _null_aware(name: str, value: Any) -> Any:
    """TOML has no null: a nullable fact's null is stored as false (the loader maps it back)."""
    if value is None and spec_of(name).type not in (OPT_STR, OPT_TENSOR):
        raise ValueError(f"fact {name!r} is null but its type does not allow null")
    return value


def record_observation(docs: dict[str, dict[str, Any]], family: str, probe_id: str, record_key: str,
                       observed: dict[str, Any], resolved: Resolved | None, mode: str,
                       summary: RecordSummary, variant: dict[str, str] | None = None,
                       torch_version: str | None = None) -> None:
    """Merge one probe's observed facts into the raw table documents ``docs`` (file name -> parsed TOML).
    ``variant`` is the probe's ``variant_conditions`` (empty or None for the reference)."""
    if variant:
        return _record_variant(docs, family, probe_id, record_key, observed, resolved, mode, summary, variant,
                               torch_version)
    filename = f"{family}.toml"
    observed = compared_facts(observed)
    doc = docs.setdefault(filename, {})
    key = probe_id if probe_id in doc else record_key
    if resolved is None:
        doc[key] = {name: _null_aware(name, observed[name]) for name in sorted(observed)}
        summary.added_entries.append(key)
        summary.added_facts += len(observed)
        summary.files.add(filename)
        return
    own = doc.get(key)
    for name in sorted(observed):
        value = observed[name]
        if name not in resolved.facts:
            own = doc.setdefault(key, {})
            own[name] = _null_aware(name, value)
            summary.added_facts += 1
            summary.files.add(filename)
        elif not equal(resolved.facts[name], value):
            if mode != ALL:
                summary.kept_different.append((probe_id, name))
                continue
            block = resolved.blocks[name]
            target = doc.setdefault(key, {})
            if block.key == key and block.index is not None and block.file.endswith(filename):
                target = target[WHEN][block.index]
            target[name] = _null_aware(name, value)
            summary.changed_facts += 1
            summary.files.add(filename)
    if mode == ALL and own is not None:
        stale = [n for n in own if n not in observed and n not in (WHEN, *CONDITION_KEYS, *NOTE_KEYS)
                 and own[n] != ABSENT and (resolved is None or n in resolved.facts)]
        for name in stale:
            del own[name]
            summary.changed_facts += 1
            summary.files.add(filename)


def _record_variant(docs: dict[str, dict[str, Any]], family: str, probe_id: str, record_key: str,
                    observed: dict[str, Any], resolved: Resolved | None, mode: str, summary: RecordSummary,
                    variant: dict[str, str], torch_version: str | None) -> None:
    """A non-reference probe: facts the table states only for the reference go into the variant's block."""
    filename = f"{family}.toml"
    observed = compared_facts(observed)
    doc = docs.setdefault(filename, {})
    key = probe_id if probe_id in doc else record_key
    expected = resolved.facts if resolved is not None else {}
    writes: dict[str, Any] = {}
    for name in sorted(set(observed) | set(expected)):
        value = observed.get(name, ABSENT)
        before = expected.get(name, ABSENT)
        if value == before if ABSENT in (value, before) else equal(before, value):
            continue
        block = resolved.blocks.get(name) if resolved is not None and name in expected else None
        if block is not None and block.states(variant):
            if mode != ALL:
                summary.kept_different.append((probe_id, name))
                continue
            if block.key == key and block.file.endswith(filename):
                target = doc[key][WHEN][block.index]
                target[name] = dict(ABSENT) if value == ABSENT else _null_aware(name, value)
                summary.changed_facts += 1
                summary.files.add(filename)
                continue
        writes[name] = dict(ABSENT) if value == ABSENT else _null_aware(name, value)
    if not writes:
        return
    own = doc.get(key)
    if own is None:
        own = doc[key] = {}
        summary.added_entries.append(key)
    blocks = own.setdefault(WHEN, [])
    target = next((b for b in blocks if {k: b[k] for k in CONDITION_KEYS if k in b} == variant), None)
    if target is None:
        said = " ".join(f"{k} {v}" for k, v in variant.items())
        target = {**variant, "reason": f"observed on torch {torch_version or '?'} ({said}); recorded by "
                                       f"--ac-record — replace with why torch differs"}
        blocks.append(target)
    target.update(writes)
    summary.added_facts += len(writes)
    summary.files.add(filename)


def record_run(directory: Path, table: Table, results: list[ProbeResult], torch_version: str,
               mode: str) -> RecordSummary:
    """Write the observations of one live run into the table files in ``directory`` (probes that broke or
    were skipped are left out): the reference probes first, then the other variants against the table as
    the reference probes left it."""
    summary = RecordSummary()
    if mode == INIT:
        directory.mkdir(parents=True, exist_ok=True)
    docs = load_docs(directory)
    kept = sorted((r for r in results if r.verdict not in (SKIPPED, ERROR)), key=lambda r: r.nodeid)
    reference = [r for r in kept if not variant_conditions(r.table_device, r.mode)]
    others = [r for r in kept if variant_conditions(r.table_device, r.mode)]
    for res in reference:
        resolved = table.resolve(res.id, res.table_device, torch_version)
        record_observation(docs, res.family, res.id, res.record_key, res.observation, resolved, mode, summary)
    if others:
        top = max(len(table.directories) - 1, 0)  # record mode writes into the top layer
        table = table.with_layer(top, {name: dumps_table(doc) for name, doc in docs.items()}, torch_version)
        for res in others:
            resolved = table.resolve(res.id, res.table_device, torch_version, res.mode)
            record_observation(docs, res.family, res.id, res.record_key, res.observation, resolved, mode, summary,
                               variant_conditions(res.table_device, res.mode), torch_version)
    write_docs(directory, docs, summary.files)
    return summary
