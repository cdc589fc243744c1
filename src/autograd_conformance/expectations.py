"""The expectations table: TOML files that state what torch does, per probe id, torch version, device and mode.

One file per family (``<family>.toml``), one TOML table per key. A key is a probe id (``leaf/test_detach[*]``)
where ``*`` and ``?`` are wildcards (brackets are literal; a ``*`` that is a whole parameter among several, as
in ``[*-leaf]``, stands for exactly one parameter). An entry holds facts; ``[[key.when]]`` blocks
override some facts under conditions (``torch`` = a PEP 440 specifier set, ``device`` = cpu|cuda|mps,
``mode`` = eager|compile, and with ``mode = "compile"`` a ``backend`` of torch.compile). TOML has no null: a fact
whose declared type allows null is written ``false`` for null.

Resolution for one probe: every matching key, least specific first (patterns by literal length, exact ids
last), each contributing the facts of its matching blocks; within an entry the most specific matching block
wins per fact, and equally specific matching blocks that disagree are a conflict. A block with a ``mode``
condition is more specific than any block without one: it states how that mode differs from what the rest of
the entry says (for every device and release the entry describes), so a ``device`` block never competes with
it; likewise a ``device`` block wins over every block without a mode or device condition (a release range
recorded on cpu does not compete with what a cuda block says); otherwise more conditions are more specific.
Compile mode's blocks state what it does under the backend its rows were recorded with (``modes.DEFAULT_BACKEND``);
a block that also names a ``backend`` states how that backend differs from them, and wins over them.

A table may have several layers (directories): the bundled table first, then a team's own tables. A fact a
higher layer states wins over every lower layer, whatever the specificity, so a team's row can override the
bundled expectation for its environment; within a layer the rules above hold.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from . import devices, modes
from .facts import OPT_STR, OPT_TENSOR, UnknownFact, canonical, check_type, compile_match, spec_of
from .files import JOURNAL, DirectoryLock, recover
from .ids import without_mode
from .keyindex import KeyIndex, is_pattern, key_matches, used_by
from .links import LINKS_FILE, Link
from .links import load as load_links
from .releases import Releases, torch_release
from .tablefile import (ABSENT, CONDITION_KEYS, NOTE_KEYS, RELEASES_FILE, WHEN, TableError, load_file,
                        load_recorded, load_releases, loads, table_files)

_TOLERANCE_KEYS = ("rtol", "atol")


@dataclass
class Block:
    """The base facts of an entry (index None) or one of its ``when`` blocks, with its conditions and notes."""

    file: str
    key: str
    index: int | None
    facts: dict[str, Any]
    torch: SpecifierSet | None = None
    device: str | None = None
    mode: str | None = None
    #: With ``mode = "compile"``: the torch.compile backend the block speaks of (None: the recorded default).
    backend: str | None = None
    reason: str | None = None
    link: str | None = None
    #: The torch change behind the block in a few words, shared by the blocks it explains (the changelog
    #: groups by it where no link is the change).
    cause: str | None = None
    #: How much the difference a ``mode`` block states matters (``modes.HAZARDS``: silent, loud, cosmetic).
    hazard: str | None = None
    #: The table layer the block's entry comes from (0: the lowest, the bundled table).
    layer: int = 0

    @property
    def conditions(self) -> int:
        """How many conditions the block names."""
        return sum(v is not None for v in (self.torch, self.device, self.mode, self.backend))

    @property
    def specificity(self) -> tuple[int, int, int, int]:
        """(has a mode condition, has a backend condition, has a device condition, how many conditions): a block
        that names a variant (mode, then its backend, then device) overrides every block that does not, whatever
        its torch range."""
        return (self.mode is not None, self.backend is not None, self.device is not None, self.conditions)

    @property
    def precedence(self) -> tuple[int, int, int, int]:
        """How this block ranks against the other blocks of its entry: the base lowest (its own torch range is
        availability, not an override), then by ``specificity``."""
        return (0, 0, 0, 0) if self.index is None else self.specificity

    @classmethod
    def of_conditions(cls, conditions: dict[str, str], index: int | None = 0) -> "Block":
        """A bare ``when`` block with these conditions (torch, device, mode, backend) and no facts: for reasoning
        about blocks not yet written (the saved-runs recorder), with the table's own precedence and matching."""
        torch = conditions.get("torch")
        return cls("", "", index, {}, SpecifierSet(torch) if torch is not None else None, conditions.get("device"),
                   conditions.get("mode"), conditions.get("backend"))

    def matches(self, version: Version, device: str, mode: str = modes.REFERENCE,
                backend: str | None = modes.DEFAULT_BACKEND) -> bool:
        """Whether the block applies to a probe on ``device`` in ``mode`` (compile mode under ``backend``)."""
        if self.torch is not None and not self.torch.contains(version, prereleases=True):
            return False
        if self.mode is not None and self.mode != mode:
            return False
        if self.backend is not None and (mode != modes.COMPILE or self.backend != backend):
            return False
        return self.device is None or self.device == device

    def states(self, conditions: dict[str, str]) -> bool:
        """Whether this block speaks of the variant ``conditions`` names (it names each of its conditions)."""
        return self.index is not None and all(getattr(self, k) == v for k, v in conditions.items())

    def describe(self) -> str:
        where = f"{self.file} [{self.key}]"
        if self.index is None:
            return where
        conds = [f'{k} "{v}"' for k, v in (("torch", self.torch), ("device", self.device), ("mode", self.mode),
                                            ("backend", self.backend)) if v is not None]
        return f"{where} when {', '.join(conds) or '(always)'}"


