"""The ``autograd-conformance`` command line: work with the table and with saved reports outside pytest."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING
from pathlib import Path

from .arguments import EXIT_BAD_INPUT, build_parser
from .errors import ConformanceError
from .facts import vocabulary_markdown
from .files import write_atomic
from .report import Report, load

if TYPE_CHECKING:
    from .expectations import Table

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
    if args.check_links:
        return _check_links(table, args.pytorch)
    if args.compile_safety:
        _emit(changelog.compile_safety(table), args.output)
        return EXIT_OK
    if args.pytorch:
        raise CliError("--pytorch goes with --check-links")
    log = changelog.build(table, args.start, args.end, semantic_only=args.semantic_only, mode=args.mode,
                          families=args.family, kinds=args.kind, backend=args.backend)
    if args.format == "html":
        from .html import render_changelog

        text = render_changelog(log)
    else:
        text = changelog.FORMATS[args.format](log, args.detail)
    _emit(text, args.output)
    return EXIT_OK


def _check_links(table: "Table", clone: str | None) -> int:
    """``changelog --check-links``: every cited link registered and consistent with its blocks; with a clone,
    every registered PR as PyTorch's history has it. One line per problem, a count last."""
    from . import links

    problems = links.problems(table)
    checked = [link for link in table.links.values() if link.kind == links.PR]
    if clone:
        findings = links.check_history(table.links.values(), Path(clone))
        problems += [p for f in findings for p in f.problems]
    for line in problems:
        print(line)
    cited = {b.link for e in table.entries for b in (e.base, *e.when) if b.link}
    print(f"links: {len(cited)} cited by the table, {len(table.links)} registered ({len(checked)} PRs"
          + (", each checked against PyTorch's history" if clone else "; give --pytorch CLONE to check them against "
             "PyTorch's history") + f"): {len(problems)} problem(s)")
    return EXIT_DIFFERENT if problems else EXIT_OK


def _cmd_record(args: argparse.Namespace) -> int:
    from .merge import record_reports

    directory = Path(args.expectations)
    if not directory.is_dir() and not args.init:
        raise CliError(f"{directory}: no such table directory (pass --init to create one)")
    reports = [_load(path, None) for path in args.reports]  # merge checks what it can record
    sys.stdout.write(record_reports(directory, reports, dry_run=args.dry_run))
    return EXIT_OK


def _cmd_accept(args: argparse.Namespace) -> int:
    from .accept import accept

    candidate = _load(args.candidate, ": its missing probes cannot be accepted")
    sys.stdout.write(accept(Path(args.expectations), candidate, args.reason, args.link, args.since, args.probe,
                            args.dry_run))
    return EXIT_OK


def _cmd_init(args: argparse.Namespace) -> int:
    from .scaffold import init

    print("\n".join(init(Path(args.directory), args.family, args.ci)))
    return EXIT_OK


def _cmd_record_device(args: argparse.Namespace) -> int:
    from .launch import record_device

    return record_device(args.device, args.expectations, args.reason, args.link, list(args.pytest_args))


COMMANDS = {"record-device": _cmd_record_device, "init": _cmd_init, "facts": _cmd_facts, "html": _cmd_html, "diff": _cmd_diff, "record": _cmd_record,
            "accept": _cmd_accept, "history": _cmd_history, "matrix": _cmd_matrix, "changelog": _cmd_changelog,
            "compact": _cmd_compact}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    for stream in (sys.stdout, sys.stderr):  # a terminal that cannot show a character gets its escape
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    try:
        if argv[:1] == ["run"]:  # every further argument is pytest's: argparse must not see them
            from .launch import run

            return run(argv[1:])
        argv, passthrough = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
        args = build_parser().parse_args(argv)
        args.pytest_args = passthrough  # what follows '--' (record-device passes it to pytest)
        if passthrough and args.command != "record-device":
            raise CliError(f"{args.command} takes no arguments after '--'")
        return COMMANDS[args.command](args)
    except ConformanceError as exc:  # every error of the harness: one line, exit 2
        print(f"autograd-conformance: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
