"""The ``autograd-conformance`` command line: work with the table and with saved reports outside pytest."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .expectations import Table, TableError
from .facts import vocabulary_markdown
from .record import compact_doc, dumps_table, load_docs, write_docs

EXIT_OK, EXIT_DIFFERENT, EXIT_BAD_INPUT = 0, 1, 2


class CliError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


def _cmd_facts(args: argparse.Namespace) -> int:
    print(vocabulary_markdown())
    return EXIT_OK


def _torch_version() -> str:
    import torch

    return torch.__version__


def _cmd_compact(args: argparse.Namespace) -> int:
    directory = Path(args.expectations)
    if not directory.is_dir():
        raise CliError(f"{directory}: no such table directory")
    try:
        Table.load(directory, args.torch_version or _torch_version())
        docs = load_docs(directory)
    except TableError as exc:
        raise CliError(str(exc)) from None
    changed = set()
    total = 0
    for name, doc in docs.items():
        before = dumps_table(doc)
        removed = compact_doc(doc)
        if dumps_table(doc) != before:
            changed.add(name)
            total += removed
            print(f"{directory / name}: {removed} repeated facts folded into pattern rows")
    if args.dry_run:
        print(f"dry run: {len(changed)} file(s) would change")
        return EXIT_OK
    write_docs(directory, docs, changed)
    print(f"{len(changed)} file(s) rewritten, {total} facts folded" if changed else "nothing to compact")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autograd-conformance",
        description="Work with the autograd-conformance expectations table and saved reports.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run the suite itself with pytest (see README). Exit status: 0 ok, 1 differences, 2 bad input.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    facts = sub.add_parser("facts", help="print the fact vocabulary as a Markdown table",
                           description="Print the fact vocabulary (the README's facts section is this output).")
    facts.set_defaults(func=_cmd_facts)

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
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except CliError as exc:
        print(f"autograd-conformance: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
