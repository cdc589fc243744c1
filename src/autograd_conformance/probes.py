"""Probe suites: the directories whose test modules are probes, and what those modules get from the harness.

A suite is a directory of ``test_<family>.py`` probe modules with its table in ``expectations/`` beside them
(as syrupy keeps ``__snapshots__`` next to the tests). The bundled suite ships inside the package
(``autograd_conformance.suites``; in a checkout, ``suites/``); a team's own suites are the directories above
the table directories it configures (``ac_expectations``). Every module of a suite is collected as a
``ProbeModule``, which gives it the ``obs`` fixture at module scope: a host fixture of the same name (in a
conftest or another plugin) can neither shadow it nor be shadowed by it, and tests outside the suites never
see it. The ``device`` a probe asks for is a parametrization (by the plugin), not a fixture, for the same
reason. A module (or function) marked ``@pytest.mark.modes("eager", "compile")`` also runs in compile mode when
the run selects it: each of its items gets a twin named for the mode (``test_x[cpu-compile]``, marked
``compile``) whose ``obs`` is a ``CompiledObservation`` and whose call the plugin hands to ``compiled.call``.
"""

from __future__ import annotations

import importlib.util
import sysconfig
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from . import modes

if TYPE_CHECKING:
    from .observe import Observation

#: The package that holds the bundled suite.
BUNDLED_PACKAGE = "autograd_conformance.suites"
TABLE_DIR_NAME = "expectations"
#: Where each probe's Observation is kept for the hooks that judge it.
OBSERVATION = pytest.StashKey["Observation"]()
#: The execution mode of a probe item other than eager (an eager item has none).
MODE = pytest.StashKey[str]()
#: What importing a probe module changed of torch's process-wide state (it was put back), one line a module.
IMPORT_LEAKS = pytest.StashKey[list[str]]()


@dataclass(frozen=True)
class Suite:
    """A directory of probe modules and the table directory that describes them."""

    directory: Path
    table_dir: Path
    bundled: bool = False

    @property
    def installed(self) -> bool:
        """An installed copy of the bundled suite: its table is never written by a run (a team records its
        own rows into its own table instead)."""
        return self.bundled and installed_path(self.table_dir)

    def contains(self, path: Path) -> bool:
        path = Path(path).resolve()
        return path == self.directory or self.directory in path.parents


