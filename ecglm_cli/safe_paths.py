"""Relative file names that come from untrusted text (archives, Hub listings, dataset tables).

Such a name is only ever joined below a folder we chose, so anything that could leave that
folder is refused: an absolute path, a drive, a `..` component, a backslash or a NUL. So is a
name deeper than `MAX_DEPTH` folders or with a newline: no model or dataset needs one, and
creating thousands of nested folders overflows Python's recursion.
"""

from __future__ import annotations

from pathlib import PurePosixPath

MAX_DEPTH = 32


class UnsafePathError(ValueError):
    """The name could leave its folder; the message says why."""


def relative_parts(name: str) -> tuple[str, ...]:
    """The components of `name`, a path relative to some folder it must stay inside."""
    if "\\" in name or "\x00" in name:
        raise UnsafePathError("backslash or NUL in its name")
    if "\n" in name or "\r" in name:
        raise UnsafePathError("line break in its name")
    path = PurePosixPath(name)
    if path.is_absolute() or (path.parts and path.parts[0].endswith(":")):
        raise UnsafePathError("absolute path")
    parts = tuple(p for p in path.parts if p not in ("", "."))
    if ".." in parts:
        raise UnsafePathError("'..' in its path")
    if len(parts) > MAX_DEPTH:
        raise UnsafePathError(f"more than {MAX_DEPTH} folders deep")
    return parts
