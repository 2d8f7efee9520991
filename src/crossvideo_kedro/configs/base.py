"""The one config mechanism: frozen pydantic models that forbid unknown keys, and :func:`parse`.

Field types say what a value may be (``Int`` refuses ``2.5``, ``"2"`` and ``true``; ``Num`` refuses strings,
booleans, NaN and infinities and keeps an integer an integer; lists arrive as tuples), ``Field(ge=..., le=...)`` says
its range, and a ``field_validator``/``model_validator`` states a rule across values. :func:`parse` turns a
``ValidationError`` into the project's one-line message: the full key (``pretrain.model.point.radius``), what is
allowed and the value given. A validator's ``ValueError`` text is appended to the key it is raised for, so it starts
with `` must``, ``.<field> ...`` or ``: ...``.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeVar, get_args, get_origin

import annotated_types
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr, ValidationError
from pydantic.fields import FieldInfo

__all__ = ["Bool", "Config", "Int", "Num", "Str", "UnknownKeys", "expected", "parse"]

Int = StrictInt  # an integer, never a float, a string or a boolean
Num = StrictInt | StrictFloat  # a finite number; an integer stays an integer (same numbers as the YAML says)
Bool = StrictBool
Str = StrictStr

C = TypeVar("C", bound=BaseModel)


class Config(BaseModel):
    """Base of every parameter block: immutable, unknown keys refused, NaN and infinities refused."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, validate_default=False)


class UnknownKeys(ValueError):
    """Raised by a validator for keys of a free-form mapping it does not know (``keys`` relative to the field)."""

    def __init__(self, keys: list[str], known: list[str]) -> None:
        super().__init__(f"unknown parameter(s) {keys}; expected {known}")
        self.keys, self.known = keys, known


def expected(text: str, **field: Any) -> Any:
    """``Field(**field)`` whose error message says ``must be <text>`` instead of the description built from types."""
    return Field(json_schema_extra={"expected": text}, **field)


def parse(model: type[C], params: Any, where: str) -> C:
    """``model`` built from the parameter mapping ``params`` (``None`` = all defaults) of block ``where``.

    Raises:
        ValueError: one line naming every bad ``<where>.<key>``, what is allowed and the value given.
    """
    if isinstance(params, model):
        return params
    if params is not None and not isinstance(params, Mapping):
        raise ValueError(f"{where} must be a mapping of {sorted(model.model_fields)}, got {params!r}")
    try:
        return model.model_validate(dict(params or {}))
    except ValidationError as error:
        raise ValueError("; ".join(messages(model, error, where))) from None


def messages(model: type[BaseModel], error: ValidationError, where: str) -> list[str]:
    """One message per bad key of ``error`` (the unknown keys of one mapping together, first)."""
    found: list[str] = []
    unknown: dict[tuple, tuple[set[str], set[str]]] = {}  # parent path -> (unknown keys, known keys)
    for item in error.errors():
        path, info, owner, below = _walk(model, item["loc"])
        if item["type"] == "extra_forbidden":
            keys, _ = unknown.setdefault(tuple(path[:-1]), (set(), set(owner.model_fields) if owner else set()))
            keys.add(str(path[-1]))
            continue
        if path and isinstance(path[-1], int) and _override(info):
            path = [p for p in path[:-1]]  # the field's own description covers its items: name the field
            below = False
        message = _message(_key(where, path), info, item, below)
        if message not in found:
            found.append(message)
    for parent, (keys, known) in reversed(unknown.items()):
        hints = "".join(f" ({k!r}: did you mean {close[0]!r}?)" for k in sorted(keys)
                        if (close := difflib.get_close_matches(k, known, n=1)))
        found.insert(0, f"unknown parameter(s) {[_key(where, [*parent, k]) for k in sorted(keys)]}{hints}; "
                        f"expected {sorted(known)}")
    return found


def _message(key: str, info: FieldInfo | None, item: dict, below: bool) -> str:
    if item["type"] == "value_error":
        error = item.get("ctx", {}).get("error")
        if isinstance(error, UnknownKeys):
            hints = "".join(f" ({k!r}: did you mean {close[0]!r}?)" for k in (k.rsplit(".", 1)[-1] for k in error.keys)
                            if (close := difflib.get_close_matches(k, error.known, n=1)))
            return f"unknown parameter(s) {[key + k for k in error.keys]}{hints}; expected {error.known}"
        text = str(error) if error is not None else item["msg"].removeprefix("Value error, ")
        return f"{key}{text}" if text[:1] in ".:[ " else f"{key} {text}"
    message = f"{key} must be {_expected(info, item, below)}, got {item['input']!r}"
    if item["type"] in ("tuple_type", "list_type") and not isinstance(item["input"], str | Mapping):
        message += f": a single value is written as a list, e.g. {key}=[{item['input']!r}]"
    return message


def _key(where: str, path: list[Any]) -> str:
    key = where
    for part in path:
        key += f"[{part}]" if isinstance(part, int) else f".{part}"
    return key


