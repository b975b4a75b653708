"""Type and range checks of dataclass fields, done by pydantic, reported as one line naming the field.

The dataclasses stay plain ``dataclasses`` (``replace``, ``asdict`` and ``fields`` work as
always); each field's annotation (``Annotated[int, Field(ge=1)]``, ``Literal[...]``, unions) is
checked in strict mode, so ``4.0`` is not a whole number, ``"4"`` is not a number and ``True`` is
not a count. NumPy scalars count as the Python numbers they hold.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import typing
from typing import Any

import numpy as np

from .errors import InvalidSettingError

_WORDS = {
    "int_type": "a whole number",
    "float_type": "a number",
    "bool_type": "True or False",
    "string_type": "text",
    "finite_number": "a finite number",
    "none_required": "None",
}
_BOUNDS = {
    "greater_than_equal": (">=", "ge"),
    "greater_than": (">", "gt"),
    "less_than_equal": ("<=", "le"),
    "less_than": ("<", "lt"),
}


@functools.cache
def _adapters(cls: type, names: tuple[str, ...] | None) -> dict[str, Any]:
    from pydantic import ConfigDict, TypeAdapter

    hints = typing.get_type_hints(cls, include_extras=True)
    strict = ConfigDict(strict=True)
    chosen = [f.name for f in dataclasses.fields(cls) if names is None or f.name in names]
    return {name: TypeAdapter(hints[name], config=strict) for name in chosen}


def _plain(value: Any) -> Any:
    """NumPy scalars as Python ones (np.int64(3) is the whole number 3)."""
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def _describe(errors: list[dict]) -> str:
    """pydantic's errors for one value as 'a whole number >= 1 or None'."""
    wanted: list[str] = []
    for error in errors:
        kind, ctx = error["type"], error.get("ctx") or {}
        if kind in _BOUNDS:
            sign, key = _BOUNDS[kind]
            text = f"{sign} {ctx.get(key)}"
        elif kind == "literal_error":
            text = str(ctx.get("expected"))
        else:
            text = _WORDS.get(kind, error["msg"].removeprefix("Input should be ").strip())
        if text not in wanted:
            wanted.append(text)
    return " or ".join(wanted)


def check_fields(instance: Any, what: str, names: tuple[str, ...] | None = None) -> None:
    """Check (and normalise: NumPy scalars, int -> float) the fields ``names`` (default: all) of
    a dataclass instance; fields holding arrays or objects are left to the caller.

    Raises :class:`InvalidSettingError` "invalid {what}: {field} must be ..., got {value!r}".
    Works on frozen dataclasses (values are set with ``object.__setattr__``).
    """
    from pydantic import ValidationError

    for name, adapter in _adapters(type(instance), names).items():
        value = _plain(getattr(instance, name))
        try:
            checked = adapter.validate_python(value)
        except ValidationError as exc:
            raise InvalidSettingError(
                f"invalid {what}: {name} must be {_describe(exc.errors())}, got {value!r}"
            ) from None
        object.__setattr__(instance, name, checked)


def check_keys(cls: type, keys: Any, what: str) -> None:
    """Refuse keys that are not fields of the dataclass ``cls``, naming each (with the closest
    field when there is one): a misspelt keyword or saved key must not pass unnoticed."""
    known = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in keys if k not in known]
    if not unknown:
        return
    hints = []
    for key in unknown:
        close = difflib.get_close_matches(str(key), known, n=1)
        hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    raise InvalidSettingError(f"unknown {what} {', '.join(hints)}")
