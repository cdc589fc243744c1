"""The live-run recorder (``pytest --ac-record``): one run's observations written into the table files.

``new`` adds rows and facts the table lacks and never changes an existing fact; ``all`` also rewrites facts
that differ, in the block that was in force. Recording several saved runs (torch versions, devices) is the
other recorder's job: ``merge`` (``autograd-conformance record``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .expectations import Resolved, Table
from .facts import OPT_STR, OPT_TENSOR, compared_facts, spec_of
from .result import ProbeResult
from .tablefile import ABSENT, CONDITION_KEYS, NOTE_KEYS, WHEN, load_docs, write_docs
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
                       summary: RecordSummary) -> None:
    """Merge one probe's observed facts into the raw table documents ``docs`` (file name -> parsed TOML)."""
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


def record_run(directory: Path, table: Table, results: list[ProbeResult], torch_version: str,
               mode: str) -> RecordSummary:
    """Write the observations of one live run into the table files in ``directory`` (probes that broke or
    were skipped are left out)."""
    summary = RecordSummary()
    if mode == INIT:
        directory.mkdir(parents=True, exist_ok=True)
    docs = load_docs(directory)
    for res in sorted(results, key=lambda r: r.nodeid):
        if res.verdict in (SKIPPED, ERROR):
            continue
        resolved = table.resolve(res.id, res.table_device, torch_version)
        record_observation(docs, res.family, res.id, res.record_key, res.observation, resolved, mode, summary)
    write_docs(directory, docs, summary.files)
    return summary
