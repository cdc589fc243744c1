"""``autograd-conformance run``: pytest on the bundled suite with its packaged configuration, from any
directory (reports go to ./reports unless ``--ac-report-dir`` says otherwise)."""

from __future__ import annotations

from pathlib import Path

from .errors import ConformanceError

RUN_HELP = """\
usage: autograd-conformance run [PYTEST ARGS ...]

Run the bundled conformance suite against the installed torch, from any directory, and write
./reports/<run-name>.json and .html. Every argument is pytest's (-n auto, -k, -m, -x, ...) or the plugin's
(--ac-*; see 'pytest --help'). The suite runs with its own pytest configuration, not the one of the project
you start it from. To run your own probes together with it, use pytest itself (one report, with your
project's configuration):
  pytest --pyargs autograd_conformance.suites tests/autograd
Examples:
  autograd-conformance run -n auto
  autograd-conformance run -m "not ops" --ac-report-dir=out

exit status: 0 every probe conforms; 1 autograd behaves differently; 3 the harness broke; 4 the table is
broken; 5 too few probes ran (--ac-min-probes); 2 interrupted or a usage error
"""


def run(pytest_args: list[str]) -> int:
    """Run pytest on the bundled suite with its packaged configuration; returns pytest's exit status."""
    import pytest

    from .probes import bundled_suite

    if pytest_args[:1] in (["-h"], ["--help"]):
        print(RUN_HELP, end="")
        return 0
    check_torch()
    _check_options(pytest_args)
    _no_paths(pytest_args)
    suite = bundled_suite()
    if suite is None:
        raise ConformanceError("the bundled suite (autograd_conformance.suites) is not installed with this package")
    here = Path.cwd()
    ini = Path(__file__).with_name("conformance.ini")
    argv = ["-p", "autograd_conformance.plugin", "-c", str(ini), "--rootdir", str(suite.directory.parent),
            "-o", f"cache_dir={here / '.pytest_cache'}"]
    pytest_args = _joined(pytest_args)
    if not any(a == "--ac-report-dir" or a.startswith("--ac-report-dir=") for a in pytest_args):
        argv.append(f"--ac-report-dir={here / 'reports'}")
    return int(pytest.main([*argv, str(suite.directory), *pytest_args]))


def record_device(device: str, expectations: str, reason: str, link: str | None, pytest_args: list[str]) -> int:
    """``record-device``: the bundled suite on ``device`` alone, recorded into the team's layer ``expectations``
    (made if missing) with ``reason`` on every block it writes; pytest's exit status."""
    from . import devices

    if not devices.is_device(device) or device == devices.REFERENCE:
        others = ", ".join(d for d in devices.DEVICES if d != devices.REFERENCE)
        raise ConformanceError(f"record-device {device}: name a device other than {devices.REFERENCE} ({others}); "
                               f"{devices.REFERENCE} rows are recorded with --ac-record")
    if not reason.strip():
        raise ConformanceError("record-device: --reason is empty; every block it writes states your reason")
    return run([f"--ac-devices={device}", "--ac-record=init", f"--ac-expectations={expectations}",
                f"--ac-record-reason={reason}", *([f"--ac-record-link={link}"] if link else []), *pytest_args])


def _joined(args: list[str]) -> list[str]:
    """``--ac-report-dir DIR`` as ``--ac-report-dir=DIR`` (and so for every path option): pytest would read a
    separate DIR as a path to test while it finds its rootdir."""
    from .options import PATH_OPTIONS

    out: list[str] = []
    for arg in args:
        if out and out[-1] in PATH_OPTIONS and not arg.startswith("-"):
            out[-1] = f"{out[-1]}={arg}"
        else:
            out.append(arg)
    return out


def check_torch() -> None:
    """One line, not 31 import tracebacks, where torch is not installed: the package never installs one."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        raise ConformanceError("torch is not installed in this environment: install the release you pin first "
                               "(pip install 'torch==X.Y.Z'); autograd-conformance never chooses a torch for you")


def _check_options(args: list[str]) -> None:
    """An ``--ac-*`` option pytest does not know is a usage error here (pytest would say so with its own status,
    4, which the contract gives to a broken table), with the option it was probably meant to be."""
    import difflib

    from .options import OPTIONS

    known = [o.flag for o in OPTIONS]
    for arg in args:
        flag = arg.split("=", 1)[0]
        if flag.startswith("--ac-") and flag not in known:
            near = difflib.get_close_matches(flag, known, n=1)
            raise ConformanceError(f"unknown option {flag}" + (f" (did you mean {near[0]}?)" if near else "")
                                   + "; see 'autograd-conformance run --help'")


def _no_paths(args: list[str]) -> None:
    """``run`` runs the bundled suite with its own configuration; a path of the project's (its own probes)
    belongs in a ``pytest`` run with the project's configuration, where its paths and ids are the project's."""
    from .options import PATH_OPTIONS

    taking_value = False
    for arg in args:
        if taking_value:
            taking_value = False
            continue
        if arg.startswith("-"):
            taking_value = arg in ("-k", "-m", "-n", "-p", "-c", "-o", "--dist", "--maxfail", *PATH_OPTIONS,
                                   "--ac-run-name", "--ac-torch-version", "--ac-devices", "--ac-modes",
                                   "--ac-record-reason", "--ac-record-link",
                                   "--ac-compile-backend", "--ac-gate", "--ac-min-probes", "--ac-timeout",
                                   "--ac-hypothesis-profile", "--deselect", "--rootdir", "--basetemp")
            continue
        if "::" not in arg and not arg.startswith("autograd_conformance"):
            raise ConformanceError(f"{arg}: 'run' runs the bundled suite alone; to run your probes with it, run "
                                   f"pytest --pyargs autograd_conformance.suites {arg}")
