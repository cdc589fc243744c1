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
from enum import StrEnum
from pathlib import Path
from typing import Any

from . import devices, modes
from .expectations import Resolved, Table, variant_conditions
from .facts import OPT_STR, OPT_TENSOR, compared_facts, spec_of
from .files import write_together
from .ids import without_mode
from .result import ProbeResult
from .tablefile import ABSENT, CONDITION_KEYS, NOTE_KEYS, RELEASES_FILE, WHEN, dumps_table, load_docs, releases_recording
from .verdict import SKIPPED, UNOBSERVED, equal

class RecordPolicy(StrEnum):
    """What a record run may write (``--ac-record=POLICY``): ``new`` adds rows and facts the table lacks and
    never changes an existing fact; ``all`` also rewrites facts that differ; ``init`` is ``new`` into a table
    directory it may create (the only policy that creates one)."""

    NEW = "new"
    ALL = "all"
    INIT = "init"


NEW, ALL, INIT = RecordPolicy.NEW, RecordPolicy.ALL, RecordPolicy.INIT


@dataclass
class RecordSummary:
    """What a record run wrote: rows added, facts added and changed, facts it kept unwritten because they
    differ from an existing row (under ``new``), and the files it touched."""

    added_entries: list[str] = field(default_factory=list)
    added_facts: int = 0
    changed_facts: int = 0
    kept_different: list[tuple[str, str]] = field(default_factory=list)
    files: set[str] = field(default_factory=set)
    #: Probes whose facts are not a whole observation (broke, crashed, timed out, leaked, never ran): their
    #: rows are left as they were, never rewritten from what they did not observe.
    left_alone: list[str] = field(default_factory=list)
    #: Devices (other than the reference) this run recorded, now listed in the layer's ``[devices]``.
    devices: list[str] = field(default_factory=list)
    #: The compile backend (other than the default) this run recorded, now listed in the layer's ``[backends]``.
    backends: list[str] = field(default_factory=list)
    #: Probes on another device whose differences were left unwritten: a device block needs a reason.
    unexplained: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class VariantNote:
    """The notes of the ``when`` blocks a record run adds for another variant (``--ac-record-reason``,
    ``--ac-record-link``): a device block is never written without a reason."""

    reason: str | None = None
    link: str | None = None


def stored(name: str, value: Any) -> Any:
    """TOML has no null: a nullable fact's null is stored as false (the loader maps it back)."""
    if value is None and spec_of(name).type not in (OPT_STR, OPT_TENSOR):
        raise ValueError(f"fact {name!r} is null but its type does not allow null")
    return value


