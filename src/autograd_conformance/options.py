"""Run options: every ``--ac-*`` option and ini value parsed and checked once, into a frozen ``RunOptions``."""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import devices, modes
from .verdict import parse_gate
from .invariants import PROFILES
from .errors import ConformanceError
from .record import RecordPolicy, VariantNote
from .probes import Suite, suites_for

_RUN_NAME = re.compile(r"^[\w.+-]+$")


class OptionError(ConformanceError, ValueError):
    """An option or ini value that cannot be used; str() is one line naming it."""


@dataclass(frozen=True)
class Option:
    """One ``--ac-*`` option (and its ini twin, if any): registered with pytest and documented in the README
    from this declaration."""

    flag: str
    help: str
    metavar: str | None = None
    ini: str | None = None
    ini_type: str | None = None
    ini_default: Any = None
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def dest(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")


OPTIONS: list[Option] = [
    Option("--ac-record", "write observations into the table instead of failing: `new` (the default) adds rows "
           "and facts the table lacks and never changes an existing fact; `all` also rewrites facts that differ "
           "(in the block in force); `init` is `new` that may create the table directory. Writes into the top "
           "table layer (yours), never into the installed bundled table",
           metavar="[new|all|init]", kwargs={"nargs": "?", "const": RecordPolicy.NEW.value}),
    Option("--ac-record-reason", "the reason of the `when` blocks a record run writes for another device or mode "
           "(why it differs, e.g. what you reviewed); a record run writes no device block without one",
           metavar="TEXT"),
    Option("--ac-record-link", "a link for those blocks (the change behind the difference)", metavar="URL"),
    Option("--ac-expectations", "a table directory of your own, whose parent directory holds your probe modules "
           "(repeatable; later layers override earlier ones and the bundled table; the option is relative to "
           "where pytest starts, the ini value to the ini file)",
           metavar="DIR", ini="ac_expectations", ini_type="paths", ini_default=[], kwargs={"action": "append"}),
    Option("--ac-report-dir", "where `<run-name>.json` and `.html` are written (the option is relative to where "
           "pytest starts, the ini value to the rootdir)", metavar="DIR", ini="ac_report_dir",
           ini_default="reports"),
    Option("--ac-run-name", "the report's file name without extension (default `torch-<torch version>`)",
           metavar="NAME"),
    Option("--ac-torch-version", "resolve the table as if this torch version were installed", metavar="VERSION"),
    Option("--ac-devices", f"the devices to generate probes for, e.g. `cpu,cuda` (default: each of "
           f"{', '.join(devices.DEVICES)} this machine has; asking for an absent one is an error)",
           metavar="LIST"),
    Option("--ac-modes", f"the execution modes probes run in, e.g. `eager,compile` (default `eager`): "
           f"`compile` runs the probes of families marked `@pytest.mark.{modes.MARKER}(\"eager\", \"compile\")` "
           f"again under torch.compile, with `-compile` in their ids; a run without `eager` is partial",
           metavar="LIST", ini="ac_modes", ini_default="eager"),
    Option("--ac-compile-backend", f"the torch.compile backend of compile mode: "
           f"{', '.join(f'`{b}`' for b in modes.BACKENDS)} (default `{modes.DEFAULT_BACKEND}`: no C++ toolchain "
           f"needed; `inductor` needs one)", metavar="NAME", ini="ac_compile_backend",
           ini_default=modes.DEFAULT_BACKEND),
    Option("--ac-compile-cache", "where compile mode keeps torch's compiled artefacts between runs (inductor's "
           "FX-graph, AOTAutograd and kernel caches: a second inductor run compiles from them); default: your "
           "`TORCHINDUCTOR_CACHE_DIR` if set, else `$XDG_CACHE_HOME/autograd-conformance/compile/torch-<version>`",
           metavar="DIR", ini="ac_compile_cache"),
    Option("--ac-gate", "what fails a probe: `all` differences (the default) or only `semantic` ones (text "
           "drift, messages and warnings, is still reported); add `,unrecorded` to fail probes that differ on a "
           "device the table has no recording of (reported as `unrecorded`, not failing, otherwise)",
           metavar="all|semantic[,unrecorded]", ini="ac_gate", ini_default="all"),
    Option("--ac-min-probes", "exit 5 when fewer than N probes ran (guards CI against a half-collected run)",
           metavar="N", ini="ac_min_probes", ini_default="0", kwargs={"type": int}),
    Option("--ac-timeout", "per-probe time limit in seconds; a probe that runs longer gets verdict `timeout` "
           "(0 disables)", metavar="SECONDS", ini="ac_timeout", ini_default="60", kwargs={"type": float}),
    Option("--ac-allow-missing", "report probes without a table row as `missing` without failing them",
           kwargs={"action": "store_true"}),
    Option("--ac-hypothesis-profile", "the examples the property probes draw: `ci` (the default: 100, "
           "derandomized), `dev` (15, random) or `thorough` (1000); hypothesis' own profiles are left alone",
           metavar="NAME"),
    Option("--ac-no-html", "write only the JSON report, not the HTML page beside it",
           kwargs={"action": "store_true"}),
]


def register(parser: Any) -> None:
    """Add every option, and its ini value, to pytest's parser (one group, one prefix)."""
    group = parser.getgroup("autograd-conformance", "autograd-conformance: probes, expectations table, reports")
    for option in OPTIONS:
        kwargs = dict(option.kwargs)
        flag_only = kwargs.get("action") == "store_true"
        if not flag_only and kwargs.get("nargs") != "?":
            kwargs["metavar"] = option.metavar
        text = option.help.replace("`", "'") + (f" (ini: {option.ini})" if option.ini else "")
        group.addoption(option.flag, dest=option.dest, default=False if flag_only else None,
                        help=text.replace("%", "%%"), **kwargs)
        if option.ini:
            ini_type = {"type": option.ini_type} if option.ini_type else {}
            parser.addini(option.ini, option.help.replace("`", ""), default=option.ini_default, **ini_type)


def options_markdown() -> str:
    """The options as a Markdown table (the README's options section is generated from this)."""
    lines = ["| option | ini | meaning |", "|---|---|---|"]
    for option in OPTIONS:
        flag = f"{option.flag}={option.metavar}" if option.metavar else option.flag  # "=": see PATH_OPTIONS
        ini = f"`{option.ini}`" if option.ini else ""
        lines.append(f"| `{flag.replace('|', '&#124;')}` | {ini} | {option.help.replace('|', '&#124;')} |")
    return "\n".join(lines)


@dataclass(frozen=True)
class RunOptions:
    """Every ``--ac-*`` option and ini value of one run, checked: where the suites, table and reports are,
    what the run is called, which torch the table is resolved for, and how it judges and records."""

    root: Path
    #: The probe suites of this run: the bundled one first, then the team's; their tables are the layers.
    suites: tuple[Suite, ...]
    report_dir: Path
    run_name: str
    torch_version: str
    table_version: str
    #: What a record run may write (None: the run compares with the table).
    record: RecordPolicy | None = None
    #: The reason and link of the ``when`` blocks a record run writes for another variant.
    record_note: VariantNote = field(default_factory=VariantNote)
    allow_missing: bool = False
    html: bool = True
    gate: str = "all"
    min_probes: int = 0
    timeout: float = 60.0
    hypothesis_profile: str = "ci"
    #: The execution modes probes run in (canonical order) and compile mode's torch.compile backend.
    compile_backend: str = modes.DEFAULT_BACKEND
    #: Where compile mode's compiled artefacts are kept between runs (``--ac-compile-cache``).
    compile_cache: Path | None = None
    modes: tuple[str, ...] = (modes.REFERENCE,)  # (after which ``modes`` in this class body is the field)
    #: ``--ac-devices`` as given (None: every device this machine has); see ``select_devices``.
    requested_devices: str | None = None
    #: Why the selection is narrower than whole suites (``-k``, ``-m``, ``--lf``, a node id, ...), or None.
    narrowed_by: str | None = None
    #: The suites whose every module the run's arguments reach (their own rows can be checked for staleness).
    covered: tuple[Path, ...] = field(default_factory=tuple)

    @property
    def table_dirs(self) -> list[Path]:
        """The table's layers, lowest first: a higher layer's facts override a lower one's."""
        return [s.table_dir for s in self.suites]

    @property
    def run_kind(self) -> str:
        """``compare``, or ``record-<policy>`` for a run that writes the table (the report's ``run_kind``)."""
        return "compare" if not self.record else f"record-{self.record}"

    @property
    def backend_in_use(self) -> str | None:
        """The torch.compile backend, where the run uses compile mode (else None)."""
        return self.compile_backend if modes.COMPILE in self.modes else None

    @property
    def record_dir(self) -> Path:
        """Where record mode writes: the top layer (the team's own table when it has one)."""
        return self.suites[-1].table_dir

    @property
    def report_path(self) -> Path:
        return self.report_dir / f"{self.run_name}.json"

    @classmethod
    def from_config(cls, config: Any, torch_version: str) -> "RunOptions":
        """Read the options of a pytest config; raises OptionError naming the bad option."""
        root = Path(config.rootpath)
        invocation = Path(config.invocation_params.dir)

        def number(option: str, kind: type) -> Any:
            value = config.getoption(option)
            if value is not None:
                return value
            try:
                return kind(config.getini(option))
            except ValueError:
                raise OptionError(f"{option} = {config.getini(option)!r} is not a number") from None

        given = config.getoption("ac_gate") or config.getini("ac_gate")
        try:
            gate = parse_gate(given)
        except ValueError as exc:
            raise OptionError(f"ac_gate = {given!r}: {exc}") from None
        selected_modes = select_modes(config)
        backend = config.getoption("ac_compile_backend") or config.getini("ac_compile_backend")
        if backend not in modes.BACKENDS:
            raise OptionError(f"--ac-compile-backend {backend!r}: use one of {', '.join(modes.BACKENDS)}")
        table_version = config.getoption("ac_torch_version") or torch_version
        requested = config.getoption("ac_devices")
        suites = tuple(suites_for(table_dirs(config)))
        run_name = config.getoption("ac_run_name") or default_run_name(
            torch_version, table_version, selected_modes, [s for s in suites if reaches(config, s)], requested, root)
        if not _RUN_NAME.match(run_name):
            raise OptionError(f"--ac-run-name {run_name!r}: use letters, digits, '.', '_', '+', '-'")
        profile = config.getoption("ac_hypothesis_profile") or "ci"
        if profile not in PROFILES:
            raise OptionError(f"--ac-hypothesis-profile {profile!r}: use one of {', '.join(PROFILES)}")
        report_dir = config.getoption("ac_report_dir")
        report_dir = invocation / report_dir if report_dir else root / config.getini("ac_report_dir")
        if not suites:
            raise OptionError("no probe suite: the bundled suite is not installed and no ac_expectations is set")
        if requested:
            select_devices(requested)  # an unknown or absent device stops the run at start
        record = _policy(config.getoption("ac_record"))
        note = VariantNote(config.getoption("ac_record_reason") or None, config.getoption("ac_record_link") or None)
        if record and not note.reason and any(d.strip() not in ("", devices.REFERENCE)
                                              for d in (requested or "").split(",")):
            raise OptionError(f"--ac-devices={requested}: recording a device other than {devices.REFERENCE} needs a "
                              f"reason for its blocks: --ac-record-reason=TEXT")
        return cls(
            root=root, suites=suites, report_dir=report_dir, run_name=run_name, torch_version=torch_version,
            table_version=table_version,
            record=record, record_note=note,
            allow_missing=bool(config.getoption("ac_allow_missing")),
            html=not config.getoption("ac_no_html"), gate=gate, min_probes=number("ac_min_probes", int),
            timeout=number("ac_timeout", float), hypothesis_profile=profile, requested_devices=requested,
            modes=selected_modes, compile_backend=backend,
            compile_cache=_compile_cache(config, invocation, torch_version) if modes.COMPILE in selected_modes else None,
            narrowed_by=narrowed_by(config, suites) or (f"--ac-modes={','.join(selected_modes)}"
                                                         if modes.REFERENCE not in selected_modes else None),
            covered=tuple(s.directory for s in suites if covers(config, s)))


#: ``TORCHINDUCTOR_CACHE_DIR`` as the user set it, read before anything imports torch (importing torch._dynamo
#: sets it to a default in /tmp).
USER_COMPILE_CACHE = os.environ.get("TORCHINDUCTOR_CACHE_DIR")


def _compile_cache(config: Any, invocation: Path, torch_version: str) -> Path:
    """``--ac-compile-cache`` (relative to where pytest starts; the ini value to the rootdir), else the user's own
    ``TORCHINDUCTOR_CACHE_DIR``, else a directory per torch version under the user's cache directory."""
    given = config.getoption("ac_compile_cache")
    if given:
        return (invocation / given).resolve()
    ini = config.getini("ac_compile_cache")
    if ini:
        return (Path(config.rootpath) / ini).resolve()
    if USER_COMPILE_CACHE:
        return Path(USER_COMPILE_CACHE)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "autograd-conformance" / "compile" / f"torch-{torch_version}"


def default_run_name(torch_version: str, table_version: str, selected_modes: tuple[str, ...], reached: list[Suite],
                     requested_devices: str | None, root: Path) -> str:
    """The report's name says what ran, so that runs of different things never take each other's name:
    ``torch-<version>`` for the bundled suite alone (the baseline), then ``-as-<release>`` when the table is
    resolved for another release (``--ac-torch-version``), the other execution modes (``-compile``), the team
    suites the run reached (``-tests-autograd``; ``-with-tests-autograd`` beside the bundled suite), and the
    devices when ``--ac-devices`` chose them (``-cpu``)."""
    parts = [f"torch-{torch_version}"]
    if table_version != torch_version:
        parts.append(f"as-{table_version}")
    parts += [m for m in selected_modes if m != modes.REFERENCE]
    own = [_slug(s.directory, root) for s in reached if not s.bundled]
    if own:
        parts.append(("with-" if any(s.bundled for s in reached) else "") + "+".join(own))
    if requested_devices:
        parts.append("+".join(dict.fromkeys(d.strip() for d in requested_devices.split(",") if d.strip())))
    return "-".join(parts)


def _slug(directory: Path, root: Path) -> str:
    """A suite's directory as a run-name part: relative to the rootdir where it can be (``tests-autograd``)."""
    try:
        text = Path(directory).resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        text = Path(directory).name
    return re.sub(r"[^\w.+-]+", "-", text).strip("-") or "suite"


def _policy(value: str | None) -> RecordPolicy | None:
    """``--ac-record``'s value as a policy (None: the run compares); OptionError names a bad one."""
    if not value:
        return None
    try:
        return RecordPolicy(value)
    except ValueError:
        raise OptionError(f"--ac-record={value}: use one of {', '.join(p.value for p in RecordPolicy)}") from None


def table_dirs(config: Any) -> list[Path]:
    """The table directories a config names: ``--ac-expectations`` (relative to where pytest was started)
    or else the ini's ``ac_expectations`` (relative to the ini file)."""
    given = config.getoption("ac_expectations")
    if given:
        invocation = Path(config.invocation_params.dir)
        return [invocation / p for p in given]
    return [Path(p) for p in config.getini("ac_expectations")]


def select_modes(config: Any) -> tuple[str, ...]:
    """The execution modes a config selects (``--ac-modes``, else the ini's ``ac_modes``); OptionError names a
    bad one."""
    given = config.getoption("ac_modes")
    text = given if given is not None else config.getini("ac_modes")
    try:
        return modes.parse(text)
    except ValueError as exc:
        raise OptionError(f"--ac-modes={text}: {exc}") from None


def select_devices(requested: str | None, available: Callable[[str], bool] = devices.available
                   ) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(devices to generate probes for, known devices left out as absent); a requested absent or unknown
    device is an OptionError. ``available`` says which devices this machine has (default: ask torch)."""
    if requested:
        names = tuple(dict.fromkeys(n.strip() for n in requested.split(",") if n.strip()))
        unknown = [n for n in names if not devices.is_device(n)]
        if unknown or not names:
            raise OptionError(f"--ac-devices={requested}: unknown device {', '.join(unknown) or '(none given)'} "
                              f"(known: {', '.join(devices.DEVICES)})")
        missing = [n for n in names if not available(n)]
        if missing:
            raise OptionError(f"--ac-devices={requested}: {', '.join(missing)} is not available on this machine")
        return names, tuple(d for d in devices.DEVICES if d not in names and not available(d))
    present = tuple(d for d in devices.DEVICES if available(d))
    return present, tuple(d for d in devices.DEVICES if d not in present)


def _arg_paths(config: Any) -> list[tuple[str, Path | None]]:
    """Each argument with the path it names (module names too, with --pyargs); None for node ids."""
    invocation = Path(config.invocation_params.dir)
    out = []
    for arg in config.args:
        if "::" in arg:
            out.append((arg, None))
            continue
        path = (invocation / arg).resolve()
        if not path.exists() and getattr(config.option, "pyargs", False):
            try:
                spec = importlib.util.find_spec(arg)
            except (ImportError, ValueError):
                spec = None
            if spec is not None and spec.submodule_search_locations:
                path = Path(list(spec.submodule_search_locations)[0]).resolve()
            elif spec is not None and spec.origin:
                path = Path(spec.origin).resolve()
        out.append((arg, path))
    return out


def narrowed_by(config: Any, suites: tuple[Suite, ...] | list[Suite]) -> str | None:
    """Why this invocation selects less than whole suites (a suite it does not touch at all does not count),
    from its options and arguments."""
    opt = config.option
    for attr, label in (("keyword", "-k"), ("markexpr", "-m"), ("lf", "--lf"), ("deselect", "--deselect"),
                        ("stepwise", "--stepwise")):
        if getattr(opt, attr, None):
            return label
    for arg, path in _arg_paths(config):
        if path is None:
            return f"a node id ({arg})"
        if any(s.directory in path.parents for s in suites):
            return f"a path inside a suite ({arg})"
    return None


def reaches(config: Any, suite: Suite) -> bool:
    """Whether an argument names the suite's directory, one above it or a module in it."""
    return any(path is not None and (path == suite.directory or path in suite.directory.parents
                                     or suite.directory in path.parents) for _, path in _arg_paths(config))


def covers(config: Any, suite: Suite) -> bool:
    """Whether an argument names the suite's directory or one above it (so every probe module is collected)."""
    return any(path is not None and (path == suite.directory or path in suite.directory.parents)
               for _, path in _arg_paths(config))


#: The options whose value is a path: written ``--opt VALUE``, pytest reads VALUE as a path to test while it
#: finds its rootdir and ini file (it parses plugins' options only after that).
PATH_OPTIONS = ("--ac-report-dir", "--ac-expectations", "--ac-compile-cache")


def check_path_options(config: Any) -> None:
    """Stop a run whose configuration pytest chose from a path option's value (``--ac-report-dir /abs/dir``):
    it found its rootdir from ``/abs/dir``, so the project's ini (and ``ac_expectations``) was not loaded.
    OptionError says to write ``--ac-report-dir=/abs/dir``."""
    args = list(config.invocation_params.args)
    invocation = Path(config.invocation_params.dir).resolve()
    for flag, value in zip(args, args[1:]):
        if flag not in PATH_OPTIONS:
            continue
        path = (invocation / value).resolve()
        # A path inside the starting directory leaves pytest's choice as it is; one outside it moves it.
        if path.exists() and path != invocation and invocation not in path.parents:
            raise OptionError(f"{flag} {value}: pytest took {value} for a path to test while finding its rootdir "
                              f"and configuration (it reads plugins' options later); write {flag}={value}")