def installed_path(path: Path) -> bool:
    """Whether ``path`` is inside this environment's installed packages (site-packages): never written."""
    roots = {Path(p).resolve() for p in (sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"])}
    return any(root in Path(path).resolve().parents for root in roots)


def bundled_suite() -> Suite | None:
    """The suite that ships with the package (None when the package was imported from a bare source tree)."""
    try:
        spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    directory = Path(list(spec.submodule_search_locations)[0]).resolve()
    return Suite(directory, directory / TABLE_DIR_NAME, bundled=True)


def default_table() -> Path:
    """The table the commands read by default: ./suites/expectations in a checkout, else the bundled one."""
    here = Path("suites") / TABLE_DIR_NAME
    if here.is_dir():
        return here
    suite = bundled_suite()
    return suite.table_dir if suite is not None else here


def suites_for(table_dirs: list[Path]) -> list[Suite]:
    """The bundled suite, then one suite per configured table directory (its parent holds the probes)."""
    found: list[Suite] = []
    bundled = bundled_suite()
    if bundled is not None:
        found.append(bundled)
    for table_dir in table_dirs:
        table_dir = Path(table_dir).resolve()
        if any(s.table_dir.resolve() == table_dir for s in found):
            continue
        found.append(Suite(table_dir.parent, table_dir))
    return found


def suite_of(path: Path, suites: list[Suite]) -> Suite | None:
    """The suite a file belongs to (the innermost one, if suites nest)."""
    inside = [s for s in suites if s.contains(path)]
    return max(inside, key=lambda s: len(s.directory.parts)) if inside else None


def suite_module(file: str, bases: Iterable[Path], suites: list[Suite]) -> Path | None:
    """The probe module a node id's file part names (relative to one of ``bases``: the rootdir, where pytest
    started, a suite's directory or the one above it), or None when it names no module of a suite."""
    for base in bases:
        path = (Path(base) / file).resolve()
        if path.is_file() and suite_of(path, suites) is not None:
            return path
    return None


@pytest.fixture
def obs(request: pytest.FixtureRequest):
    """The probe's Observation, inside an isolated probe context (seeded RNG, warnings always on)."""
    from .observe import Observation, probe_context  # torch is imported by the probes, not by the plugin

    mode = request.node.stash.get(MODE, modes.REFERENCE)
    if mode == modes.REFERENCE:
        observation = Observation()
    else:
        from .compiled import CompiledObservation

        observation = CompiledObservation(request.config.getoption("ac_compile_backend")
                                          or request.config.getini("ac_compile_backend"))
    request.node.stash[OBSERVATION] = observation
    with probe_context():
        yield observation


class ProbeModule(pytest.Module):
    """A test module of a probe suite: collected like any module, with ``obs`` defined at module scope, and
    imported inside the isolation check (a module that changes torch's state at import is named, and the
    state put back, so it cannot change the facts of the probes collected after it)."""

    def _getobj(self):  # type: ignore[override]
        if importlib.util.find_spec("torch") is None:
            pytest.exit("autograd-conformance: torch is not installed in this environment: install the release "
                        "you pin first (pip install 'torch==X.Y.Z'); the package never chooses a torch for you",
                        returncode=2)
        from .isolation import around_import  # imports torch: the probe module is about to

        module = []
        leaks = around_import(lambda: module.append(pytest.Module._getobj(self)))
        if leaks:
            self.config.stash.setdefault(IMPORT_LEAKS, []).append(
                f"{self.nodeid}: importing it left torch's state changed: {'; '.join(leaks)}")
        return module[0]

    def collect(self):  # type: ignore[override]
        module = self.obj
        if "obs" not in vars(module):
            module.obs = obs
        return super().collect()


def declared_modes(item: pytest.Item) -> tuple[str, ...]:
    """The modes a probe declares with the ``modes`` marker (the function's over the module's); eager only
    when it declares none."""
    marker = item.get_closest_marker(modes.MARKER)
    return tuple(marker.args) if marker is not None and marker.args else (modes.REFERENCE,)


def in_modes(made: list[pytest.Item], selected: tuple[str, ...]) -> list[pytest.Item]:
    """The items a probe function collected as, in each selected mode it declares: the eager items as pytest
    made them, and a twin of each for every other mode."""
    out: list[pytest.Item] = []
    for item in made:
        if not isinstance(item, pytest.Function):
            out.append(item)
            continue
        declared = declared_modes(item)
        unknown = [m for m in declared if not modes.is_mode(m)]
        if unknown:
            raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.{modes.MARKER} names unknown mode "
                                    f"{', '.join(map(repr, unknown))} (known: {', '.join(modes.MODES)})")
        for mode in (m for m in selected if m in declared):
            out.append(item if mode == modes.REFERENCE else _twin(item, mode))
    return out


def _twin(item: pytest.Function, mode: str) -> pytest.Function:
    twin = pytest.Function.from_parent(
        item.parent, name=modes.item_name(item.name, mode), callspec=_callspec_in(item, mode),
        callobj=item.obj, fixtureinfo=item._fixtureinfo, originalname=item.originalname)
    twin.stash[MODE] = mode
    twin.add_marker(mode)
    return twin


def _callspec_in(item: pytest.Function, mode: str) -> Any:
    """The item's parametrization with the mode as one more id part (pytest >= 9 builds the node id from the
    parametrization's ids, earlier pytest from the name): ``[cpu]`` -> ``[cpu-compile]``, none -> ``[compile]``."""
    import dataclasses

    callspec = getattr(item, "callspec", None)
    if callspec is None:
        from _pytest import python

        callspec = getattr(python, "CallSpec", None) or python.CallSpec2  # pytest < 9 names it CallSpec2
        callspec = callspec()
    return dataclasses.replace(callspec, _idlist=[*callspec._idlist, mode])