@dataclass
class Entry:
    """One row of the table: its key (a probe id or a pattern), its base block and its ``when`` blocks."""

    file: str
    key: str
    base: Block
    when: list[Block]
    is_pattern: bool = False
    #: The table layer (directory) the entry comes from: 0 the lowest; a higher layer overrides a lower one.
    layer: int = 0

    @property
    def pattern(self) -> bool:
        return self.is_pattern

    def available(self, version: Version) -> bool:
        """Whether the probe this entry describes exists on ``version`` (an entry-level ``torch`` range)."""
        return self.base.torch is None or self.base.torch.contains(version, prereleases=True)

    @property
    def specificity(self) -> tuple[int, int, int]:
        literal = len(self.key.replace("*", "").replace("?", ""))
        return (self.layer, 0 if self.pattern else 1, literal)

    def matches_id(self, probe_id: str) -> bool:
        return key_matches(self.key, probe_id)

    def facts_for(self, version: Version, device: str, mode: str = modes.REFERENCE,
                  backend: str | None = modes.DEFAULT_BACKEND) -> tuple[dict[str, Any], dict[str, Block]]:
        """The entry's facts under (version, device, mode, backend), with the block each came from; raises on
        conflicts."""
        facts: dict[str, Any] = {}
        sources: dict[str, Block] = {}
        level: dict[str, tuple[int, int, int, int]] = {}
        for block in [self.base, *self.when]:
            if not block.matches(version, device, mode, backend):
                continue
            for name, value in block.facts.items():
                spec = block.precedence
                if name in level and level[name] == spec and facts[name] != value:
                    raise TableError(self.file, self.key, (
                        f"conflicting rows for fact {name!r} under torch {version}, device {device}, mode {mode}"
                        f"{f' ({backend})' if mode == modes.COMPILE else ''}: "
                        f"{sources[name].describe()} says {facts[name]!r}, {block.describe()} says {value!r}"))
                if name not in level or spec > level[name]:
                    facts[name], sources[name], level[name] = value, block, spec
        return facts, sources


def variant_conditions(device: str, mode: str, backend: str | None = None) -> dict[str, str]:
    """The ``when`` conditions that single out a probe variant from the reference (cpu, eager): ``{}`` for the
    reference itself, ``{"device": "cuda"}``, ``{"mode": "compile"}`` (with ``"backend"`` for a backend other
    than the one compile rows are recorded with), or several."""
    return {**({"device": device} if device != devices.REFERENCE else {}),
            **({"mode": mode} if mode != modes.REFERENCE else {}),
            **({"backend": backend} if mode == modes.COMPILE and backend not in (None, modes.DEFAULT_BACKEND) else {})}


@dataclass
class Resolved:
    """The expectation in force for one probe: facts and, per fact, the row/condition it came from."""

    facts: dict[str, Any]
    sources: dict[str, str]
    blocks: dict[str, Block] = field(repr=False)
    keys: list[str]


