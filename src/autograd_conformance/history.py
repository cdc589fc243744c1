"""Recording the table's history: the bundled suite run on every described torch release, one scratch
environment at a time (made, used, removed), then all the reports merged into the table with the saved-runs
recorder (``merge``) and the described releases written to ``_releases.toml``.

``autograd-conformance history`` runs it from a checkout. It prefers ``uv`` (an install from its cache takes
seconds; each CUDA build is a ~2.5 GB download) and falls back to ``python -m venv`` and pip. Disk is the limit
(an installed CUDA build takes ~5 GB): each release's environment, and unless ``--keep-cache`` its downloads,
are removed before the next release is installed.
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from packaging.version import Version

from .errors import ConformanceError

#: The latest patch of every torch 2.x minor release that installs for Python 3.11.
RELEASES = ("2.0.1", "2.1.2", "2.2.2", "2.3.1", "2.4.1", "2.5.1", "2.6.0", "2.7.1", "2.8.0", "2.9.1", "2.10.0",
            "2.11.0", "2.12.1", "2.13.0", "2.14.1", "2.15.0")
#: Printed by torch builds compiled against NumPy 1.x when NumPy 2 is installed (their numpy paths then fail).
NUMPY_1_ONLY = "compiled using NumPy 1.x"


class HistoryError(ConformanceError):
    """A step that failed; str() says which release and command."""


@dataclass
class Outcome:
    """One release's suite run: its report, how many probes ran, how long install and run took, which NumPy
    it needed, and the probes that broke."""

    release: str
    report: Path
    probes: int
    seconds: float
    install_seconds: float
    numpy: str
    #: Probes that broke, crashed or timed out: written for another release, to be rewritten.
    broken: list[str] = field(default_factory=list)


@dataclass
class Plan:
    """What a history run does: the checkout to install, where environments and reports go, which releases,
    how many workers, and whether downloads are kept between releases."""

    project: Path
    work: Path
    reports: Path
    releases: tuple[str, ...] = RELEASES
    workers: str = "2"
    keep_cache: bool = False
    find_links: list[str] = field(default_factory=list)
    log: Callable[[str], None] = functools.partial(print, flush=True)

    @property
    def uv(self) -> str | None:
        return shutil.which("uv")

    @property
    def table_dir(self) -> Path:
        """The bundled suite's table in the checkout, which the history is recorded into."""
        from .probes import TABLE_DIR_NAME

        return self.project / "suites" / TABLE_DIR_NAME

    @classmethod
    def in_checkout(cls, work: Path, reports: Path, releases: str | None, workers: str, keep_cache: bool,
                    find_links: list[str] | None) -> "Plan":
        """The plan for this checkout's bundled suite (an installed package's table is read-only: refused),
        with ``work`` and ``reports`` made; ``releases`` comma-separated (default: ``RELEASES``)."""
        from .probes import bundled_suite

        suite = bundled_suite()
        if suite is None or suite.installed:
            raise HistoryError("history records the bundled suite's table in a checkout (pip install -e .); this "
                               "package is installed, its table is read-only")
        work, reports = work.resolve(), reports.resolve()
        work.mkdir(parents=True, exist_ok=True)
        reports.mkdir(parents=True, exist_ok=True)
        return cls(suite.directory.parent, work, reports, tuple(releases.split(",")) if releases else RELEASES,
                   workers, keep_cache, find_links or pip_find_links())


#: A release's suite run that takes longer than this is stopped (a hung run must not stall the other releases).
RUN_TIMEOUT_S = 30 * 60


def _sh(cmd: list[str], what: str, env: dict[str, str] | None = None,
        ok: tuple[int, ...] = (0,), timeout: float | None = None) -> subprocess.CompletedProcess:
    import os

    try:
        done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})},
                              timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        raise HistoryError(f"{what}: `{' '.join(cmd[:6])} …` still running after {timeout:.0f} s, stopped\n"
                           f"{out[-1500:]}") from None
    if done.returncode not in ok:
        tail = (done.stdout[-1500:] + "\n" + done.stderr[-1500:]).strip()
        raise HistoryError(f"{what}: `{' '.join(cmd[:6])} …` exited {done.returncode}\n{tail}")
    return done


def pip_find_links() -> list[str]:
    """The find-links pip is configured with (where local builds such as torch 2.13.0+cpu are found)."""
    done = subprocess.run([sys.executable, "-m", "pip", "config", "get", "global.find-links"],
                          capture_output=True, text=True)
    return done.stdout.split() if done.returncode == 0 else []


def _install(plan: Plan, python: Path, cache: Path, packages: list[str]) -> None:
    links = [a for link in plan.find_links for a in ("--find-links", link)]
    if plan.uv:
        _sh([plan.uv, "pip", "install", "-q", "--python", str(python), *links, *packages], "install",
            env={"UV_CACHE_DIR": str(cache)})
    else:
        _sh([str(python), "-m", "pip", "install", "-q", "--cache-dir", str(cache), *links, *packages], "install")


def _venv(plan: Plan, path: Path, cache: Path) -> Path:
    if plan.uv:
        _sh([plan.uv, "venv", "-q", "-p", sys.executable, str(path)], "venv", env={"UV_CACHE_DIR": str(cache)})
    else:
        _sh([sys.executable, "-m", "venv", str(path)], "venv")
    return path / "bin" / "python"


def numpy_ok(python: Path) -> bool:
    """Whether this torch build works with the NumPy installed beside it."""
    done = subprocess.run([str(python), "-c", "import numpy, torch; torch.from_numpy(numpy.zeros(1)).sum()"],
                          capture_output=True, text=True)
    return done.returncode == 0 and NUMPY_1_ONLY not in done.stderr


