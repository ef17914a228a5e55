"""Typed dataclass configs: building them from TOML or dicts with every value checked.

A config is a dataclass whose fields are plain types (`int`, `float`, `bool`, `str`, `X | None`,
`list[X]`, a nested config), closed choices (`Literal["a", "b"]`, or `Annotated[str, OneOf(f)]`
whose choices `f()` gives when asked: a registry's names), or open values checked by the module
that owns them (`Annotated[str, Check(check_emotion)]`). A config may rename old keys before it
is checked: a classmethod `upgrade(data) -> data` (see EditConfig). `from_dict` checks each
value against its field and names the key and where it came from:

    --config talk.toml: intensity must be a number, got "abc"

Each field's help is its trailing comment (or an attribute docstring below it); `describe`
returns it with the default, so the CLI states each default once, from the dataclass.
Torch-free: `--help` never imports torch.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import functools
import inspect
import io
import json
import math
import tokenize
import types
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Callable, Literal, TypeVar, Union, get_args, get_origin

from .errors import InputError, StcclError

T = TypeVar("T")


class ConfigError(InputError):
    """A config value of the wrong type or choice; the message names the key and its source."""


@dataclass(frozen=True)
class Check:
    """A value check for an open value: `fn(value)` returns the value (maybe normalised) or
    raises StcclError; `what` describes an acceptable value for help texts."""

    fn: Callable[[Any], Any]
    what: str = ""


@dataclass(frozen=True)
class OneOf:
    """A closed choice whose values are known only when asked (`values()`, e.g. a registry's
    names, which plug-ins may extend after the config class is defined)."""

    values: Callable[[], tuple[str, ...]]
    help: Callable[[], str] | None = None  # what each choice is, for help texts


def at_least(low: float, what: str | None = None) -> Check:
    def check(value):
        if not (value >= low and math.isfinite(value)):
            raise InputError(f"must be {what or f'at least {low:g}'}, got {_show(value)}")
        return value

    return Check(check, what or f">= {low:g}")


def more_than(low: float, what: str | None = None) -> Check:
    def check(value):
        if not (value > low and math.isfinite(value)):
            raise InputError(f"must be {what or f'more than {low:g}'}, got {_show(value)}")
        return value

    return Check(check, what or f"> {low:g}")


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def from_dict(cls: type[T], data: Any, where: str | None = "config", *,
              names: dict[str, str] | None = None, prefix: str = "") -> T:
    """Build `cls` from a (possibly partial) dict; unknown keys, wrong types and bad choices
    are a ConfigError that names the key. `names` maps dotted keys to the names shown for
    them (the CLI's flags)."""
    if not isinstance(data, dict):
        raise _error(where, names, prefix.rstrip("."), f"must be a table, got {_show(data)}")
    hints = _hints(cls)
    data = _upgraded(cls, data)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        known = ", ".join(sorted(fields))
        raise _error(where, None, "", f"unknown key(s) {', '.join(prefix + k for k in unknown)}; "
                                       f"known{' in ' + prefix.rstrip('.') if prefix else ''}: {known}")
    kwargs = {name: _value(data[name], hints[name], where, names, prefix + name)
              for name in fields if name in data}
    return cls(**kwargs)


def overlay(cfg: T, data: dict[str, Any], where: str | None = "config", *,
            names: dict[str, str] | None = None, prefix: str = "") -> T:
    """A copy of `cfg` with the keys of `data` replaced (nested tables merge), checked.
    `prefix` ("metric.") is put before the keys named in errors (`data` is that table)."""
    if not isinstance(data, dict):
        raise _error(where, None, prefix.rstrip("."), f"must be a table, got {_show(data)}")
    merged = _merge(to_dict(cfg), _upgraded(type(cfg), data))
    return from_dict(type(cfg), merged, where, names=names, prefix=prefix)


def validate(cfg: T, where: str | None = None) -> T:
    """`cfg` rebuilt with every field checked (for configs built in Python, not from a file)."""
    return from_dict(type(cfg), to_dict(cfg), where)


def nest(dotted: dict[str, Any]) -> dict[str, Any]:
    """{"train.lr": 1e-4} -> {"train": {"lr": 1e-4}}."""
    out: dict[str, Any] = {}
    for key, value in dotted.items():
        *parents, last = key.split(".")
        node = out
        for p in parents:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise InputError(f"{key}: {p} is a value, not a table")
        node[last] = value
    return out


def has_key(cls: type, dotted: str) -> bool:
    """Whether the dotted key names a field of `cls` (or of its nested configs)."""
    node: Any = cls
    for part in dotted.split("."):
        if not (dataclasses.is_dataclass(node) and part in {f.name for f in dataclasses.fields(node)}):
            return False
        node = _base(_hints(node)[part])
    return True


def check_value(cls: type, dotted: str, value: Any, where: str | None = None, *,
                names: dict[str, str] | None = None) -> Any:
    """`value` checked (and normalised) as the field at `dotted` of `cls`."""
    *parents, name = dotted.split(".")
    node: Any = cls
    for p in parents:
        node = _base(_hints(node)[p])
    return _value(value, _hints(node)[name], where, names, dotted)


@dataclass(frozen=True)
class FieldInfo:
    key: str
    doc: str
    default: Any  # dataclasses.MISSING when there is none
    choices: tuple[str, ...]  # the Literal's values, () for open fields
    what: str  # an open value's check describes what it takes ("" when it does not)
    choice_help: str = ""  # what each choice is (a OneOf's help), "" when it does not say


def describe(cls: type, dotted: str) -> FieldInfo:
    """Help text, default and choices of the field at `dotted` ("track.tracker")."""
    *parents, name = dotted.split(".")
    node: Any = cls
    for p in parents:
        node = _base(_hints(node)[p])
    f = next(f for f in dataclasses.fields(node) if f.name == name)
    if f.default is not dataclasses.MISSING:
        default = f.default
    elif f.default_factory is not dataclasses.MISSING:
        default = f.default_factory()
    else:
        default = dataclasses.MISSING
    hint = _hints(node)[name]
    item = get_args(hint)[0] if get_origin(hint) is list and get_args(hint) else hint  # list[choice]
    one_of = _one_of(item)
    said = one_of.help() if one_of is not None and one_of.help else ""
    return FieldInfo(dotted, field_docs(node).get(name, ""), default, _choices(item), _what(hint), said)


# -- checking one value -------------------------------------------------------------------------

def _value(value: Any, hint: Any, where, names, key: str) -> Any:
    origin = get_origin(hint)
    if origin is Annotated:
        base, *extras = get_args(hint)
        value = _value(value, base, where, names, key)
        one_of = _one_of(hint)
        if one_of is not None and value not in one_of.values():
            raise _error(where, names, key, f"must be one of {', '.join(one_of.values())}, "
                                            f"got {_show(value)}")
        for check in (e for e in extras if isinstance(e, Check)):
            try:
                value = check.fn(value)
            except StcclError as e:
                raise _error(where, names, key, str(e)) from None
        return value
    if hint is Any:
        return value
    if origin is Literal:
        if value not in get_args(hint):
            raise _error(where, names, key, f"must be one of {', '.join(map(str, get_args(hint)))}, "
                                            f"got {_show(value)}")
        return value
    if origin in (Union, types.UnionType):
        options = [a for a in get_args(hint) if a is not type(None)]
        if value is None and len(options) < len(get_args(hint)):
            return None
        if len(options) == 1:  # X | None: X's own message
            return _value(value, options[0], where, names, key)
        for option in options:
            try:
                return _value(value, option, where, names, key)
            except ConfigError:
                continue
        raise _error(where, names, key, f"must be {_kind(hint)}, got {_show(value)}")
    if origin is list:
        (item,) = get_args(hint) or (Any,)
        if not isinstance(value, (list, tuple)):
            raise _error(where, names, key, f"must be {_kind(hint)}, got {_show(value)}")
        return [_value(v, item, where, names, f"{key}[{k}]") for k, v in enumerate(value)]
    if dataclasses.is_dataclass(hint):
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            value = to_dict(value)
        return from_dict(hint, value, where, names=names, prefix=key + ".")
    if hint is bool:
        ok = isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif hint is str:
        ok = isinstance(value, str)
    else:
        ok = isinstance(value, hint)
    if not ok:
        raise _error(where, names, key, f"must be {_kind(hint)}, got {_show(value)}")
    return value


def _kind(hint: Any) -> str:
    origin = get_origin(hint)
    if origin is Annotated:
        base, *extras = get_args(hint)
        if _one_of(hint) is not None:
            return "one of " + ", ".join(_one_of(hint).values())
        what = [e.what for e in extras if isinstance(e, Check) and e.what]
        return what[0] if what else _kind(base)
    if origin is Literal:
        return "one of " + ", ".join(map(str, get_args(hint)))
    if origin in (Union, types.UnionType):
        return " or ".join(_kind(a) for a in get_args(hint) if a is not type(None))
    if origin is list:
        (item,) = get_args(hint) or (Any,)
        return f"a list of {_kind(item).removeprefix('a ').removeprefix('an ')}s" if item is not Any else "a list"
    return {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}.get(
        hint, f"a {getattr(hint, '__name__', hint)}")


def _one_of(hint: Any) -> OneOf | None:
    """The OneOf of an `Annotated[str, OneOf(...)]` hint, else None."""
    if get_origin(hint) is not Annotated:
        return None
    return next((e for e in get_args(hint)[1:] if isinstance(e, OneOf)), None)


def _choices(hint: Any) -> tuple[str, ...]:
    if _one_of(hint) is not None:
        return tuple(_one_of(hint).values())
    hint = _base(hint)
    if get_origin(hint) in (Union, types.UnionType):
        for a in get_args(hint):
            if get_origin(a) is Literal:
                hint = a
    return tuple(map(str, get_args(hint))) if get_origin(hint) is Literal else ()


def _what(hint: Any) -> str:
    if get_origin(hint) in (Union, types.UnionType):
        hint = next((a for a in get_args(hint) if a is not type(None)), hint)
    if get_origin(hint) is not Annotated:
        return ""
    return next((e.what for e in get_args(hint)[1:] if isinstance(e, Check) and e.what), "")


def _base(hint: Any) -> Any:
    return get_args(hint)[0] if get_origin(hint) is Annotated else hint


def _show(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    return repr(value)


def _error(where: str | None, names: dict[str, str] | None, key: str, message: str) -> ConfigError:
    shown = (names or {}).get(key.split("[")[0])
    sep = " " if message.startswith("must ") else ": "  # a check's own sentence follows a colon
    if shown is not None:  # a CLI option: its flag says it all
        return ConfigError(f"{shown}{sep}{message}")
    subject = f"{key}{sep}{message}" if key else message
    return ConfigError(f"{where}: {subject}" if where else subject)


def _upgraded(cls: type, data: dict) -> dict:
    """`data` with the old keys that `cls.upgrade` knows renamed (a copy; `data` as it is when
    `cls` has no upgrade)."""
    upgrade = cls.__dict__.get("upgrade")
    return upgrade.__func__(cls, copy.deepcopy(data)) if isinstance(upgrade, classmethod) else data


def _merge(base: dict, new: dict) -> dict:
    out = dict(base)
    for k, v in new.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, include_extras=True)


@functools.cache
def field_docs(cls: type) -> dict[str, str]:
    """Each field's help: its attribute docstring, else the comment on its line(s)."""
    try:
        source = inspect.cleandoc("\n" + inspect.getsource(cls))
    except (OSError, TypeError):  # no source (frozen apps): no help texts
        return {}
    tree = ast.parse(source)
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    comments: dict[int, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = tok.string.lstrip("#").strip()
    docs: dict[str, str] = {}
    for k, node in enumerate(body):
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        nxt = body[k + 1] if k + 1 < len(body) else None
        if (isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant)
                and isinstance(nxt.value.value, str)):
            docs[node.target.id] = " ".join(nxt.value.value.split())
            continue
        lines = [comments[n] for n in range(node.lineno, node.end_lineno + 1) if n in comments]
        if lines:
            docs[node.target.id] = " ".join(lines)
    return docs
