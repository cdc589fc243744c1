"""The ``autograd-conformance`` command line: work with the table and with saved reports outside pytest."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .facts import GATE_SEMANTIC, fails_gate, vocabulary_markdown
from .files import write_atomic
from .report import Report, ReportError, load
from .tablefile import write_docs

EXIT_OK, EXIT_DIFFERENT, EXIT_BAD_INPUT = 0, 1, 2


class CliError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit status 2), like every other error of this command."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"autograd-conformance: error: {message} (see '{self.prog} --help')\n")


def _cmd_facts(args: argparse.Namespace) -> int:
    print(vocabulary_markdown())
    return EXIT_OK


def _torch_version() -> str:
    import torch

    return torch.__version__


def _cmd_compact(args: argparse.Namespace) -> int:
    from .compact import CompactionError, compact_table

    directory = Path(args.expectations)
    try:
        result = compact_table(directory, args.torch_version or _torch_version(), write=not args.dry_run)
    except CompactionError as exc:
        raise CliError(str(exc)) from None
    for name, removed in sorted(result.folded.items()):
        print(f"{directory / name}: {removed} repeated facts folded into pattern rows")
    if args.dry_run:
        print(f"dry run: {len(result.files)} file(s) would change")
    else:
        print(f"{len(result.files)} file(s) rewritten, {result.total} facts folded" if result.files
              else "nothing to compact")
    return EXIT_OK


def _load(path: str, consequence: str | None = "") -> Report:
    """A saved report; a warning on stderr, ending in ``consequence``, when it cannot stand for a full run
    (partial, incomplete, ...); none when ``consequence`` is None."""
    try:
        report = load(Path(path))
    except ReportError as exc:
        raise CliError(str(exc)) from None
    why = report.not_a_baseline()
    if why and consequence is not None:
        print(f"autograd-conformance: warning: {path} is {why}{consequence}", file=sys.stderr)
    return report


def _emit(text: str, output: str | None) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    try:
        write_atomic(Path(output), text)
    except OSError as exc:
        raise CliError(f"{output}: cannot write: {exc.strerror or exc}") from None
    print(f"wrote {output}", file=sys.stderr)


def _cmd_html(args: argparse.Namespace) -> int:
    from .html import render_report

    report = _load(args.report, "; the page says so")
    output = args.output or str(Path(args.report).with_suffix(".html"))
    _emit(render_report(report), output)
    return EXIT_OK


def _report_links(args: argparse.Namespace, output: str | None) -> dict[str, str]:
    """Links from the diff page to each report's page (or its JSON), relative to where the page is written."""
    base = Path(output).resolve().parent if output else Path.cwd()
    links = {}
    for side in ("before", "after"):
        path = Path(getattr(args, side)).resolve()
        target = path.with_suffix(".html") if path.with_suffix(".html").exists() else path
        links[side] = Path(os.path.relpath(target, base)).as_posix()
    return links


def _cmd_diff(args: argparse.Namespace) -> int:
    from . import diff as diff_mod

    consequence = ": probes it did not run show as added or removed"
    before, after = _load(args.before, consequence), _load(args.after, consequence)
    result = diff_mod.compute(before, after, args.ignore)
    result.paths = (args.before, args.after)
    if args.format == "html":
        from .html import render_diff

        text = render_diff(result, _report_links(args, args.output))
    else:
        text = {"text": diff_mod.format_text, "markdown": diff_mod.format_markdown,
                "json": diff_mod.format_json}[args.format](result)
    _emit(text, args.output)
    if args.fail_on == GATE_SEMANTIC:
        failing = any(fails_gate(c.kind, GATE_SEMANTIC) for p in result.changed for c in p.changes)
        return EXIT_DIFFERENT if (failing or result.added or result.removed) else EXIT_OK
    return EXIT_DIFFERENT if result.has_differences else EXIT_OK


def _default_table() -> str:
    """The table the commands read by default: ./suites/expectations in a checkout, else the bundled one."""
    if Path("suites/expectations").is_dir():
        return "suites/expectations"
    from .probes import bundled_suite

    suite = bundled_suite()
    return str(suite.table_dir) if suite is not None else "suites/expectations"


