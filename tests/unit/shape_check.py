"""Check plain data against the TypedDicts of plugins/plugin_utils/shapes.py, recursively."""

from __future__ import annotations

import types
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints, is_typeddict


def field_types(shape: Any) -> dict[str, Any]:
    return get_type_hints(shape)


def unwrap(annotation: Any) -> Any:
    """The shape inside ``X | None``, ``list[X]`` and ``dict[str, X]``, else the annotation."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        shapes = [a for a in get_args(annotation) if a is not type(None)]
        return unwrap(shapes[0]) if len(shapes) == 1 else annotation
    if origin is list:
        return unwrap(get_args(annotation)[0])
    if origin is dict:
        return unwrap(get_args(annotation)[1])
    return annotation


def check(value: Any, annotation: Any, path: str = "_") -> None:
    """Raise AssertionError where ``value`` does not have the declared shape."""
    origin = get_origin(annotation)
    if annotation is Any:
        return
    if is_typeddict(annotation):
        assert isinstance(value, dict), f"{path}: {value!r} is not a dict"
        required, optional = annotation.__required_keys__, annotation.__optional_keys__
        assert required <= set(value), f"{path}: missing {sorted(required - set(value))}"
        assert set(value) <= required | optional, (
            f"{path}: undeclared {sorted(set(value) - required - optional)}"
        )
        hints = field_types(annotation)
        for key, item in value.items():
            check(item, hints[key], f"{path}.{key}")
    elif origin in (Union, types.UnionType):
        errors = []
        for option in get_args(annotation):
            try:
                check(value, option, path)
                return
            except AssertionError as err:
                errors.append(str(err))
        raise AssertionError(f"{path}: {value!r} matches no option: {errors}")
    elif origin is list:
        assert isinstance(value, list), f"{path}: {value!r} is not a list"
        for index, item in enumerate(value):
            check(item, get_args(annotation)[0], f"{path}[{index}]")
    elif origin is dict:
        assert isinstance(value, dict), f"{path}: {value!r} is not a dict"
        for key, item in value.items():
            check(item, get_args(annotation)[1], f"{path}[{key}]")
    elif origin is Literal:
        assert value in get_args(annotation), f"{path}: {value!r} not in {get_args(annotation)}"
    elif annotation is type(None):
        assert value is None, f"{path}: {value!r} is not None"
    elif annotation is float:
        assert isinstance(value, (int, float)) and not isinstance(value, bool), path
    elif annotation is int:
        assert isinstance(value, int) and not isinstance(value, bool), f"{path}: {value!r}"
    else:
        assert isinstance(value, annotation), f"{path}: {value!r} is not {annotation}"
