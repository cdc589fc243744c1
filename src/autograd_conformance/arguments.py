"""Shared argument helpers of the ``autograd-conformance`` command line: the parser whose errors are one line
(exit 2) like every other error of the command, and the one layout its subcommands and common options share."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

#: The exit status of a usage error (and of every other error of the commands on reports and tables).
EXIT_BAD_INPUT = 2


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit status 2), like every other error of this command."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"autograd-conformance: error: {message} (see '{self.prog} --help')\n")


def command(sub: Any, name: str, func: Any, help: str, description: str, examples: Sequence[str] = (),
            status: str = "") -> argparse.ArgumentParser:
    """A subcommand: its help, description, exit status words and examples, in the one layout they all share."""
    epilog = "\n".join([*([f"exit status: {status}"] if status else []),
                        *(["examples:", *(f"  autograd-conformance {e}" for e in examples)] if examples else [])])
    parser = sub.add_parser(name, help=help, description=description, epilog=epilog or None,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.set_defaults(func=func)
    return parser


def output(command: argparse.ArgumentParser, help: str = "write to FILE instead of standard output",
           **kwargs: Any) -> None:
    command.add_argument("-o", "--output", metavar="FILE", help=help, **kwargs)


def formats(command: argparse.ArgumentParser, *choices: str) -> None:
    command.add_argument("--format", choices=choices, default="text", help="output format (default: text)")