def _cmd_history(args: argparse.Namespace) -> int:
    from . import history
    from .probes import bundled_suite

    suite = bundled_suite()
    if suite is None or suite.installed:
        raise CliError("history records the bundled suite's table in a checkout (pip install -e .); this "
                       "package is installed, its table is read-only")
    project, table = suite.directory.parent, suite.table_dir
    releases = tuple(args.releases.split(",")) if args.releases else history.RELEASES
    work, reports = Path(args.work).resolve(), Path(args.reports).resolve()
    work.mkdir(parents=True, exist_ok=True)
    reports.mkdir(parents=True, exist_ok=True)
    plan = history.Plan(project, work, reports, releases, args.workers, args.keep_cache,
                        args.find_links or history.pip_find_links())
    print(f"history: {len(releases)} torch releases, {'uv' if plan.uv else 'pip'}, reports in {reports}", flush=True)
    started = time.perf_counter()
    outcomes, broken, failed = [], 0, []
    for release in releases:
        if args.reuse and (reports / f"torch-{release}.json").exists():
            print(f"  torch {release}: kept the report already there", flush=True)
            outcomes.append(reports / f"torch-{release}.json")
            continue
        try:
            out = history.run_release(plan, release)
        except history.HistoryError as exc:  # the other releases still run: one pass shows every problem
            print(f"  torch {release}: FAILED: {exc}", flush=True)
            failed.append(release)
            continue
        outcomes.append(out.report)
        print(f"  torch {release}: {out.probes} probes in {out.seconds:.0f} s (install {out.install_seconds:.0f} s, "
              f"{out.numpy}){f'; {len(out.broken)} broke' if out.broken else ''}", flush=True)
        for line in out.broken:
            print(f"    broke: {line}", flush=True)
        broken += len(out.broken)
    if failed or broken:
        raise CliError(f"{len(failed)} releases failed ({', '.join(failed) or 'none'}) and {broken} probe runs broke "
                       f"(listed above): fix them, then run again (--reuse keeps the good reports); nothing recorded")
    if args.no_record:
        print(f"history: done in {time.perf_counter() - started:.0f} s; not recorded (--no-record)")
        return EXIT_OK
    from .merge import MergeError

    try:
        account = history.record(table, outcomes, list(releases))
    except MergeError as exc:
        raise CliError(str(exc)) from None
    print(f"history: recorded into {table}: {account}")
    print(f"history: done in {time.perf_counter() - started:.0f} s")
    return EXIT_OK


def _cmd_matrix(args: argparse.Namespace) -> int:
    from .html import render_matrix

    reports = [_load(path, "; the matrix says what it covers") for path in args.reports]
    base = Path(args.output).resolve().parent
    links = []
    for path in args.reports:
        page = Path(path).resolve().with_suffix(".html")
        links.append(Path(os.path.relpath(page, base)).as_posix() if page.exists() else None)
    _emit(render_matrix(reports, links), args.output)
    return EXIT_OK


def _cmd_changelog(args: argparse.Namespace) -> int:
    from . import changelog
    from .expectations import Table, TableError

    try:
        table = Table.load(Path(args.expectations or _default_table()), "0")
        log = changelog.build(table, args.start, args.end)
    except (TableError, changelog.ChangelogError) as exc:
        raise CliError(str(exc)) from None
    if args.semantic_only:
        log.items = [i for i in log.items if fails_gate(i.kind, GATE_SEMANTIC)]
    if args.format == "html":
        from .html import render_changelog

        text = render_changelog(log)
    else:
        text = {"text": changelog.format_text, "markdown": changelog.format_markdown,
                "json": changelog.format_json}[args.format](log)
    _emit(text, args.output)
    return EXIT_OK


