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
you start it from. Paths you add (your own probe suites) run together with it, e.g.
  autograd-conformance run -n auto
  autograd-conformance run -m "not ops" --ac-report-dir=out
  autograd-conformance run tests/autograd --ac-expectations=tests/autograd/expectations

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
