"""The ``autograd-conformance`` command line: work with the table and with saved reports outside pytest."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .arguments import EXIT_BAD_INPUT, Parser, command, formats, output
from .errors import ConformanceError
from .facts import GATE_SEMANTIC, vocabulary_markdown
from .files import write_atomic
from .report import Report, load
from .scaffold import WORKFLOW

EXIT_OK, EXIT_DIFFERENT = 0, 1


class CliError(ConformanceError):
    """A usage error of a command (a missing table directory, an installed table to write): one line, exit 2."""


def _cmd_compact(args: argparse.Namespace) -> int:
    from .compact import compact_table
    from .devices import torch_build

    directory = Path(args.expectations)
    result = compact_table(directory, args.torch_version or torch_build()[0], write=not args.dry_run)
    print("\n".join(result.account(directory, args.dry_run)))
    return EXIT_OK


def _cmd_facts(args: argparse.Namespace) -> int:
    print(vocabulary_markdown())
    return EXIT_OK


def _load(path: str, consequence: str | None = "") -> Report:
    """A saved report; a warning on stderr, ending in ``consequence``, when it cannot stand for a full run
    (partial, incomplete, ...); none when ``consequence`` is None."""
    report = load(Path(path))
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


def _page_link(report: str, output: str | None, json_too: bool = True) -> str | None:
    """A link from a page written to ``output`` to a report's page (else, with ``json_too``, its JSON)."""
    base = Path(output).resolve().parent if output else Path.cwd()
    path = Path(report).resolve()
    target = path.with_suffix(".html") if path.with_suffix(".html").exists() else path if json_too else None
    return Path(os.path.relpath(target, base)).as_posix() if target is not None else None


def _cmd_diff(args: argparse.Namespace) -> int:
    from . import diff as diff_mod

    consequence = ": probes it did not run show as added or removed"
    before, after = _load(args.before, consequence), _load(args.after, consequence)
    result = diff_mod.compute(before, after, args.ignore)
    result.paths = (args.before, args.after)
    if args.format == "html":
        from .html import render_diff

        text = render_diff(result, {side: _page_link(getattr(args, side), args.output) for side in ("before", "after")})
    else:
        text = diff_mod.FORMATS[args.format](result)
    _emit(text, args.output)
    return EXIT_DIFFERENT if result.fails(args.fail_on) else EXIT_OK


def _cmd_history(args: argparse.Namespace) -> int:
    from . import history

    plan = history.Plan.in_checkout(Path(args.work), Path(args.reports), args.releases, args.workers,
                                    args.keep_cache, args.find_links)
    history.run_all(plan, reuse=args.reuse, record_after=not args.no_record)
    return EXIT_OK


def _cmd_matrix(args: argparse.Namespace) -> int:
    from .html import render_matrix

    reports = [_load(path, "; the matrix says what it covers") for path in args.reports]
    _emit(render_matrix(reports, [_page_link(path, args.output, json_too=False) for path in args.reports]),
          args.output)
    return EXIT_OK


def _cmd_changelog(args: argparse.Namespace) -> int:
    from . import changelog
    from .expectations import Table
    from .probes import default_table

    table = Table.load(Path(args.expectations) if args.expectations else default_table(), "0")
    log = changelog.build(table, args.start, args.end, semantic_only=args.semantic_only)
    if args.format == "html":
        from .html import render_changelog

        text = render_changelog(log)
    else:
        text = changelog.FORMATS[args.format](log)
    _emit(text, args.output)
    return EXIT_OK


def _cmd_record(args: argparse.Namespace) -> int:
    from .merge import record_reports

    directory = Path(args.expectations)
    if not directory.is_dir() and not args.init:
        raise CliError(f"{directory}: no such table directory (pass --init to create one)")
    reports = [_load(path, None) for path in args.reports]  # merge checks what it can record
    sys.stdout.write(record_reports(directory, reports, dry_run=args.dry_run))
    return EXIT_OK