def _cmd_record(args: argparse.Namespace) -> int:
    from .merge import MergeError, merge, table_diff

    directory = Path(args.expectations)
    if not directory.is_dir() and not args.init:
        raise CliError(f"{directory}: no such table directory (pass --init to create one)")
    reports = [_load(path, None) for path in args.reports]  # merge checks what it can record
    try:
        docs, summary = merge(directory, reports)
    except MergeError as exc:
        raise CliError(str(exc)) from None
    versions = ", ".join(r.run_info.torch_version for r in reports)
    print(f"recording {len(reports)} run(s) (torch {versions}): {len(summary.added_rows)} rows added, "
          f"{len(summary.changed_rows)} rows changed, {summary.facts_written} facts and "
          f"{summary.blocks_written} conditioned blocks written in {', '.join(sorted(summary.files)) or 'no file'}")
    for key in summary.added_rows:
        print(f"  added   {key}")
    for key in summary.changed_rows:
        print(f"  changed {key}")
    if args.dry_run:
        sys.stdout.write(table_diff(directory, docs, summary.files))
        print("dry run: nothing written")
        return EXIT_OK
    directory.mkdir(parents=True, exist_ok=True)
    write_docs(directory, docs, summary.files)
    return EXIT_OK


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
    """``autograd-conformance run``: pytest on the bundled suite with its packaged configuration."""
    import pytest

    from .probes import bundled_suite

    if pytest_args[:1] in (["-h"], ["--help"]):
        print(RUN_HELP, end="")
        return EXIT_OK
    suite = bundled_suite()
    if suite is None:
        raise CliError("the bundled suite (autograd_conformance.suites) is not installed with this package")
    here = Path.cwd()
    ini = Path(__file__).with_name("conformance.ini")
    argv = ["-p", "autograd_conformance.plugin", "-c", str(ini), "--rootdir", str(suite.directory.parent),
            "-o", f"cache_dir={here / '.pytest_cache'}"]
    if not any(a == "--ac-report-dir" or a.startswith("--ac-report-dir=") for a in pytest_args):
        argv.append(f"--ac-report-dir={here / 'reports'}")
    return int(pytest.main([*argv, str(suite.directory), *pytest_args]))


WORKFLOW = Path(".github") / "workflows" / "autograd-conformance.yml"


def _cmd_init(args: argparse.Namespace) -> int:
    directory = Path(args.directory)
    table = directory / "expectations"
    if table.is_dir():
        raise CliError(f"{table}: a table is already there")
    if args.ci and WORKFLOW.exists():
        raise CliError(f"{WORKFLOW}: a workflow is already there")
    table.mkdir(parents=True)
    if args.ci:
        from importlib import resources

        text = resources.files(__package__).joinpath("templates", "conformance-workflow.yml").read_text()
        write_atomic(WORKFLOW, text.replace('PROBES: "tests/autograd"', f'PROBES: "{directory.as_posix()}"'))
        print(f"wrote {WORKFLOW} (set CURRENT_TORCH to your pin)")
    module = directory / f"test_{args.family}.py"
    if not module.exists() and not list(directory.glob("test_*.py")):
        module.write_text(STARTER_PROBE)
        print(f"wrote {module} (a starter probe: replace it with your own assumptions)")
    print(f"created {table}\n"
          f"next: add to your pytest configuration\n"
          f"  ac_expectations = {table.as_posix()}\n"
          f"then record what torch does and review it:\n"
          f"  pytest {directory.as_posix()} --ac-record\n"
          f"  git diff {table.as_posix()}")
    return EXIT_OK


