"""The one error type for problems a user can cause (bad files, bad flags, bad requests).

The CLI turns a :class:`QlogError` into exit code 2 and a single line, and the HTTP API into a 422.
Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class QlogError(Exception):
    """A user-caused error: names where (file, field path) and why, never needs a traceback."""

    def __init__(self, message: str, *, source: str | None = None, field: str | None = None) -> None:
        self.source = source
        self.field = field
        self.reason = message
        parts = []
        if source:
            parts.append(str(source))
        if field:
            parts.append(field)
        prefix = ": ".join(parts)
        super().__init__(f"{prefix}: {message}" if prefix else message)