def _cmd_init(args: argparse.Namespace) -> int:
    from .scaffold import init

    print("\n".join(init(Path(args.directory), args.family, args.ci)))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="autograd-conformance", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run the autograd conformance suite, and work with its expectations table and saved reports.",
        epilog="Exit status of the commands on reports and tables: 0 ok, 1 differences, 2 bad input "
               "('run' has pytest's, see 'run --help').")
    parser.add_argument("--version", action="version", version=f"autograd-conformance {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("run", help="run the bundled conformance suite (pytest arguments pass through; see run --help)",
                   add_help=False)

    init = command(sub, "init", _cmd_init, "start a probe suite of your own: a table directory and a starter probe",
                    "Create DIRECTORY/expectations/ (your table) and, if DIRECTORY has no probe module yet, a starter "
                    "probe; then say what to add to your pytest configuration.",
                    ["init tests/autograd", "init tests/autograd --ci"])
    init.add_argument("directory", help="where your probe modules live (e.g. tests/autograd)")
    init.add_argument("--family", default="assumptions", help="the starter module's family (default: assumptions)")
    init.add_argument("--ci", action="store_true",
                      help=f"also write the CI gate for GitHub Actions to {WORKFLOW} (run from your repository's root)")

    command(sub, "facts", _cmd_facts, "print the fact vocabulary as a Markdown table",
             "Print the fact vocabulary (the README's facts section is this output).")

    html = command(sub, "html", _cmd_html, "render a saved JSON report as a self-contained HTML page",
                    "Render a saved report as one HTML file (no network): run info, verdict counts, probes by family "
                    "with observed vs expected facts, the row in force, source and a repro snippet.",
                    ["html reports/torch-2.13.0+cpu.json", "html reports/torch-2.13.0+cpu.json -o /tmp/report.html"])
    html.add_argument("report", help="a JSON report written by a pytest run")
    output(html, "where to write (default: the report's name with .html)")

    diff = command(sub, "diff", _cmd_diff, "compare the facts of two saved reports (e.g. torch 2.13 vs 2.14)",
                    "Compare two runs fact by fact, independent of either run's expectations: probes added, removed, "
                    "changed (each fact before -> after, semantic or text), unchanged. A change the table accepted in "
                    "both runs (a version-conditioned row) is still reported, and marked.",
                    ["diff reports/torch-2.13.0+cpu.json reports/torch-2.14.1+cu130.json",
                     "diff before.json after.json --format markdown -o diff.md",
                     "diff before.json after.json --ignore '*.message' --ignore '*.warns'",
                     "diff before.json after.json --fail-on semantic"],
                    "0 no difference, 1 differences, 2 bad input (missing, corrupt or wrong-schema report)")
    diff.add_argument("before", help="the baseline report (e.g. the current torch pin)")
    diff.add_argument("after", help="the candidate report (e.g. the new torch)")
    formats(diff, "text", "markdown", "json", "html")
    output(diff)
    diff.add_argument("--ignore", action="append", default=[], metavar="GLOB",
                      help="ignore facts whose name matches GLOB (repeatable), e.g. '*.message'")
    diff.add_argument("--fail-on", choices=("any", GATE_SEMANTIC), default="any",
                      help="exit 1 on any difference (default) or only on semantic changes and added/removed probes")

    record = command(sub, "record", _cmd_record,
                      "record the facts of saved runs (several torch versions/devices) into the table",
                      "Merge the observations of saved reports into the table so that every given run passes: facts "
                      "all runs agree on stay unconditional, differing facts get when blocks with PEP 440 ranges "
                      "bounded by the releases observed (a change reverted later gets a bounded range). Only rows "
                      "the table does not already predict are touched; existing reason/link are kept. Runs with "
                      "broken probes are refused.",
                      ["record reports/torch-2.13.0+cpu.json reports/torch-2.14.1+cu130.json",
                       "record --dry-run reports/*.json     # print the table diff, write nothing"])
    record.add_argument("reports", nargs="+", help="JSON reports of full runs on the torch versions to describe")
    record.add_argument("--expectations", default="suites/expectations", metavar="DIR",
                        help="the table directory (default: suites/expectations)")
    record.add_argument("--dry-run", action="store_true", help="print the diff of the table, write nothing")
    record.add_argument("--init", action="store_true", help="create the table directory if there is none")

    hist = command(sub, "history", _cmd_history,
                    "(re)record the table on every described torch release (in a checkout)",
                    "Release by release: make a scratch environment with that torch and this checkout, run the "
                    "suite, keep the report, remove the environment; then merge all reports into the table "
                    "(autograd-conformance record) and write the described releases to _releases.toml. Needs the "
                    "package registry; uses uv when it is installed.",
                    ["history", "history --releases 2.13.0,2.14.1 --no-record"])
    hist.add_argument("--releases", metavar="LIST",
                      help="comma-separated torch versions (default: the latest patch of every 2.x minor release)")
    for flag, default, text in (("--work", ".history", "scratch environments"),
                                ("--reports", "reports/history", "where each release's report goes")):
        hist.add_argument(flag, default=default, metavar="DIR", help=f"{text} (default: {default})")
    hist.add_argument("--workers", default="2", metavar="N", help="-n for each run (default: 2)")
    hist.add_argument("--find-links", action="append", metavar="DIR", help="extra wheel directories (default: pip's)")
    for flag, text in (("--keep-cache", "keep downloads between releases (more disk)"),
                       ("--reuse", "keep reports already in --reports instead of re-running"),
                       ("--no-record", "only run and keep the reports")):
        hist.add_argument(flag, action="store_true", help=text)

    matrix = command(sub, "matrix", _cmd_matrix,
                      "families x torch releases from several saved reports, each cell linking to what changed",
                      "Render several reports (e.g. one per torch release) as one page: a row per family, a column "
                      "per run ordered by torch version, pass counts per cell, and per cell the facts that changed "
                      "since the run before it.", ["matrix reports/history/torch-*.json -o reports/matrix.html"])
    matrix.add_argument("reports", nargs="+", help="saved JSON reports")
    output(matrix, "where to write the page", required=True)

    log = command(sub, "changelog", _cmd_changelog,
                   "the autograd changes at each torch release boundary, from the table alone",
                   "List what the expectations table states changes from one described torch release to the next: "
                   "probe, fact, before -> after, semantic or text, and the reason and link of the row. Grouped by "
                   "family, behaviour before wording. Needs no torch.",
                   ["changelog --from 2.8 --to 2.13", "changelog --from 2.4 --format markdown -o CHANGES.md",
                    "changelog --format html -o changelog.html --semantic-only"])
    log.add_argument("--from", dest="start", metavar="VERSION", help="the release you upgrade from (default: oldest)")
    log.add_argument("--to", dest="end", metavar="VERSION", help="the release you upgrade to (default: newest)")
    formats(log, "text", "markdown", "html", "json")
    log.add_argument("--semantic-only", action="store_true", help="leave wording changes out")
    log.add_argument("--expectations", metavar="DIR",
                     help="the table (default: suites/expectations here, else the bundled one)")
    output(log)

    compact = command(sub, "compact", _cmd_compact,
                       "fold facts shared by a parametrised probe's rows into one pattern row",
                       "Fold the facts that every row of one parametrised probe shares into a family/test_x[*] "
                       "pattern row, leaving each row only what is its own. Resolution is unchanged.",
                       ["compact", "compact --dry-run --expectations suites/expectations"])
    compact.add_argument("--expectations", default="suites/expectations", metavar="DIR",
                         help="the table directory (default: suites/expectations)")
    compact.add_argument("--torch-version", metavar="VERSION",
                         help="check the table for conflicts under this torch version (default: installed)")
    compact.add_argument("--dry-run", action="store_true", help="say what would change, write nothing")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    for stream in (sys.stdout, sys.stderr):  # a terminal that cannot show a character gets its escape
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    try:
        if argv[:1] == ["run"]:  # every further argument is pytest's: argparse must not see them
            from .launch import run

            return run(argv[1:])
        args = build_parser().parse_args(argv)
        return args.func(args)
    except ConformanceError as exc:  # every error of the harness: one line, exit 2
        print(f"autograd-conformance: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
