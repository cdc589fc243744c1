"""Run options: every ``--ac-*`` option and ini value parsed and checked once, into a frozen ``RunOptions``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .facts import GATES

_RUN_NAME = re.compile(r"^[\w.+-]+$")


class OptionError(ValueError):
    """An option or ini value that cannot be used; str() is one line naming it."""


@dataclass(frozen=True)
class RunOptions:
    root: Path
    table_dir: Path
    report_dir: Path
    run_name: str
    torch_version: str
    table_version: str
    record: str | None = None
    allow_missing: bool = False
    html: bool = True
    gate: str = "all"
    min_probes: int = 0
    timeout: float = 60.0
    #: Why the selection is narrower than the whole suite (``-k``, ``-m``, ``--lf``, a node id, ...), or None.
    narrowed_by: str | None = None

    @property
    def suites_dir(self) -> Path:
        return self.table_dir.parent

    @property
    def report_path(self) -> Path:
        return self.report_dir / f"{self.run_name}.json"

    @classmethod
    def from_config(cls, config: Any, torch_version: str) -> "RunOptions":
        """Read the options of a pytest config; raises OptionError naming the bad option."""
        root = Path(config.rootpath)

        def path(value: str) -> Path:
            p = Path(value)
            return p if p.is_absolute() else root / p

        def number(option: str, ini: str, kind: type) -> Any:
            value = config.getoption(option)
            if value is not None:
                return value
            try:
                return kind(config.getini(ini))
            except ValueError:
                raise OptionError(f"{ini} = {config.getini(ini)!r} is not a number") from None

        gate = config.getoption("ac_gate") or config.getini("ac_gate")
        if gate not in GATES:
            raise OptionError(f"ac_gate = {gate!r}: use {' or '.join(repr(g) for g in GATES)}")
        record = config.getoption("ac_record")
        run_name = config.getoption("ac_run_name") or f"torch-{torch_version}"
        if not _RUN_NAME.match(run_name):
            raise OptionError(f"--ac-run-name {run_name!r}: use letters, digits, '.', '_', '+', '-'")
        table_dir = path(config.getoption("ac_expectations") or config.getini("ac_expectations"))
        return cls(
            root=root, table_dir=table_dir,
            report_dir=path(config.getoption("ac_report_dir") or config.getini("ac_report_dir")),
            run_name=run_name, torch_version=torch_version,
            table_version=config.getoption("ac_torch_version") or torch_version,
            record=record, allow_missing=bool(config.getoption("ac_allow_missing")),
            html=not config.getoption("ac_no_html"), gate=gate,
            min_probes=number("ac_min_probes", "ac_min_probes", int),
            timeout=number("ac_timeout", "ac_timeout", float),
            narrowed_by=_narrowed_by(config, table_dir.parent),
        )


def _narrowed_by(config: Any, suites: Path) -> str | None:
    """Why this invocation selects less than the whole suite, from its options and arguments."""
    opt = config.option
    for attr, label in (("keyword", "-k"), ("markexpr", "-m"), ("lf", "--lf"), ("deselect", "--deselect"),
                        ("stepwise", "--stepwise")):
        if getattr(opt, attr, None):
            return label
    suites = suites.resolve()
    invocation = Path(config.invocation_params.dir)
    for arg in config.args:
        if "::" in arg:
            return f"a node id ({arg})"
        target = (invocation / arg).resolve()
        if not (target == suites or target in suites.parents):
            return f"a path argument ({arg})"
    return None