STARTER_PROBE = '''"""Our own assumptions about autograd: each probe records facts, the table says what we rely on."""

import torch


def test_detach_shares_storage(obs, device):
    """detach() returns a leaf without grad that shares storage and the version counter."""
    x = torch.ones(3, device=device, requires_grad=True)
    y = x.detach()
    y.add_(1)
    obs.facts_of("y", y, "is_leaf", "requires_grad", "version")
    obs.fact("storage.same", y.data_ptr() == x.data_ptr())
'''


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="autograd-conformance",
        description="Run the autograd conformance suite, and work with its expectations table and saved reports.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Exit status of the commands on reports and tables: 0 ok, 1 differences, 2 bad input "
               "('run' has pytest's, see 'run --help').",
    )
    parser.add_argument("--version", action="version", version=f"autograd-conformance {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("run", help="run the bundled conformance suite (pytest arguments pass through; see run --help)",
                   add_help=False)

    init = sub.add_parser(
        "init", help="start a probe suite of your own: a table directory and a starter probe",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Create DIRECTORY/expectations/ (your table) and, if DIRECTORY has no probe module yet, a "
                    "starter probe; then say what to add to your pytest configuration.",
        epilog="examples:\n  autograd-conformance init tests/autograd\n  autograd-conformance init tests/autograd --ci")
    init.add_argument("directory", help="where your probe modules live (e.g. tests/autograd)")
    init.add_argument("--family", default="assumptions", help="the starter module's family (default: assumptions)")
    init.add_argument("--ci", action="store_true",
                      help=f"also write the CI gate for GitHub Actions to {WORKFLOW} (run from your repository's root)")
    init.set_defaults(func=_cmd_init)

    facts = sub.add_parser("facts", help="print the fact vocabulary as a Markdown table",
                           description="Print the fact vocabulary (the README's facts section is this output).")
    facts.set_defaults(func=_cmd_facts)

    html = sub.add_parser(
        "html", help="render a saved JSON report as a self-contained HTML page",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Render a saved report as one HTML file (no network): run info, verdict counts, probes by "
                    "family with observed vs expected facts, the row in force, source and a repro snippet.",
        epilog="examples:\n  autograd-conformance html reports/torch-2.13.0+cpu.json\n"
               "  autograd-conformance html reports/torch-2.13.0+cpu.json -o /tmp/report.html")
    html.add_argument("report", help="a JSON report written by a pytest run")
    html.add_argument("-o", "--output", metavar="FILE", help="where to write (default: the report's name with .html)")
    html.set_defaults(func=_cmd_html)

    diff = sub.add_parser(
        "diff", help="compare the facts of two saved reports (e.g. torch 2.13 vs 2.14)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Compare two runs fact by fact, independent of either run's expectations: probes added, "
                    "removed, changed (each fact before -> after, semantic or text), unchanged. A change the "
                    "table accepted in both runs (a version-conditioned row) is still reported, and marked.",
        epilog="exit status: 0 no difference, 1 differences, 2 bad input (missing, corrupt or wrong-schema report)\n"
               "examples:\n"
               "  autograd-conformance diff reports/torch-2.13.0+cpu.json reports/torch-2.14.1+cu130.json\n"
               "  autograd-conformance diff before.json after.json --format markdown -o diff.md\n"
               "  autograd-conformance diff before.json after.json --ignore '*.message' --ignore '*.warns'\n"
               "  autograd-conformance diff before.json after.json --fail-on semantic")
    diff.add_argument("before", help="the baseline report (e.g. the current torch pin)")
    diff.add_argument("after", help="the candidate report (e.g. the new torch)")
    diff.add_argument("--format", choices=("text", "markdown", "json", "html"), default="text",
                      help="output format (default: text)")
    diff.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    diff.add_argument("--ignore", action="append", default=[], metavar="GLOB",
                      help="ignore facts whose name matches GLOB (repeatable), e.g. '*.message'")
    diff.add_argument("--fail-on", choices=("any", GATE_SEMANTIC), default="any",
                      help="exit 1 on any difference (default) or only on semantic changes and added/removed probes")
    diff.set_defaults(func=_cmd_diff)

    record = sub.add_parser(
        "record", help="record the facts of saved runs (several torch versions/devices) into the table",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Merge the observations of saved reports into the table so that every given run passes: "
                    "facts all runs agree on stay unconditional, differing facts get when blocks with PEP 440 "
                    "ranges bounded by the releases observed (a change reverted later gets a bounded range). "
                    "Only rows the table does not already predict are touched; existing reason/link are kept. "
                    "Runs with broken probes are refused.",
        epilog="examples:\n"
               "  autograd-conformance record reports/torch-2.13.0+cpu.json reports/torch-2.14.1+cu130.json\n"
               "  autograd-conformance record --dry-run reports/*.json     # print the table diff, write nothing")
    record.add_argument("reports", nargs="+", help="JSON reports of full runs on the torch versions to describe")
    record.add_argument("--expectations", default="suites/expectations", metavar="DIR",
                        help="the table directory (default: suites/expectations)")
    record.add_argument("--dry-run", action="store_true", help="print the diff of the table, write nothing")
    record.add_argument("--init", action="store_true", help="create the table directory if there is none")
    record.set_defaults(func=_cmd_record)

    hist = sub.add_parser(
        "history", help="(re)record the table on every described torch release (in a checkout)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Release by release: make a scratch environment with that torch and this checkout, run the "
                    "suite, keep the report, remove the environment; then merge all reports into the table "
                    "(autograd-conformance record) and write the described releases to _releases.toml. "
                    "Needs the package registry; uses uv when it is installed.",
        epilog="examples:\n  autograd-conformance history\n"
               "  autograd-conformance history --releases 2.13.0,2.14.1 --no-record")
    hist.add_argument("--releases", metavar="LIST", help="comma-separated torch versions (default: the latest "
                                                         "patch of every 2.x minor release)")
    hist.add_argument("--work", default=".history", metavar="DIR", help="scratch environments (default: .history)")
    hist.add_argument("--reports", default="reports/history", metavar="DIR",
                      help="where each release's report goes (default: reports/history)")
    hist.add_argument("--workers", default="2", metavar="N", help="-n for each run (default: 2)")
    hist.add_argument("--keep-cache", action="store_true", help="keep downloads between releases (more disk)")
    hist.add_argument("--reuse", action="store_true", help="keep reports already in --reports instead of re-running")
    hist.add_argument("--find-links", action="append", metavar="DIR", help="extra wheel directories (default: pip's)")
    hist.add_argument("--no-record", action="store_true", help="only run and keep the reports")
    hist.set_defaults(func=_cmd_history)

    matrix = sub.add_parser(
        "matrix", help="families x torch releases from several saved reports, each cell linking to what changed",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Render several reports (e.g. one per torch release) as one page: a row per family, a column "
                    "per run ordered by torch version, pass counts per cell, and per cell the facts that changed "
                    "since the run before it.",
        epilog="example:\n  autograd-conformance matrix reports/history/torch-*.json -o reports/matrix.html")
    matrix.add_argument("reports", nargs="+", help="saved JSON reports")
    matrix.add_argument("-o", "--output", metavar="FILE", required=True, help="where to write the page")
    matrix.set_defaults(func=_cmd_matrix)

    log = sub.add_parser(
        "changelog", help="the autograd changes at each torch release boundary, from the table alone",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="List what the expectations table states changes from one described torch release to the "
                    "next: probe, fact, before -> after, semantic or text, and the reason and link of the row. "
                    "Grouped by family, behaviour before wording. Needs no torch.",
        epilog="examples:\n  autograd-conformance changelog --from 2.8 --to 2.13\n"
               "  autograd-conformance changelog --from 2.4 --format markdown -o CHANGES.md\n"
               "  autograd-conformance changelog --format html -o changelog.html --semantic-only")
    log.add_argument("--from", dest="start", metavar="VERSION", help="the release you upgrade from (default: oldest)")
    log.add_argument("--to", dest="end", metavar="VERSION", help="the release you upgrade to (default: newest)")
    log.add_argument("--format", choices=("text", "markdown", "html", "json"), default="text")
    log.add_argument("--semantic-only", action="store_true", help="leave wording changes out")
    log.add_argument("--expectations", metavar="DIR", help="the table (default: suites/expectations here, else "
                                                           "the bundled one)")
    log.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    log.set_defaults(func=_cmd_changelog)

    compact = sub.add_parser(
        "compact", help="fold facts shared by a parametrised probe's rows into one pattern row",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Fold the facts that every row of one parametrised probe shares into a family/test_x[*] "
                    "pattern row, leaving each row only what is its own. Resolution is unchanged.",
        epilog="examples:\n  autograd-conformance compact\n  autograd-conformance compact --dry-run "
               "--expectations suites/expectations")
    compact.add_argument("--expectations", default="suites/expectations", metavar="DIR",
                         help="the table directory (default: suites/expectations)")
    compact.add_argument("--torch-version", metavar="VERSION",
                         help="check the table for conflicts under this torch version (default: installed)")
    compact.add_argument("--dry-run", action="store_true", help="say what would change, write nothing")
    compact.set_defaults(func=_cmd_compact)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["run"]:  # every further argument is pytest's: argparse must not see them
            return run(argv[1:])
        args = build_parser().parse_args(argv)
        return args.func(args)
    except CliError as exc:
        print(f"autograd-conformance: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
