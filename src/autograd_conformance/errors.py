"""The one base of every error the harness reports to a user (the bottom layer).

Each subclass says what went wrong in one line (``str()``), naming the file, the option or the table entry; the
command line catches ``ConformanceError`` once and prints that line, the plugin turns it into a usage error.
Errors of a probe itself (``ProbeError``) and a probe that differs from the table are not among them:
those are verdicts, not errors of the run.
"""

from __future__ import annotations


class ConformanceError(Exception):
    """An error of the run or of its input; ``str()`` is one line naming the file, option or entry."""


class ProbeError(RuntimeError):
    """The probe itself is wrong (an undeclared fact, a fact recorded twice with different values): a verdict
    of ``error`` for that probe, not an error of the run."""


class StateLeak(ProbeError):
    """A probe (or a probe module's import) left torch's process-wide state changed: the probe's verdict is
    ``leaked``, naming each piece of state and its value; the state is put back."""

    def __init__(self, leaks: list[str]) -> None:
        self.leaks = leaks
        super().__init__("left torch's state changed: " + "; ".join(leaks))
