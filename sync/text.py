"""Text rules shared by the engine and the HTTP edge (standard library only)."""

from __future__ import annotations

from typing import Any

NUL = "\x00"
NUL_MESSAGE = "Must not contain NUL characters."


def nul_path(value: Any, path: str = "") -> str | None:
    """The dotted path of the first key or string holding a NUL character, or None.

    No Fieldsync value (ids, codes, dates, short texts) can hold one, and PostgreSQL refuses NUL
    in text, so it is found before anything is stored. A NUL in a key is shown escaped.
    """
    # Every item of every push is checked and nearly none holds a NUL: the path is only worked out
    # (a string per key) once one is known to be there. That was a tenth of a replayed batch's time.
    return _path_of_nul(value, path) if _holds_nul(value) else None


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return NUL in value
    # Loops, not any(): a generator per object made this walk 6.7 us per mutation instead of 4.6.
    if isinstance(value, dict):
        for key, item in value.items():  # noqa: SIM110
            if (isinstance(key, str) and NUL in key) or _holds_nul(item):
                return True
        return False
    if isinstance(value, list):
        for item in value:  # noqa: SIM110
            if _holds_nul(item):
                return True
    return False


def _path_of_nul(value: Any, path: str) -> str | None:
    if isinstance(value, str):
        return (path or "_request") if NUL in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if NUL in str(key):
                return where.replace(NUL, "\\u0000")
            if (found := _path_of_nul(item, where)) is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if (found := _path_of_nul(item, f"{path}.{index}" if path else str(index))) is not None:
                return found
    return None


def without_nul(value: Any) -> Any:
    """A copy with every NUL written as the visible text `\\u0000`: how a quarantined raw
    mutation keeps what the device sent in a form every database column accepts."""
    if isinstance(value, str):
        return value.replace(NUL, "\\u0000")
    if isinstance(value, dict):
        return {without_nul(str(key)): without_nul(item) for key, item in value.items()}
    if isinstance(value, list):
        return [without_nul(item) for item in value]
    return value
