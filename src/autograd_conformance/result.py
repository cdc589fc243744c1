"""The probe result: one typed record per probe, built by the plugin, the stream and synthetic reports alike.

It crosses every module after the verdict (stream, report, html, diff, merge), always as a ``ProbeResult``;
``to_json``/``from_json`` are the only places its JSON shape (``schema/report.schema.json``'s probe) is
spelled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import devices, modes
from .expectations import Resolved
from .ids import plain_nodeid, probe_id, record_key
from .verdict import Mismatch


@dataclass
class Location:
    """Where the probe's source is: file (relative to the suite's root), first line and last line."""

    file: str
    line: int | None = None
    end_line: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "end_line": self.end_line}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Location":
        return cls(data["file"], data.get("line"), data.get("end_line"))


@dataclass
class Expectation:
    """The expectation in force: resolved facts, per fact the row/condition it came from, and the keys used."""

    facts: dict[str, Any]
    sources: dict[str, str]
    keys: list[str]
    #: Where a mode block states how this probe's mode differs from eager: how much that matters
    #: (``modes.HAZARDS``, the most severe of the blocks in force).
    hazard: str | None = None

    @classmethod
    def of(cls, resolved: Resolved | None) -> "Expectation | None":
        if resolved is None:
            return None
        stated = {b.hazard for b in resolved.blocks.values() if b.hazard}
        hazard = next((h for h in modes.HAZARDS if h in stated), None)
        return cls(resolved.facts, resolved.sources, resolved.keys, hazard)

    def to_json(self) -> dict[str, Any]:
        return {"facts": self.facts, "sources": self.sources, "keys": self.keys,
                **({"hazard": self.hazard} if self.hazard else {})}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> "Expectation | None":
        return None if data is None else cls(data["facts"], data["sources"], data["keys"], data.get("hazard"))


@dataclass
class ProbeResult:
    """What one probe observed, what the table expected, and the verdict."""

    id: str
    family: str
    nodeid: str
    verdict: str
    device: str | None = None
    #: The execution mode the probe's scenario ran in (``eager``, ``compile``).
    mode: str = modes.REFERENCE
    params: dict[str, Any] = field(default_factory=dict)
    observation: dict[str, Any] = field(default_factory=dict)
    expectation: Expectation | None = None
    mismatches: list[Mismatch] = field(default_factory=list)
    duration: float = 0.0
    location: Location | None = None
    doc: str | None = None
    message: str | None = None
    repro: str | None = None
    #: What the table says changes for this probe from one described torch release to the next.
    timeline: list[dict[str, Any]] = field(default_factory=list)

    @property
    def record_key(self) -> str:
        """The device- and mode-agnostic table key record mode writes for this probe."""
        return record_key(self.id, self.device, self.mode)

    @property
    def section(self) -> str:
        """How pages group this probe: its family, and its mode where that is not eager (``leaf · compile``)."""
        return self.family if self.mode == modes.REFERENCE else f"{self.family} · {self.mode}"

    @property
    def table_device(self) -> str:
        """The device the table is resolved for (a probe without a device runs on the reference device)."""
        return self.device or devices.REFERENCE

    @classmethod
    def unreported(cls, nodeid: str, verdict: str, message: str) -> "ProbeResult":
        """A result for a probe that never reported (its process died, or the run stopped while it ran)."""
        nodeid = plain_nodeid(nodeid)
        family, pid = probe_id(nodeid)
        device, mode = None, modes.REFERENCE
        if pid.endswith("]"):
            parts = pid[pid.index("[") + 1:-1].split("-")
            device, mode = devices.in_params(parts), modes.in_params(parts)
        return cls(pid, family, nodeid, verdict, device=device, mode=mode,
                   location=Location(nodeid.partition("::")[0]), message=message)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "family": self.family, "nodeid": self.nodeid, "device": self.device, "mode": self.mode,
            "params": self.params, "verdict": self.verdict, "observation": self.observation,
            "expectation": None if self.expectation is None else self.expectation.to_json(),
            "mismatches": [m.to_json() for m in self.mismatches], "duration": self.duration,
            "location": (self.location or Location("")).to_json(), "doc": self.doc, "message": self.message,
            "repro": self.repro, **({"timeline": self.timeline} if self.timeline else {}),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ProbeResult":
        return cls(
            id=data["id"], family=data["family"], nodeid=data["nodeid"], verdict=data["verdict"],
            device=data.get("device"), mode=data.get("mode", modes.REFERENCE), params=data.get("params", {}), observation=data.get("observation", {}),
            expectation=Expectation.from_json(data.get("expectation")),
            mismatches=[Mismatch(**m) for m in data.get("mismatches", [])], duration=data.get("duration", 0.0),
            location=Location.from_json(data["location"]) if data.get("location") else None,
            doc=data.get("doc"), message=data.get("message"), repro=data.get("repro"),
            timeline=data.get("timeline", []))