def run_release(plan: Plan, release: str) -> Outcome:
    """Install torch ``release`` with this checkout into a scratch environment, run the suite, keep the report."""
    venv, cache = plan.work / f"venv-{release}", plan.work / "cache"
    shutil.rmtree(venv, ignore_errors=True)
    try:
        return _run_release(plan, release, venv, cache)
    finally:
        shutil.rmtree(venv, ignore_errors=True)
        if not plan.keep_cache:
            shutil.rmtree(cache, ignore_errors=True)


def _run_release(plan: Plan, release: str, venv: Path, cache: Path) -> Outcome:
    started = time.perf_counter()
    python = _venv(plan, venv, cache)
    _install(plan, python, cache, [f"torch=={release}", "-e", str(plan.project)])
    numpy = "numpy 2"
    if not numpy_ok(python):
        _install(plan, python, cache, ["numpy<2"])
        numpy = "numpy<2"
        if not numpy_ok(python):
            raise HistoryError(f"torch {release}: does not work with NumPy 1 or 2 here")
    installed = time.perf_counter() - started
    name = f"torch-{release}"
    run = [str(python), "-m", "autograd_conformance.cli", "run", "-q", "-p", "no:cacheprovider", "-n", plan.workers,
           f"--ac-report-dir={plan.reports}", f"--ac-run-name={name}", "--ac-no-html", "--ac-timeout=300"]
    began = time.perf_counter()
    # Differing from today's table is expected (exit 1, or 4 for its rows that no longer apply).
    done = _sh(run, f"torch {release}: the suite", ok=(0, 1, 4), timeout=RUN_TIMEOUT_S)
    seconds = time.perf_counter() - began
    report = plan.reports / f"{name}.json"
    crashed = plan.reports / f"{name}.crashed.json"  # a run with a crashed probe writes this instead
    if not report.exists() and not crashed.exists():
        raise HistoryError(f"torch {release}: the run wrote no report\n{done.stdout[-2000:]}")
    data = json.loads((report if report.exists() else crashed).read_text())
    broken = [f"{p['id']} ({p['verdict']}: {(p['message'] or '').splitlines()[0][:160] if p['message'] else ''})"
              for p in data["probes"] if p["verdict"] in ("error", "crashed", "timeout")]
    probes = sum(1 for p in data["probes"] if p["verdict"] != "skipped")
    return Outcome(release, report, probes, seconds, installed, numpy, broken)


def record(table_dir: Path, reports: list[Path], releases: list[str]) -> str:
    """Merge the reports into the table and write the described releases; returns the recorder's account."""
    from .merge import merge
    from .report import load
    from .tablefile import RELEASES_FILE, releases_recording, write_docs
    from .files import write_atomic
    from .releases import torch_release

    loaded = [load(p) for p in reports]
    docs, summary = merge(table_dir, loaded)
    write_docs(table_dir, docs, summary.files)
    described = sorted(set(releases), key=Version)
    # each device a run generated probes for is now recorded on its release
    devices = [("devices", name, str(torch_release(report.run_info.torch_version)))
               for report in loaded for name, info in report.run_info.devices.items()
               if info.get("generated", name == "cpu")]
    write_atomic(table_dir / RELEASES_FILE, releases_recording(table_dir, devices, described))
    return (f"{len(summary.added_rows)} rows added, {len(summary.changed_rows)} rows changed, "
            f"{summary.blocks_written} conditioned blocks written in {len(summary.files)} files; "
            f"described: {', '.join(described)}")


def run_all(plan: Plan, reuse: bool = False, record_after: bool = True) -> None:
    """The whole loop: every release's suite run (a failed release does not stop the others), then, when all
    ran clean, the reports merged into the table; progress goes to ``plan.log``. Raises HistoryError naming
    every failed release and broken probe run (nothing is recorded then)."""
    log = plan.log
    log(f"history: {len(plan.releases)} torch releases, {'uv' if plan.uv else 'pip'}, reports in {plan.reports}")
    started = time.perf_counter()
    outcomes, broken, failed = [], 0, []
    for release in plan.releases:
        kept = plan.reports / f"torch-{release}.json"
        if reuse and kept.exists():
            log(f"  torch {release}: kept the report already there")
            outcomes.append(kept)
            continue
        try:
            out = run_release(plan, release)
        except HistoryError as exc:  # the other releases still run: one pass shows every problem
            log(f"  torch {release}: FAILED: {exc}")
            failed.append(release)
            continue
        outcomes.append(out.report)
        log(f"  torch {release}: {out.probes} probes in {out.seconds:.0f} s (install {out.install_seconds:.0f} s, "
            f"{out.numpy}){f'; {len(out.broken)} broke' if out.broken else ''}")
        for line in out.broken:
            log(f"    broke: {line}")
        broken += len(out.broken)
    if failed or broken:
        raise HistoryError(f"{len(failed)} releases failed ({', '.join(failed) or 'none'}) and {broken} probe runs "
                           f"broke (listed above): fix them, then run again (--reuse keeps the good reports); "
                           f"nothing recorded")
    if not record_after:
        log(f"history: done in {time.perf_counter() - started:.0f} s; not recorded (--no-record)")
        return
    log(f"history: recorded into {plan.table_dir}: {record(plan.table_dir, outcomes, list(plan.releases))}")
    log(f"history: done in {time.perf_counter() - started:.0f} s")