def _canonical_expected(file: str, key: str, name: str, value: Any) -> Any:
    """Validate an expected value against the vocabulary and return its canonical form."""
    try:
        spec = spec_of(name)
    except UnknownFact as exc:
        raise TableError(file, key, str(exc)) from None
    if value is False and spec.type in (OPT_STR, OPT_TENSOR):
        return None
    if isinstance(value, dict) and "absent" in value:
        if value != ABSENT:
            raise TableError(file, key, f"fact {name!r}: write {{ absent = true }} to state it is not observed")
        return dict(ABSENT)
    value = canonical(value)

    def strip_matchers(v: Any) -> Any:
        if isinstance(v, dict) and set(v) == {"match"}:
            if not isinstance(v["match"], str):
                raise TableError(file, key, f"fact {name!r}: match must be a string, got {v['match']!r}")
            try:
                compile_match(v["match"])
            except Exception as exc:  # noqa: BLE001 - re2.error, or TypeError/ValueError on odd input
                raise TableError(file, key, f"fact {name!r}: regex {v['match']!r} is not one the linear-time "
                                            f"matcher (RE2) accepts: {exc} (no backreferences or lookaround)") from None
            return "<matched text>"
        if isinstance(v, list):
            return [strip_matchers(x) for x in v]
        return v

    plain = strip_matchers(value)
    if isinstance(plain, dict):
        for tol in _TOLERANCE_KEYS:
            if tol in plain and (not isinstance(plain[tol], (int, float)) or isinstance(plain[tol], bool)):
                raise TableError(file, key, f"fact {name!r}: {tol} must be a number, got {plain[tol]!r}")
    problem = check_type(name, plain)
    if problem:
        raise TableError(file, key, problem)
    return value


def _block(file: str, key: str, index: int | None, raw: dict[str, Any]) -> Block:
    facts: dict[str, Any] = {}
    block = Block(file, key, index, facts)
    for name, value in raw.items():
        if name in CONDITION_KEYS or name in NOTE_KEYS:
            if index is None and (name in ("device", "mode", "backend") or (name in NOTE_KEYS and "torch" not in raw)):
                raise TableError(file, key, f"{name!r} belongs in a [[{key}.when]] block, or with the entry's own "
                                            f"torch range (the releases on which the probe exists)")
            if not isinstance(value, str):
                raise TableError(file, key, f"{name!r} must be a string, got {value!r}")
            if name == "torch":
                try:
                    block.torch = SpecifierSet(value)
                except InvalidSpecifier:
                    raise TableError(file, key, f"invalid PEP 440 specifier torch = {value!r}") from None
            elif name == "device":
                if not devices.is_device(value):
                    raise TableError(file, key, f"unknown device {value!r} (known: {', '.join(devices.DEVICES)})")
                block.device = value
            elif name == "mode":
                if not modes.is_mode(value):
                    raise TableError(file, key, f"unknown mode {value!r} (known: {', '.join(modes.MODES)})")
                block.mode = value
            elif name == "backend":
                if value not in modes.BACKENDS:
                    raise TableError(file, key, f"unknown backend {value!r} (known: {', '.join(modes.BACKENDS)})")
                if raw.get("mode") != modes.COMPILE:
                    raise TableError(file, key, f"'backend' belongs in a block with mode = \"{modes.COMPILE}\" (the "
                                                f"torch.compile backend whose difference the block states)")
                block.backend = value
            elif name == "hazard":
                if value not in modes.HAZARDS:
                    raise TableError(file, key, f"hazard = {value!r}: use one of {', '.join(modes.HAZARDS)}")
                if "mode" not in raw:
                    raise TableError(file, key, "'hazard' belongs in a block with a mode condition (how much "
                                                "that mode's difference from eager matters)")
                block.hazard = value
            else:
                setattr(block, name, value)
        else:
            facts[name] = _canonical_expected(file, key, name, value)
    if index is not None and not block.conditions:
        raise TableError(file, key, f"when block #{index + 1} has no condition (torch, device or mode)")
    if index is not None and not facts:
        raise TableError(file, key, f"when block #{index + 1} names no fact")
    return block


def parse_entries(file: str, doc: dict[str, Any], layer: int = 0) -> list[Entry]:
    """Validate one parsed table file and return its entries."""
    family = Path(file).stem
    entries = []
    for key, raw in doc.items():
        if not isinstance(raw, dict):
            raise TableError(file, key, "each probe id must be a TOML table ([\"family/test_name[params]\"])")
        if not key.startswith(f"{family}/"):
            raise TableError(file, key, f"key does not belong to family {family!r} (expected '{family}/...')")
        raw = dict(raw)
        when_raw = raw.pop(WHEN, [])
        if not isinstance(when_raw, list) or not all(isinstance(b, dict) for b in when_raw):
            raise TableError(file, key, f"'{WHEN}' must be an array of tables ([[\"{key}\".when]])")
        base = _block(file, key, None, raw)
        when = [_block(file, key, i, b) for i, b in enumerate(when_raw)]
        for block in (base, *when):
            block.layer = layer
        entries.append(Entry(file, key, base, when, is_pattern(key), layer))
    return entries


