"""Table files: reading and writing the TOML documents of the expectations table, sorted and stable.

The format's own words live here: the ``when`` array of conditioned blocks, their condition and note keys,
and the ``{ absent = true }`` marker. Writing sorts entries by key, facts by name and blocks by condition, so
a review diff shows only what changed. ``expectations`` gives the documents meaning; this module only moves
them between disk and dicts.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .errors import ConformanceError
from .facts import canonical
from .files import DirectoryLock, write_together

WHEN = "when"
CONDITION_KEYS = ("torch", "device", "mode", "backend")
NOTE_KEYS = ("hazard", "cause", "reason", "link")
#: A fact value meaning "not observed": lets a ``when`` block state that a fact disappears on some version.
ABSENT = {"absent": True}


class TableError(ConformanceError):
    """A problem in the table, located by file and key; str() is one line."""

    def __init__(self, file: str, key: str | None, message: str) -> None:
        self.file, self.key, self.message = file, key, message
        where = f"{file}: [{key}]" if key is not None else file
        super().__init__(f"{where}: {message}")


# --- reading ------------------------------------------------------------------------------------------------

def load_file(path: Path, label: str | None = None) -> dict[str, Any]:
    """Parse one TOML table file; syntax errors become a TableError naming the file."""
    label = label or str(path)
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise TableError(label, None, f"TOML syntax error: {exc}") from None
    except UnicodeDecodeError as exc:
        raise TableError(label, None, f"not UTF-8 text: byte {exc.object[exc.start]:#04x} at offset {exc.start}") \
            from None
    except OSError as exc:
        raise TableError(label, None, f"cannot read: {exc.strerror}") from None


def loads(text: str, label: str) -> dict[str, Any]:
    """Parse TOML text (rows about to be written); syntax errors become a TableError naming ``label``."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TableError(label, None, f"TOML syntax error: {exc}") from None


#: The file of a table directory that lists the torch releases it describes (not a family's rows).
RELEASES_FILE = "_releases.toml"


def table_files(directory: Path) -> list[Path]:
    """The table's family files in a directory, in a stable order (``_``-prefixed files are the table's own)."""
    directory = Path(directory)
    return sorted(p for p in directory.glob("*.toml") if not p.name.startswith("_")) if directory.is_dir() else []


def load_releases(directory: Path, label: str | None = None) -> list[str]:
    """The releases a table directory says it describes (``described = [...]`` in ``_releases.toml``)."""
    path = Path(directory) / RELEASES_FILE
    if not path.is_file():
        return []
    label = label or str(path)
    doc = load_file(path, label)
    described = doc.get("described", [])
    if not isinstance(described, list) or not all(isinstance(v, str) for v in described):
        raise TableError(label, None, "'described' must be a list of torch versions, e.g. [\"2.13.0\", \"2.14.1\"]")
    return described


#: The sections of ``_releases.toml`` that list, per variant, the releases its rows were recorded on: execution
#: modes other than eager (a mode not listed was recorded on every described release), devices and compile
#: backends (one not listed was never recorded: its rows are the reference device's, or the default backend's).
RECORDED_SECTIONS = ("modes", "devices", "backends")


def load_recorded(directory: Path, label: str | None = None) -> dict[str, dict[str, list[str]]]:
    """Per section of ``RECORDED_SECTIONS`` present in ``_releases.toml``, per variant, the releases its rows were
    recorded on (``[modes] compile = ["2.13.0"]``, ``[devices] cpu = [...]``)."""
    from . import devices, modes

    path = Path(directory) / RELEASES_FILE
    if not path.is_file():
        return {}
    label = label or str(path)
    doc = load_file(path, label)
    known = {"modes": ("mode", modes.is_mode, modes.MODES), "devices": ("device", devices.is_device, devices.DEVICES),
             "backends": ("backend", lambda b: b in modes.BACKENDS, modes.BACKENDS)}
    out: dict[str, dict[str, list[str]]] = {}
    for section in RECORDED_SECTIONS:
        if section not in doc:
            continue
        table = doc[section]
        if not isinstance(table, dict):
            raise TableError(label, None, f"'{section}' must be a table of name = [torch versions]")
        word, is_known, names = known[section]
        for name, releases in table.items():
            if not is_known(name):
                raise TableError(label, None, f"unknown {word} {name!r} in [{section}] (known: {', '.join(names)})")
            if not isinstance(releases, list) or not all(isinstance(v, str) for v in releases):
                raise TableError(label, None, f"[{section}] {name} must be a list of torch versions, e.g. "
                                              f"[\"2.13.0\"]")
        out[section] = dict(table)
    return out


