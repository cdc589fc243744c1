"""The ``autograd-conformance`` command line's arguments: every subcommand and option declared in one layout, and
a parser whose errors are one line (exit 2) like every other error of the command. ``cli`` runs the commands."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from . import __version__
from .facts import GATE_SEMANTIC
from .scaffold import WORKFLOW

#: The exit status of a usage error (and of every other error of the commands on reports and tables).
EXIT_BAD_INPUT = 2


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit status 2), like every other error of this command."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"autograd-conformance: error: {message} (see '{self.prog} --help')\n")


def command(sub: Any, name: str, help: str, description: str, examples: Sequence[str] = (),
            status: str = "") -> argparse.ArgumentParser:
    """A subcommand: its help, description, exit status words and examples, in the one layout they all share."""
    epilog = "\n".join([*([f"exit status: {status}"] if status else []),
                        *(["examples:", *(f"  autograd-conformance {e}" for e in examples)] if examples else [])])
    parser = sub.add_parser(name, help=help, description=description, epilog=epilog or None,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    return parser


def output(command: argparse.ArgumentParser, help: str = "write to FILE instead of standard output",
           **kwargs: Any) -> None:
    command.add_argument("-o", "--output", metavar="FILE", help=help, **kwargs)


def formats(command: argparse.ArgumentParser, *choices: str) -> None:
    command.add_argument("--format", choices=choices, default="text", help="output format (default: text)")


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

    init = command(sub, "init", "start a probe suite of your own: a table directory and a starter probe",
                    "Create DIRECTORY/expectations/ (your table) and, if DIRECTORY has no probe module yet, a starter "
                    "probe; then say what to add to your pytest configuration.",
                    ["init tests/autograd", "init tests/autograd --ci"])
    init.add_argument("directory", help="where your probe modules live (e.g. tests/autograd)")
    init.add_argument("--family", default="assumptions", help="the starter module's family (default: assumptions)")
    init.add_argument("--ci", action="store_true",
                      help=f"also write the CI gate for GitHub Actions to {WORKFLOW} (run from your repository's root)")

    command(sub, "facts", "print the fact vocabulary as a Markdown table",
             "Print the fact vocabulary (the README's facts section is this output).")

    html = command(sub, "html", "render a saved JSON report as a self-contained HTML page",
                    "Render a saved report as one HTML file (no network): run info, verdict counts, probes by family "
                    "with observed vs expected facts, the row in force, source and a repro snippet.",
                    ["html reports/torch-2.13.0+cpu.json", "html reports/torch-2.13.0+cpu.json -o /tmp/report.html"])
    html.add_argument("report", help="a JSON report written by a pytest run")
    output(html, "where to write (default: the report's name with .html)")

    diff = command(sub, "diff", "compare the facts of two saved reports (e.g. torch 2.13 vs 2.14)",
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

    record = command(sub, "record",
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

    acc = command(sub, "accept", "state a candidate torch's differences in your own table",
                  "Write when blocks into your table layer (never the installed one) for each probe of a candidate "
                  "run that differs from the table: conditioned on the candidate's release and later, stating the "
                  "facts it observed, with your reason and link. The candidate run is green afterwards; your current "
                  "pin resolves as before. Verified before anything is written.",
                  ["accept reports/torch-2.14.1+cu130.json --expectations tests/autograd/expectations "
                   "--reason 'torch 2.14 aligned clamp subgradients' --probe 'values/*' --dry-run"])
    acc.add_argument("candidate", help="the candidate run's JSON report")
    acc.add_argument("--expectations", required=True, metavar="DIR", help="your table directory (ac_expectations)")
    acc.add_argument("--reason", required=True, help="why the table now states this (one sentence)")
    acc.add_argument("--link", help="the torch change behind it (a PR or issue URL)")
    acc.add_argument("--since", metavar="VERSION", help="the first release they apply to (default: the candidate's)")
    acc.add_argument("--probe", action="append", metavar="GLOB", help="only probes whose id matches (repeatable)")
    acc.add_argument("--dry-run", action="store_true", help="print the table diff, write nothing")

    rdev = command(sub, "record-device", "record a device the table has no recording of into your own table",
                   "Run the bundled suite on DEVICE and write, into your table layer (made if missing), a when block "
                   "with device = DEVICE for each probe whose facts there differ from the rows recorded on cpu, each "
                   "with your reason; then list DEVICE as recorded on this torch release in your layer's "
                   "_releases.toml. Review the blocks, commit them, and your runs on DEVICE are judged against them. "
                   "pytest arguments (-n auto, -k, ...) go after '--'.",
                   ["record-device cuda --expectations tests/autograd/expectations --reason 'recorded on our A100 "
                    "runners with torch 2.13.0; reviewed' -- -n auto"],
                   status="pytest's (0 recorded, 1 differences left unwritten, 2 a usage error)")
    rdev.add_argument("device", help="the device to record (cuda or mps; it must be present on this machine)")
    rdev.add_argument("--expectations", required=True, metavar="DIR", help="your table directory (ac_expectations)")
    rdev.add_argument("--reason", required=True,
                      help="the reason every block states (why the device differs, what you reviewed)")
    rdev.add_argument("--link", help="a link for the blocks (the change behind a difference)")

    hist = command(sub, "history",
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

    matrix = command(sub, "matrix",
                      "families x torch releases from several saved reports, each cell linking to what changed",
                      "Render several reports (e.g. one per torch release) as one page: a row per family, a column "
                      "per run ordered by torch version, pass counts per cell, and per cell the facts that changed "
                      "since the run before it.", ["matrix reports/history/torch-*.json -o reports/matrix.html"])
    matrix.add_argument("reports", nargs="+", help="saved JSON reports")
    output(matrix, "where to write the page", required=True)

    log = command(sub, "changelog",
                   "the autograd changes at each torch release boundary, as release notes, from the table alone",
                   "Release notes of autograd from the expectations table: a one-screen summary (causes, probes "
                   "and facts per kind and per release), then per release boundary its causes — the torch change "
                   "behind them (a link registered in the table's _links.toml that shipped there) or the stated "
                   "reason — each with its kind, how many probes and facts it moves, an example with the command "
                   "that runs it, and its probes. Eager mode unless --mode says otherwise. Needs no torch. "
                   "--check-links verifies the table's links instead (with --pytorch, against PyTorch's history).",
                   ["changelog --from 2.8 --to 2.13", "changelog --from 2.4 --format markdown -o CHANGES.md",
                    "changelog --format html -o changelog.html --semantic-only",
                    "changelog --from 2.13 --to 2.14 --kind values --family values --detail",
                    "changelog --check-links --pytorch ~/src/pytorch"],
                   status="0 done (links: all hold), 1 links that do not hold, 2 bad input")
    log.add_argument("--from", dest="start", metavar="VERSION",
                     help="the release you upgrade from: a described release or its minor (default: the oldest)")
    log.add_argument("--to", dest="end", metavar="VERSION", help="the release you upgrade to (default: the newest)")
    formats(log, "text", "markdown", "html", "json")
    log.add_argument("--mode", default="eager", metavar="MODE",
                     help="the execution mode whose changes to list: eager (the default), compile, or all")
    log.add_argument("--backend", default="aot_eager", metavar="NAME",
                     help="compile mode's changes under this torch.compile backend (default: aot_eager, the backend "
                          "compile rows are recorded with; inductor where the table states it)")
    log.add_argument("--family", action="append", metavar="NAME", help="only this probe family (repeatable)")
    log.add_argument("--kind", action="append", metavar="KIND",
                     help="only changes of this kind (repeatable): values, errors, api, messages, test-database")
    log.add_argument("--semantic-only", action="store_true", help="leave wording changes out")
    log.add_argument("--detail", action="store_true", help="list every fact of every cause, not only its probes")
    log.add_argument("--check-links", action="store_true",
                     help="check every link the table cites against its registry, _links.toml (kind, the release "
                          "that shipped it, what it touches), instead of printing the changelog")
    log.add_argument("--compile-safety", action="store_true",
                     help="print 'is it safe to compile?' (the README's section): per backend, how many compile "
                          "differences from eager the table states of each hazard class, and the silent ones")
    log.add_argument("--pytorch", metavar="CLONE",
                     help="with --check-links: a clone of PyTorch with its release tags, to check each PR's commit, "
                          "first release and diff")
    log.add_argument("--expectations", metavar="DIR",
                     help="the table (default: suites/expectations here, else the bundled one)")
    output(log)

    compact = command(sub, "compact",
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
