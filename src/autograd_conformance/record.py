"""Record mode: write observed facts into the table files, keeping them sorted, stable and reviewable."""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collections import Counter

from .expectations import ABSENT, NOTE_KEYS, WHEN, Resolved, _pattern_regex, load_file
from .facts import INFO, OPT_STR, OPT_TENSOR, kind_of, spec_of
from .verdict import equal

NEW, ALL = "new", "all"


@dataclass
class RecordSummary:
    added_entries: list[str] = field(default_factory=list)
    added_facts: int = 0
    changed_facts: int = 0
    kept_different: list[tuple[str, str]] = field(default_factory=list)
    files: set[str] = field(default_factory=set)


# --- TOML writing -------------------------------------------------------------------------------------------

def _toml_key(key: str) -> str:
    if key.replace("_", "").replace("-", "").isalnum() and key.isascii():
        return key
    return _toml_str(key)


def _toml_str(text: str) -> str:
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_value(value: Any) -> str:
    if value is None:
        return "false"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return '"nan"'
        if math.isinf(value):
            return '"inf"' if value > 0 else '"-inf"'
        return repr(value)
    if isinstance(value, str):
        return _toml_str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{_toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _block_lines(raw: dict[str, Any]) -> list[str]:
    lines = []
    for name in ("torch", "device", *NOTE_KEYS):
        if name in raw:
            lines.append(f"{name} = {toml_value(raw[name])}")
    for name in sorted(k for k in raw if k not in ("torch", "device", *NOTE_KEYS, WHEN)):
        lines.append(f"{_toml_str(name)} = {toml_value(raw[name])}")
    return lines


def dumps_table(doc: dict[str, Any]) -> str:
    """Serialise one table file: entries sorted by key, facts sorted by name, when blocks by condition."""
    out: list[str] = []
    for key in sorted(doc):
        raw = doc[key]
        out.append(f"[{_toml_str(key)}]")
        out.extend(_block_lines(raw))
        out.append("")
        for block in sorted(raw.get(WHEN, []), key=lambda b: (b.get("device", ""), b.get("torch", ""))):
            out.append(f"[[{_toml_str(key)}.{WHEN}]]")
            out.extend(_block_lines(block))
            out.append("")
    return "\n".join(out).rstrip("\n") + "\n" if out else ""


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- merging observations -----------------------------------------------------------------------------------

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
    observed = {n: v for n, v in observed.items() if kind_of(n) != INFO}
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
        stale = [n for n in own if n not in observed and n not in (WHEN, "torch", "device", *NOTE_KEYS)
                 and own[n] != ABSENT and (resolved is None or n in resolved.facts)]
        for name in stale:
            del own[name]
            summary.changed_facts += 1
            summary.files.add(filename)


def load_docs(directory: Path) -> dict[str, dict[str, Any]]:
    """The raw parsed table files of a directory, by file name."""
    return {p.name: load_file(p) for p in sorted(Path(directory).glob("*.toml"))}


def write_docs(directory: Path, docs: dict[str, dict[str, Any]], names: set[str]) -> None:
    for name in sorted(names):
        write_atomic(Path(directory) / name, dumps_table(docs[name]))


# --- compaction ---------------------------------------------------------------------------------------------

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
                       and _pattern_regex(other).match(instance_id(k)) is not None}
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
    """A probe id a record-mode key stands for (its device wildcard as cpu)."""
    return key.replace("[*]", "[cpu]").replace("[*-", "[cpu-")


def _canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