class Recorder:
    """One live run's observations gathered into the raw table documents (file name -> parsed TOML) and
    written once, at the end: every file of the run or none."""

    def __init__(self, docs: dict[str, dict[str, Any]], policy: RecordPolicy, torch_version: str | None = None,
                 note: VariantNote | None = None, backend: str = modes.DEFAULT_BACKEND) -> None:
        self.docs = docs
        #: The torch.compile backend the run's compile probes ran under (their blocks name it unless default).
        self.backend = backend
        self.policy = RecordPolicy(policy)
        self.torch_version = torch_version
        self.note = note or VariantNote()
        self.summary = RecordSummary()
        #: The table layer being written (the top one): a block of a lower layer is never edited in place.
        self.top = 0
        #: The release a run of whole suites recorded its devices (and compile backend) on (``record``), else None.
        self.release: str | None = None

    @classmethod
    def open(cls, directory: Path, policy: RecordPolicy, torch_version: str, note: VariantNote | None = None,
             backend: str = modes.DEFAULT_BACKEND) -> "Recorder":
        """A recorder over the table files in ``directory`` (created under the ``init`` policy)."""
        if policy == INIT:
            directory.mkdir(parents=True, exist_ok=True)
        return cls(load_docs(directory), policy, torch_version, note, backend)

    def _conditions(self, result: ProbeResult) -> dict[str, str]:
        return variant_conditions(result.table_device, result.mode, self.backend)

    def record(self, table: Table, results: list[ProbeResult], release: str | None = None) -> RecordSummary:
        """Gather the observations of a run (probes that were skipped, broke, crashed, timed out, leaked or never
        ran are left out, their rows as they were): the reference probes first, then the other variants against
        the table as the reference probes left it. With ``release`` (a run of whole suites), each device other
        than the reference that probes were recorded on, and the compile backend, are listed as recorded on that
        release."""
        kept = sorted((r for r in results if r.verdict not in UNOBSERVED), key=lambda r: r.nodeid)
        self.summary.left_alone = sorted(r.id for r in results if r.verdict in UNOBSERVED and r.verdict != SKIPPED)
        others = [r for r in kept if self._conditions(r)]
        self.top = max(len(table.directories) - 1, 0)
        for res in (r for r in kept if not self._conditions(r)):
            self.observe(res, table.resolve(res.id, res.table_device, self.torch_version or "0"))
        if others:
            table = table.with_layer(self.top, {name: dumps_table(doc) for name, doc in self.docs.items()},
                                     self.torch_version or "0")
            for res in others:
                eager = (table.resolve(without_mode(res.id, res.mode), res.table_device, self.torch_version or "0")
                         if res.mode != modes.REFERENCE else None)
                self.observe(res, table.resolve(res.id, res.table_device, self.torch_version or "0", res.mode,
                                                self.backend), eager)
        on_devices = sorted({r.table_device for r in others if r.table_device != devices.REFERENCE})
        if release is not None and not self.summary.unexplained:
            self.summary.devices, self.release = on_devices, release
            if self.backend != modes.DEFAULT_BACKEND and any(r.mode == modes.COMPILE for r in others):
                self.summary.backends = [self.backend]  # the default backend's are compile mode's own rows
        return self.summary

    def write(self, directory: Path) -> None:
        """Write every file the run changed, and the layer's ``[devices]`` and ``[backends]`` where it recorded
        a device or compile mode under a backend: one commit (``files.write_together``)."""
        texts = {name: dumps_table(self.docs[name]) for name in self.summary.files}
        listed = ([("devices", name, self.release) for name in self.summary.devices]
                  + [("backends", name, self.release) for name in self.summary.backends])
        if listed and self.release is not None:
            texts[RELEASES_FILE] = releases_recording(directory, listed)
        if texts:
            write_together(Path(directory), texts)

    def observe(self, result: ProbeResult, resolved: Resolved | None, eager: Resolved | None = None) -> None:
        """Merge one probe's observed facts into the documents, given what the table resolves for it (and, for
        a probe in another mode, for its eager twin: what a mode block's hazard is judged against)."""
        variant = self._conditions(result)
        filename = f"{result.family}.toml"
        doc = self.docs.setdefault(filename, {})
        key = result.id if result.id in doc else result.record_key
        observed = compared_facts(result.observation)
        if variant:
            self._variant(doc, filename, key, result.id, observed, resolved, variant, eager)
        else:
            self._reference(doc, filename, key, result.id, observed, resolved)

    def _wrote(self, filename: str, added: int = 0, changed: int = 0) -> None:
        self.summary.added_facts += added
        self.summary.changed_facts += changed
        self.summary.files.add(filename)

    def _reference(self, doc: dict[str, Any], filename: str, key: str, probe_id: str, observed: dict[str, Any],
                   resolved: Resolved | None) -> None:
        if resolved is None:
            doc[key] = {name: stored(name, observed[name]) for name in sorted(observed)}
            self.summary.added_entries.append(key)
            self._wrote(filename, added=len(observed))
            return
        own = doc.get(key)
        for name in sorted(observed):
            value = observed[name]
            if name not in resolved.facts:
                own = doc.setdefault(key, {})
                own[name] = stored(name, value)
                self._wrote(filename, added=1)
            elif not equal(resolved.facts[name], value):
                if self.policy != ALL:
                    self.summary.kept_different.append((probe_id, name))
                    continue
                block = resolved.blocks[name]
                target = doc.setdefault(key, {})
                if block.key == key and block.index is not None and block.layer == self.top and WHEN in target:
                    target = target[WHEN][block.index]  # the block in force is this layer's own: edit it
                target[name] = stored(name, value)
                self._wrote(filename, changed=1)
        if self.policy == ALL and own is not None:
            stale = [n for n in own if n not in observed and n not in (WHEN, *CONDITION_KEYS, *NOTE_KEYS)
                     and own[n] != ABSENT and n in resolved.facts]
            for name in stale:
                del own[name]
                self._wrote(filename, changed=1)

    def _variant(self, doc: dict[str, Any], filename: str, key: str, probe_id: str, observed: dict[str, Any],
                 resolved: Resolved | None, variant: dict[str, str], eager: Resolved | None = None) -> None:
        """A non-reference probe: facts the table states only for the reference go into the variant's block."""
        expected = resolved.facts if resolved is not None else {}
        writes: dict[str, Any] = {}
        for name in sorted(set(observed) | set(expected)):
            value = observed.get(name, ABSENT)
            before = expected.get(name, ABSENT)
            if value == before if ABSENT in (value, before) else equal(before, value):
                continue
            block = resolved.blocks.get(name) if resolved is not None and name in expected else None
            if block is not None and block.states(variant):
                if self.policy != ALL:
                    self.summary.kept_different.append((probe_id, name))
                    continue
                if block.key == key and block.layer == self.top and key in doc and WHEN in doc[key]:
                    target = doc[key][WHEN][block.index]
                    target[name] = dict(ABSENT) if value == ABSENT else stored(name, value)
                    self._wrote(filename, changed=1)
                    continue
            writes[name] = dict(ABSENT) if value == ABSENT else stored(name, value)
        if not writes:
            return
        own = doc.get(key)
        blocks = own.get(WHEN, []) if own is not None else []
        target = next((b for b in blocks if {k: b[k] for k in CONDITION_KEYS if k in b} == variant), None)
        if target is None and "device" in variant and not self.note.reason:
            self.summary.unexplained.append(probe_id)  # a device block is written with its reason only
            return
        if own is None:
            own = doc[key] = {}
            self.summary.added_entries.append(key)
        if target is None:
            said = " ".join(f"{k} {v}" for k, v in variant.items())
            target = {**variant, "reason": self.note.reason or f"observed on torch {self.torch_version or '?'} "
                                                               f"({said}); recorded by --ac-record — replace "
                                                               f"with why torch differs"}
            if self.note.link:
                target["link"] = self.note.link
            if "mode" in variant:  # how much the mode's difference from eager matters, by the rule
                hazard = modes.hazard_of(eager.facts if eager is not None else expected, writes, ABSENT)
                if hazard:
                    target["hazard"] = hazard
            own.setdefault(WHEN, []).append(target)
        target.update(writes)
        self._wrote(filename, added=len(writes))
