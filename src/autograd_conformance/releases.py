"""The torch releases a table describes: version parsing, the nearest described release, and what a table's
layers say about the releases they (and each execution mode's rows) were recorded on."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from packaging.version import InvalidVersion, Version

from .errors import ConformanceError


class VersionError(ConformanceError, ValueError):
    """A torch version that is not a PEP 440 version; str() is one line."""


@lru_cache(maxsize=256)
def torch_release(version: str) -> Version:
    """The version a condition is evaluated on: the release without its local part (2.13.0+cpu -> 2.13.0)."""
    return Version(Version(version).public)


def check_torch_version(text: str) -> str:
    """Validate a torch version string given on the command line; returns it unchanged."""
    try:
        Version(text)
    except InvalidVersion:
        raise VersionError(f"not a PEP 440 version: {text!r}") from None
    return text


def nearest(described: list[Version], version: Version) -> Version:
    """A torch the table does not describe (newer, older, a nightly, a patch in between) is resolved as the
    described release of its own minor line, else the newest one below it, else the oldest."""
    if version in described:
        return version
    same_line = [v for v in described if v.release[:2] == version.release[:2]]
    below = [v for v in described if v < version]
    return max(same_line or below or [described[0]])


@dataclass
class Releases:
    """What a table's layers say about torch releases: per layer, the releases it describes (its
    ``_releases.toml``; a layer that lists none describes whatever its conditions say), and per execution mode
    other than eager, the releases its rows were recorded on."""

    by_layer: dict[int, list[Version]] = field(default_factory=dict)
    #: Per mode other than eager, the releases the lowest layer that says so recorded it on.
    mode_recorded: dict[str, list[Version]] = field(default_factory=dict)
    #: Per device, the releases any layer recorded it on (a team's layer adds the devices it recorded); None
    #: when no layer says: a table from before devices were stated was recorded on the reference device only.
    device_recorded: dict[str, list[Version]] | None = None
    #: Per torch.compile backend, the releases any layer recorded compile mode with it on; None when no layer
    #: says: compile rows were recorded with the default backend.
    backend_recorded: dict[str, list[Version]] | None = None

    def __post_init__(self) -> None:
        self.by_layer = {k: sorted(set(v)) for k, v in self.by_layer.items() if v}

    @property
    def described(self) -> list[Version]:
        """The releases of the lowest layer that lists them (the bundled table): what the run and the
        changelog speak of, oldest first."""
        return self.by_layer[min(self.by_layer)] if self.by_layer else []

    def version_for(self, layer: int, version: Version) -> Version:
        """The release a layer's rows are resolved for: ``version`` itself, or the nearest the layer describes."""
        described = self.by_layer.get(layer)
        return nearest(described, version) if described else version

    def nearest(self, torch_version: str) -> tuple[str, str | None]:
        """The release the run's rows are resolved for, and a sentence when it is not ``torch_version`` itself
        (see ``nearest``), as the lowest layer that lists described releases decides."""
        described = self.described
        if not described:
            return torch_version, None
        chosen = nearest(described, torch_release(torch_version))
        if chosen == torch_release(torch_version):
            return torch_version, None
        span = f"{described[0]} … {described[-1]}" if len(described) > 1 else str(described[0])
        return str(chosen), (f"torch {torch_version} is not described by the table ({span}): rows are resolved "
                             f"as for torch {chosen}, the nearest described release")

    def mode_note(self, mode: str, torch_version: str) -> str | None:
        """A sentence when the table's rows for ``mode`` were not recorded on this release (None when they were,
        or when the table does not say)."""
        recorded = self.mode_recorded.get(mode)
        if not recorded or torch_release(self.nearest(torch_version)[0]) in recorded:
            return None
        return (f"{mode} mode was recorded on torch {', '.join(str(v) for v in recorded)} only: its rows on torch "
                f"{torch_version} state what it did there")

    def _recorded_on(self, recorded: dict[str, list[Version]] | None, name: str, default: str,
                     torch_version: str) -> bool:
        """Whether ``recorded`` (per device or per backend, None where no layer says) lists ``name`` for the
        release this torch's rows are resolved for; where nothing is said, only ``default`` was recorded."""
        if recorded is None:
            return name == default
        return torch_release(self.nearest(torch_version)[0]) in recorded.get(name, [])

    def device_recorded_on(self, device: str, torch_version: str) -> bool:
        """Whether the table has a recording of ``device`` for the release this torch's rows are resolved for."""
        from . import devices

        return self._recorded_on(self.device_recorded, device, devices.REFERENCE, torch_version)

    def device_note(self, device: str, torch_version: str) -> str | None:
        """A sentence when the table has no recording of ``device`` for this release (None when it has)."""
        if self.device_recorded_on(device, torch_version):
            return None
        from . import devices

        release = torch_release(self.nearest(torch_version)[0])
        recorded = self.device_recorded if self.device_recorded is not None else {devices.REFERENCE: [release]}
        others = sorted(d for d, on in recorded.items() if release in on) or [devices.REFERENCE]
        elsewhere = (f"; {device} was recorded on torch {', '.join(map(str, recorded[device]))}"
                     if recorded.get(device) else "")
        return (f"the table has no recording of {device} for torch {release} (its rows were recorded on "
                f"{', '.join(others)}{elsewhere}): {device} probes that differ get verdict 'unrecorded', reported, "
                f"not failing (--ac-gate=all,unrecorded fails them); record {device} into your own table with "
                f"'autograd-conformance record-device {device}'")

    def backend_recorded_on(self, backend: str, torch_version: str) -> bool:
        """Whether the table has compile rows recorded with ``backend`` for this torch's release."""
        from . import modes

        if backend == modes.DEFAULT_BACKEND and modes.DEFAULT_BACKEND not in (self.backend_recorded or {}):
            return True  # a table that does not list the default backend recorded its compile rows with it
        return self._recorded_on(self.backend_recorded, backend, modes.DEFAULT_BACKEND, torch_version)

    def backend_note(self, backend: str, torch_version: str) -> str | None:
        """A sentence when compile mode under ``backend`` has no recording for this release."""
        if self.backend_recorded_on(backend, torch_version):
            return None
        release = torch_release(self.nearest(torch_version)[0])
        others = sorted(b for b, on in (self.backend_recorded or {}).items() if release in on)
        return (f"the table has no recording of compile mode under {backend} for torch {release} (its compile rows "
                f"were recorded with {', '.join(others) or 'another backend'}): compile probes that differ get "
                f"verdict 'unrecorded', reported, not failing (--ac-gate=all,unrecorded fails them)")
