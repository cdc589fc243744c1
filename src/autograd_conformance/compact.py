"""Compaction: fold the facts a parametrised probe's rows share into one pattern row, proven not to change
what any probe expects."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import devices
from .errors import ConformanceError
from .expectations import Table
from .keyindex import pattern_regex
from .tablefile import ABSENT, WHEN, TableError, dumps_table, load_docs, write_docs


class CompactionError(ConformanceError):
    """A compaction that cannot be done (a missing or broken table, or one that would change a resolution)."""


@dataclass
class CompactResult:
    """What compaction folded: per table file, how many repeated facts went into pattern rows."""

    folded: dict[str, int] = field(default_factory=dict)  # file name -> fact lines saved

    def account(self, directory: Path, dry_run: bool) -> list[str]:
        """What was (or, in a dry run, would be) done, line by line."""
        lines = [f"{directory / name}: {removed} repeated facts folded into pattern rows"
                 for name, removed in sorted(self.folded.items())]
        if dry_run:
            return [*lines, f"dry run: {len(self.files)} file(s) would change"]
        return [*lines, f"{len(self.files)} file(s) rewritten, {self.total} facts folded" if self.files
                else "nothing to compact"]

    @property
    def files(self) -> set[str]:
        return set(self.folded)

    @property
    def total(self) -> int:
        return sum(self.folded.values())


def _group_of(key: str, raw: dict[str, Any]) -> str | None:
    """``fam/test_x[*-a]`` -> ``fam/test_x`` for a row record mode could have written; None for any other row.

    Eligible rows are parametrised, have no ``when`` blocks, and use no wildcard except a whole ``*`` parameter
    (the device); hand-written patterns are never folded.
    """
    head, sep, rest = key.partition("[")
    if not sep or not key.endswith("]") or WHEN in raw or "*" in head or "?" in key:
        return None
    params = rest[:-1].split("-")
    if params == ["*"] or params.count("*") > 1 or any("*" in p and p != "*" for p in params):
        return None
    return head


def compact_doc(doc: dict[str, Any]) -> int:
    """Fold each fact's most common value among one parametrised probe's rows into a ``family/test_x[*]`` row.

    Rows with that value drop it, rows with another value keep theirs (exact rows override the pattern), and
    rows without the fact get ``{ absent = true }``; a fact is folded only when that saves lines. Rows with
    ``when`` blocks and hand-written patterns are left alone, and so is a group whose pattern key exists.
    Resolution is unchanged. Returns how many fact lines the table lost.
    """
    groups: dict[str, list[str]] = {}
    for key, raw in doc.items():
        group = _group_of(key, raw)
        if group is not None:
            groups.setdefault(group, []).append(key)
    before = sum(len(row) for row in doc.values())
    for group, keys in sorted(groups.items()):
        pattern = f"{group}[*]"
        if len(keys) < 2 or pattern in doc:
            continue
        rows = [doc[k] for k in keys]
        folded: dict[str, Any] = {}
        for name in sorted(set().union(*rows)):
            counts = Counter(_canonical_json(row[name]) for row in rows if name in row)
            value, count = counts.most_common(1)[0]
            lacking = sum(1 for row in rows if name not in row)
            if count - 1 - lacking > 0:
                folded[name] = json.loads(value)
        if not folded:
            continue
        # A row whose probe another row of the group also matches (the device '*' of [*-result] matches
        # [cpu-detached-result]) keeps every fact, so it still overrides that broader row.
        overlapping = {k for k in keys for other in keys if other != k
                       and pattern_regex(other).match(instance_id(k)) is not None}
        doc[pattern] = folded
        for key in keys:
            row = doc[key]
            for name, value in folded.items():
                if name not in row:
                    row[name] = dict(ABSENT)
                elif key not in overlapping and _canonical_json(row[name]) == _canonical_json(value):
                    del row[name]
            if not row:
                del doc[key]
    return before - sum(len(row) for row in doc.values())


def instance_id(key: str) -> str:
    """A probe id a record-mode key stands for (its device wildcard as the reference device)."""
    ref = devices.REFERENCE
    return key.replace("[*]", f"[{ref}]").replace("[*-", f"[{ref}-")


def _canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def check_same_resolution(name: str, before: str, after: str, ids: list[str], version: str) -> None:
    """Refuse a compaction that would change what any row's probe expects (on every device)."""
    tables = [Table.from_texts({name: text}, version) for text in (before, after)]
    for probe in ids:
        for device in devices.DEVICES:
            a, b = (t.resolve(probe, device, version) for t in tables)
            if (a and a.facts) != (b and b.facts):
                raise CompactionError(f"{name}: compacting would change the expectation of {probe} on {device}; "
                                      f"nothing written")


def compact_table(directory: Path, torch_version: str, write: bool = True) -> CompactResult:
    """Compact every file of the table in ``directory``; with ``write``, rewrite the files that changed."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CompactionError(f"{directory}: no such table directory")
    try:
        Table.load(directory, torch_version)
        docs = load_docs(directory)
    except TableError as exc:
        raise CompactionError(str(exc)) from None
    result = CompactResult()
    for name, doc in docs.items():
        before = dumps_table(doc)
        ids = [instance_id(key) for key in doc]
        removed = compact_doc(doc)
        if dumps_table(doc) != before:
            check_same_resolution(name, before, dumps_table(doc), ids, torch_version)
            result.folded[name] = removed
    if write:
        write_docs(directory, docs, result.files)
    return result
