"""Accepting a candidate torch's differences into a team's own table layer (``autograd-conformance accept``).

A candidate run (the suite on the torch a team wants to move to) differs from the table where torch changed. To
accept a change is to state it: for each probe that differs, a ``when`` block in the team's layer, conditioned
on the candidate's release and later (``torch = ">=2.14.1"``, or ``--since``) and on the probe's device and
mode where they are not the reference, stating the facts the candidate observed, with the team's reason and
link. A higher layer's facts win over the bundled table's, so the candidate is green afterwards and the current
pin still resolves as before; the installed bundled table is never written. Probes that broke, crashed, timed
out, leaked or never ran are not accepted (their facts are not a whole observation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from . import modes
from .errors import ConformanceError
from .expectations import Table, variant_conditions
from .facts import compared_facts
from .merge import table_diff
from .probes import installed_path
from .record import stored
from .releases import torch_release
from .report import Report
from .result import ProbeResult
from .tablefile import ABSENT, CONDITION_KEYS, WHEN, commit, dumps_table, load_docs
from .text import probes
from .verdict import DRIFT, MISMATCH, MISSING, NOT_OBSERVED, PASS, judge

#: The verdicts a candidate's probe can be accepted from.
ACCEPTABLE = (MISMATCH, DRIFT, MISSING)


class AcceptError(ConformanceError):
    """A candidate that cannot be accepted as asked; str() is one line."""


@dataclass
class Accepted:
    """What ``accept`` wrote: per probe, the facts it stated; the blocks; the files; the probes left out."""

    probes: dict[str, list[str]] = field(default_factory=dict)
    blocks: int = 0
    files: set[str] = field(default_factory=set)
    left_out: list[str] = field(default_factory=list)

    def account(self, directory: Path, since: str) -> list[str]:
        lines = [f"accepted {probes(len(self.probes))} as of torch {since} into {directory}: {self.blocks} when "
                 f"blocks in {', '.join(sorted(self.files)) or 'no file'}"]
        lines += [f"  {pid}: {', '.join(facts)}" for pid, facts in sorted(self.probes.items())]
        if self.left_out:
            lines.append(f"  not accepted (broke, crashed, timed out, leaked or never ran): "
                         f"{', '.join(self.left_out[:5])}{', ...' if len(self.left_out) > 5 else ''}")
        return lines


def plan(directory: Path, candidate: Report, lower: list[Path], reason: str, link: str | None = None,
         since: str | None = None, selected: list[str] | None = None) -> tuple[dict[str, dict[str, Any]], Accepted]:
    """The team layer's documents with the candidate's differences stated, and what was stated; verified: every
    accepted probe passes against the bundled table (``lower`` layers) with the new layer over it."""
    if not reason.strip():
        raise AcceptError("--reason is required: say why the table now states the candidate's behaviour")
    if installed_path(directory):
        raise AcceptError(f"{directory}: the installed package's table is never written; accept into your own "
                          f"table (--expectations tests/autograd/expectations)")
    since = since or str(torch_release(candidate.run_info.torch_version))
    try:
        condition = str(SpecifierSet(f">={since}"))
    except InvalidSpecifier:
        raise AcceptError(f"--since {since!r}: not a torch version") from None
    docs = load_docs(directory) if directory.is_dir() else {}
    done = Accepted()
    chosen = [p for p in candidate.probes
              if not selected or any(fnmatchcase(p.id, pattern) for pattern in selected)]
    if selected and not chosen:
        raise AcceptError(f"--probe {' '.join(selected)}: no probe of {candidate.run_info.run_name} matches")
    backend = candidate.run_info.compile_backend or modes.DEFAULT_BACKEND
    for probe in chosen:
        if probe.verdict in ACCEPTABLE:
            try:
                _state(docs, probe, condition, reason, link, done, backend)
            except ValueError as exc:
                raise AcceptError(f"{probe.id}: {exc}") from None
        elif probe.verdict != PASS and probe.verdict != "skipped":
            done.left_out.append(probe.id)
    _verify(docs, candidate, lower, [p for p in chosen if p.id in done.probes])
    return docs, done


def _state(docs: dict[str, dict[str, Any]], probe: ProbeResult, condition: str, reason: str, link: str | None,
           done: Accepted, backend: str = modes.DEFAULT_BACKEND) -> None:
    observed = compared_facts(probe.observation)
    if probe.verdict == MISSING:
        facts = {name: stored(name, observed[name]) for name in sorted(observed)}
    else:
        facts = {m.fact: dict(ABSENT) if m.note == NOT_OBSERVED else stored(m.fact, m.observed)
                 for m in probe.mismatches}
    if not facts:
        return
    filename = f"{probe.family}.toml"
    row = docs.setdefault(filename, {}).setdefault(probe.record_key, {})
    conditions = {"torch": condition, **variant_conditions(probe.table_device, probe.mode, backend)}
    blocks = row.setdefault(WHEN, [])
    block = next((b for b in blocks if {k: b[k] for k in CONDITION_KEYS if k in b} == conditions), None)
    if block is None:
        block = dict(conditions)
        blocks.append(block)
        done.blocks += 1
    block.update(facts, reason=reason, **({"link": link} if link else {}))
    done.probes.setdefault(probe.id, []).extend(sorted(facts))
    done.files.add(filename)


def _verify(docs: dict[str, dict[str, Any]], candidate: Report, lower: list[Path], probes: list[ProbeResult]) -> None:
    version = candidate.run_info.torch_version
    texts = {name: dumps_table(doc) for name, doc in docs.items()}
    try:
        table = Table.load(lower, version).with_layer(len(lower), texts, version)
    except ConformanceError as exc:
        raise AcceptError(f"the accepted table would be invalid: {exc}") from None
    for probe in probes:
        resolved = table.resolve(probe.id, probe.table_device, version, probe.mode,
                                 candidate.run_info.compile_backend or modes.DEFAULT_BACKEND)
        if judge(probe.observation, resolved).status != PASS:
            raise AcceptError(f"{probe.id}: its facts cannot be stated with a when block of the candidate's "
                              f"release; edit its row by hand")


def write(directory: Path, docs: dict[str, dict[str, Any]], done: Accepted) -> None:
    """Write the files ``plan`` changed, as one commit, one writer at a time."""
    commit(directory, docs, done.files)


def diff(directory: Path, docs: dict[str, dict[str, Any]], done: Accepted) -> str:
    """The table diff ``write`` would make."""
    return table_diff(directory, docs, done.files)


def accept(directory: Path, candidate: Report, reason: str, link: str | None = None, since: str | None = None,
           selected: list[str] | None = None, dry_run: bool = False) -> str:
    """``autograd-conformance accept``: plan against the installed bundled table, then write (or, in a dry run,
    show the diff); returns the account."""
    from .probes import bundled_suite

    suite = bundled_suite()
    docs, done = plan(directory, candidate, [suite.table_dir] if suite else [], reason, link, since, selected)
    text = "\n".join(done.account(directory, since or str(torch_release(candidate.run_info.torch_version)))) + "\n"
    if dry_run:
        return text + diff(directory, docs, done) + "dry run: nothing written\n"
    if done.files:
        write(directory, docs, done)
    return text