def _walk(model: type[BaseModel], loc: tuple) -> tuple[list[Any], FieldInfo | None, type[BaseModel] | None, bool]:
    """The key path of ``loc`` without pydantic's union-branch tags, the last model field on it, its model, and
    whether the path ends below that field (an item of its list or a value of its mapping)."""
    path: list[Any] = []
    info: FieldInfo | None = None
    owner: type[BaseModel] | None = model
    current: Any = model
    below = False
    for part in loc:
        if isinstance(part, int):
            path.append(part)  # an item of a list: its model (if any) stays the current one
            below = True
        elif isinstance(current, type) and issubclass(current, BaseModel):
            owner = current
            if part in current.model_fields:
                info = current.model_fields[part]
                path.append(part)
                current = _model_in(info.annotation)
                below = False
            else:
                path.append(part)  # an unknown key
                current = None
        elif not _is_tag(part):
            path.append(part)  # a key of a mapping
            below = True
    return path, info, owner, below


def _is_tag(part: Any) -> bool:
    """Pydantic names the branch of a union (``int``, ``float``, ``literal['a']``, ``none``) in ``loc``."""
    return isinstance(part, str) and (part in _TAGS or "[" in part)


_TAGS = {"int", "float", "str", "bool", "none", "tuple", "list", "dict", "function-after", "function-plain"}


def _model_in(annotation: Any) -> Any:
    """The config model inside ``annotation`` (``X``, ``X | None``), ``dict`` for a mapping, else None."""
    for arg in (annotation, *get_args(annotation)):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
        if arg is dict or get_origin(arg) is dict:
            return dict
    return None


def _expected(info: FieldInfo | None, item: dict, element: bool) -> str:
    """``an integer >= 1``, ``>= 0 and <= 1``, ``one of ['a', 'b']``, ``a list of integers``, ``... or null``.

    ``element``: the value is an item of the field's list or a value of its mapping (described by the item type).
    """
    if _override(info):
        return _override(info)
    annotation = info.annotation if info is not None else None
    hint = _element(annotation) if element else annotation
    bounds = _bounds(info.metadata if info is not None and not element else _metadata(hint))
    optional = " or null" if _optional(annotation) and not element else ""
    base = _strip(hint)
    if not item["type"].startswith(("greater", "less")):
        return _describe(base) + optional  # the wrong kind of value: say the kind
    return " ".join(p for p in ("an integer" if base is int else "", bounds) if p) + optional


def _override(info: FieldInfo | None) -> str | None:
    """The ``expected`` text of a field declared with :func:`expected`, else None."""
    extra = info.json_schema_extra if info is not None else None
    return str(extra["expected"]) if isinstance(extra, dict) and "expected" in extra else None


def _bounds(metadata: list[Any]) -> str:
    parts = []
    for m in metadata:
        for name, symbol in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            value = getattr(m, name, None)
            if isinstance(m, getattr(annotated_types, name.capitalize())) and value is not None:
                parts.append(f"{symbol} {value:g}")
    return " and ".join(parts)


def _metadata(hint: Any) -> list[Any]:
    """The constraints of ``Annotated[X, Field(gt=0)]`` / ``Annotated[X, Gt(0)]``."""
    found: list[Any] = []
    for m in get_args(hint)[1:] if get_origin(hint) is Annotated else ():
        found += m.metadata if isinstance(m, FieldInfo) else [m]
    return found


def _optional(hint: Any) -> bool:
    return get_origin(hint) in (typing.Union, types.UnionType) and type(None) in get_args(hint)


def _element(hint: Any) -> Any:
    """The element type of ``tuple[X, ...]`` / ``list[X]``, the value type of ``dict[K, X]`` (inside ``| None``)."""
    for arg in (hint, *get_args(hint)):
        if get_origin(arg) in (tuple, list) and get_args(arg):
            return get_args(arg)[0]
        if get_origin(arg) is dict and len(get_args(arg)) == 2:
            return get_args(arg)[1]
    return hint


def _strip(hint: Any) -> Any:
    """``Annotated[int, ...]`` → ``int``; ``X | None`` → ``X``; ``StrictInt | StrictFloat`` → ``float``."""
    if get_origin(hint) is Annotated:
        return _strip(get_args(hint)[0])
    if get_origin(hint) in (typing.Union, types.UnionType):
        args = [_strip(a) for a in get_args(hint) if a is not type(None)]
        if set(args) == {int, float}:
            return float
        return args[0] if len(args) == 1 else typing.Union[tuple(args)]  # noqa: UP007 - built at run time
    return hint


def _describe(hint: Any) -> str:
    origin, args = get_origin(hint), get_args(hint)
    named = {int: "an integer", float: "a finite number", bool: "true or false", str: "a string"}
    if hint in named:
        return named[hint]
    if origin is Literal:
        return f"one of {list(args)}"
    if origin in (tuple, list):
        if origin is tuple and args and args[-1] is not Ellipsis:
            return f"a list of {len(args)} values ({', '.join(_describe(_strip(a)) for a in args)})"
        plural = {int: "integers", float: "finite numbers", bool: "true/false values", str: "strings"}
        inner = _strip(args[0]) if args else None
        return f"a list of {plural.get(inner) or 'values that are each ' + _describe(inner)}" if args else "a list"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(_strip(a)) for a in args)
    if origin is dict or hint is dict or (isinstance(hint, type) and issubclass(hint, BaseModel)):
        return "a mapping"
    return str(hint)