class Table:
    """All entries of a table's layers (directories), checked for conflicts under one torch version."""

    def __init__(self, directories: list[Path], entries: list[Entry], digest: str, files: list[Path],
                 releases: Releases | None = None) -> None:
        self.directories = directories
        self.entries = entries
        #: What the layers say about the torch releases they describe (and each mode was recorded on).
        self.releases = releases or Releases()
        self.digest = digest
        self.files = files
        #: Files of an interrupted record commit that loading the table completed (``files.recover``).
        self.recovered: list[str] = []
        #: The links the layers register (``_links.toml``; a higher layer's entry for a URL wins).
        self.links: dict[str, Link] = {}
        self._index = KeyIndex(entries, lambda e: e.key)

    @property
    def described(self) -> list[Version]:
        """The releases the table describes (its lowest layer that lists them), oldest first."""
        return self.releases.described

    @classmethod
    def load(cls, directory: Path | list[Path], torch_version: str, root: Path | None = None) -> "Table":
        """Load and validate every ``*.toml`` of a directory, or of several (layers, lowest first); raise
        TableError on the first problem. A directory that does not exist contributes nothing."""
        directories = [Path(d) for d in directory] if isinstance(directory, list) else [Path(directory)]
        digest = hashlib.sha256()
        entries: list[Entry] = []
        files: list[Path] = []
        described: dict[int, list[Version]] = {}
        mode_recorded: dict[int, dict[str, list[Version]]] = {}
        #: Per device and per compile backend, the releases any layer recorded it on (absent: none says).
        stated: dict[str, dict[str, set[Version]]] = {"devices": {}, "backends": {}}
        said: set[str] = set()
        links: dict[str, Link] = {}
        recovered: list[str] = []
        for layer, path_dir in enumerate(directories):
            if layer:
                digest.update(b"\0layer\0")
            if (path_dir / JOURNAL).is_file():  # a record run was stopped between its files: complete it
                with DirectoryLock(path_dir):
                    recovered += [f"{_label(path_dir / n, root)}" for n in recover(path_dir)]
            releases = path_dir / RELEASES_FILE
            label = _label(releases, root)
            for text in load_releases(path_dir, label):
                try:
                    described.setdefault(layer, []).append(torch_release(text))
                except InvalidVersion:
                    raise TableError(label, None, f"not a torch version: {text!r}") from None
            for section, variants in load_recorded(path_dir, label).items():
                said.add(section)
                for name, texts in variants.items():
                    try:
                        versions = sorted(torch_release(t) for t in texts)
                    except InvalidVersion as exc:
                        raise TableError(label, None, f"[{section}] {name}: not a torch version ({exc})") from None
                    if section == "modes":
                        mode_recorded.setdefault(layer, {})[name] = versions
                    else:
                        stated[section].setdefault(name, set()).update(versions)
            if releases.is_file():
                digest.update(releases.read_bytes() + b"\0")
            links.update(load_links(path_dir, _label(path_dir / LINKS_FILE, root)))
            for path in table_files(path_dir):
                label = _label(path, root)
                digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
                entries.extend(parse_entries(label, load_file(path, label), layer))
                files.append(path)
        recorded = {section: {k: sorted(v) for k, v in found.items()} if section in said else None
                    for section, found in stated.items()}
        releases = Releases(described, mode_recorded[min(mode_recorded)] if mode_recorded else {},
                            recorded["devices"], recorded["backends"])
        table = cls(directories, entries, digest.hexdigest(), files, releases)
        table.recovered = recovered
        table.links = links
        table.check_conflicts(torch_version)
        return table

    def with_layer(self, layer: int, texts: dict[str, str], torch_version: str) -> "Table":
        """This table with one layer's entries replaced by the given file texts (rows being recorded into it),
        validated like files on disk."""
        entries = [e for e in self.entries if e.layer != layer]
        for name in sorted(texts):
            entries.extend(parse_entries(name, loads(texts[name], name), layer))
        table = Table(self.directories, entries, self.digest, self.files, self.releases)
        table.links = self.links
        table.check_conflicts(torch_version)
        return table

    @classmethod
    def from_texts(cls, texts: dict[str, str], torch_version: str) -> "Table":
        """A table from file name -> TOML text (rows about to be written), validated like files on disk."""
        entries: list[Entry] = []
        digest = hashlib.sha256()
        for name in sorted(texts):
            digest.update(name.encode() + b"\0" + texts[name].encode() + b"\0")
            entries.extend(parse_entries(name, loads(texts[name], name)))
        table = cls([], entries, digest.hexdigest(), [])
        table.check_conflicts(torch_version)
        return table

    def check_conflicts(self, torch_version: str) -> None:
        version = torch_release(torch_version)
        for entry in self.entries:
            # Only the devices and modes the entry's blocks name can resolve differently from the reference.
            named_devices = {devices.REFERENCE, *(b.device for b in entry.when if b.device)}
            named_modes = {modes.REFERENCE, *(b.mode for b in entry.when if b.mode)}
            named_backends = {modes.DEFAULT_BACKEND, *(b.backend for b in entry.when if b.backend)}
            for device in sorted(named_devices):
                for mode in sorted(named_modes):
                    for backend in sorted(named_backends) if mode == modes.COMPILE else [modes.DEFAULT_BACKEND]:
                        entry.facts_for(self.releases.version_for(entry.layer, version), device, mode, backend)

    def matching(self, probe_id: str, torch_version: str | None = None) -> list[Entry]:
        found = list(self._index.matching(probe_id))
        if torch_version is not None:
            version = torch_release(torch_version)
            found = [e for e in found if e.available(self.releases.version_for(e.layer, version))]
        return sorted(found, key=lambda e: e.specificity)

    def resolve(self, probe_id: str, device: str, torch_version: str, mode: str = modes.REFERENCE,
                backend: str | None = modes.DEFAULT_BACKEND) -> Resolved | None:
        """The expectation for one probe, or None when no key matches it; raises TableError on a conflict.
        A probe in another mode than eager has the id of its eager twin plus the mode: it is resolved by the
        twin's keys, under its mode's ``when`` blocks (compile mode's under ``backend``)."""
        probe_id = without_mode(probe_id, mode)
        entries = self.matching(probe_id, torch_version)
        if not entries:
            return None
        version = torch_release(torch_version)
        facts: dict[str, Any] = {}
        blocks: dict[str, Block] = {}
        level: dict[str, tuple[int, int, int]] = {}
        for entry in entries:
            entry_facts, entry_blocks = entry.facts_for(self.releases.version_for(entry.layer, version), device, mode,
                                                        backend)
            for name, value in entry_facts.items():
                if name in level and level[name] == entry.specificity and facts[name] != value:
                    raise TableError(entry.file, entry.key, (
                        f"conflicting rows for {probe_id}: fact {name!r} is {facts[name]!r} in "
                        f"[{blocks[name].key}] and {value!r} in [{entry.key}], equally specific"))
                facts[name], blocks[name], level[name] = value, entry_blocks[name], entry.specificity
        for name in [n for n, v in facts.items() if v == ABSENT]:
            del facts[name]
        return Resolved(facts, {n: b.describe() for n, b in blocks.items() if n in facts}, blocks,
                        [e.key for e in entries])

    def stale_keys(self, probe_ids: set[str], torch_version: str | None = None,
                   checked: Callable[[Entry], bool] | None = None) -> list[Entry]:
        """Entries that match none of ``probe_ids`` (meaningful only for entries whose probes all ran:
        ``checked`` says which entries those are; default all).

        An entry whose own torch range excludes ``torch_version`` describes a probe that does not exist on this
        release, so it is never stale here.
        """
        version = torch_release(torch_version) if torch_version is not None else None
        by_base: dict[str, list[str]] = {}
        for probe_id in probe_ids:
            by_base.setdefault(probe_id.split("[", 1)[0], []).append(probe_id)

        return [e for e in self.entries if (version is None or e.available(self.releases.version_for(e.layer, version)))
                and (checked is None or checked(e)) and not used_by(e.key, probe_ids, by_base)]


def _label(path: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return str(path.resolve().relative_to(root.resolve()))
        except ValueError:
            pass
    return str(path)