_RECORDED_COMMENTS = {
    "modes": "The releases each execution mode's rows were recorded on (a run of that mode elsewhere says so).",
    "devices": ("The releases each device's rows were recorded on: a run on a device not listed for its release\n"
                "# says so, and its probes that differ from the table get verdict `unrecorded`, not a failure."),
    "backends": ("The releases compile mode's rows were recorded on, per torch.compile backend: a compile run with a\n"
                 "# backend not listed for its release says so, and its probes that differ get verdict `unrecorded`."),
}


def dumps_releases(described: list[str], recorded: dict[str, dict[str, list[str]]] | None = None) -> str:
    text = ("# The torch releases this table describes: the latest patch of each torch 2.x minor release that\n"
            "# installs for Python 3.11 (recorded by `autograd-conformance history`). A run on any other torch\n"
            "# resolves rows as for the nearest of these, and says so.\n"
            f"described = [{', '.join(toml_value(v) for v in described)}]\n")
    for section in RECORDED_SECTIONS:
        variants = (recorded or {}).get(section)
        if variants:
            text += (f"\n# {_RECORDED_COMMENTS[section]}\n[{section}]\n"
                     + "".join(f"{name} = [{', '.join(toml_value(v) for v in releases)}]\n"
                               for name, releases in sorted(variants.items())))
    return text


def releases_recording(directory: Path, recorded: Iterable[tuple[str, str, str]],
                       described: list[str] | None = None) -> str:
    """``_releases.toml`` of ``directory`` with each (section, name, release) of ``recorded`` listed (``devices``,
    ``cuda``, ``2.13.0``), and ``described`` instead of the file's own described releases where given."""
    from packaging.version import Version

    sections = load_recorded(directory)
    for section, name, release in recorded:
        listed = sections.setdefault(section, {})
        listed[name] = sorted(set(listed.get(name, [])) | {release}, key=Version)
    return dumps_releases(load_releases(directory) if described is None else described, sections)


def load_docs(directory: Path) -> dict[str, dict[str, Any]]:
    """The raw parsed table files of a directory, by file name."""
    return {p.name: load_file(p) for p in table_files(directory)}


# --- writing ------------------------------------------------------------------------------------------------

def _toml_key(key: str) -> str:
    if key.replace("_", "").replace("-", "").isalnum() and key.isascii():
        return key
    return _toml_str(key)


def _toml_str(text: str) -> str:
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_value(value: Any) -> str:
    """One value as TOML (null as false: TOML has none; non-finite floats as strings)."""
    if value is None:
        return "false"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        special = canonical(value)  # non-finite floats are written as the fact vocabulary encodes them
        return _toml_str(special) if isinstance(special, str) else repr(value)
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
    for name in (*CONDITION_KEYS, *NOTE_KEYS):
        if name in raw:
            lines.append(f"{name} = {toml_value(raw[name])}")
    for name in sorted(k for k in raw if k not in (*CONDITION_KEYS, *NOTE_KEYS, WHEN)):
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
        for block in sorted(raw.get(WHEN, []), key=lambda b: (b.get("mode", ""), b.get("device", ""),
                                                               b.get("torch", ""))):
            out.append(f"[[{_toml_str(key)}.{WHEN}]]")
            out.extend(_block_lines(block))
            out.append("")
    return "\n".join(out).rstrip("\n") + "\n" if out else ""


def write_docs(directory: Path, docs: dict[str, dict[str, Any]], names: set[str],
               texts: dict[str, str] | None = None) -> None:
    """Write the named documents (and ``texts``: other files of the table by name) into ``directory`` as one
    commit (``files.write_together``): all of them new, or none."""
    if names or texts:
        write_together(Path(directory), {**{name: dumps_table(docs[name]) for name in names}, **(texts or {})})


def commit(directory: Path, docs: dict[str, dict[str, Any]], names: set[str],
           listed: list[tuple[str, str, str]] | None = None) -> None:
    """Write the named documents into ``directory`` (made if missing), with each (section, name, release) of
    ``listed`` added to its ``_releases.toml``, as one commit, one writer at a time; a TableError (one line)
    when the table cannot be written, and then nothing is."""
    try:
        Path(directory).mkdir(parents=True, exist_ok=True)
        with DirectoryLock(Path(directory)):
            write_docs(directory, docs, names,
                       {RELEASES_FILE: releases_recording(directory, listed)} if listed else None)
    except OSError as exc:
        raise TableError(str(directory), None, f"cannot write the table: {exc.strerror or exc}; nothing written") \
            from None
