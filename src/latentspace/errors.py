"""Errors a user can act on.

Every error raised for bad input is a :class:`UserError` whose message is one line that
names the problem and the fix. The CLI prints it without a traceback and exits with code 2.
"""

from __future__ import annotations


class UserError(ValueError):
    """Bad input: the message names the problem and how to fix it."""


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""
