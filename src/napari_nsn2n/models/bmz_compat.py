"""bioimageio.spec 0.5.12 beside pydantic 2.14: the one adjustment the pair needs.

bioimageio.core 0.11.0 (the newest release) pins bioimageio.spec 0.5.12.0, whose three wrap
serializers call pydantic's handler as ``handler(value, info)``. pydantic 2.14 reads that second
argument as an ``index_key`` and refuses a ``SerializationInfo`` there, so describing, packaging
or even loading any model fails. Later spec releases call ``handler(value)``, which is what this
module makes the three functions do (in place, so that the serializers pydantic already built
call it too). It acts only where it is needed: on spec 0.5.12 and with a pydantic that refuses
the extra argument.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

PATCHED_SPEC_SERIES = "0.5.12"
_ORIGINAL_PREFIX = "_nsn2n_unadjusted_"


def _handler_without_info(handler: Callable[..., Any]) -> Callable[..., Any]:
    return lambda value, *_: handler(value)


def pydantic_refuses_info_argument() -> bool:
    """True when pydantic's serializer handler refuses a ``SerializationInfo`` second argument."""
    from pydantic import BaseModel, model_serializer
    from pydantic_core import PydanticSerializationError

    class Probe(BaseModel):
        value: int = 0

        @model_serializer(mode="wrap")
        def _serialize(self, handler, info):
            return handler(self, info)

    try:
        Probe().model_dump()
    except (TypeError, PydanticSerializationError):
        return True
    return False


def _call_handler_without_info(function: Callable[..., Any]) -> None:
    """Make ``function(value, handler, info)`` pass its original body a handler that drops the
    extra argument (its code is replaced, so every reference to it sees the change)."""
    namespace = function.__globals__
    key = _ORIGINAL_PREFIX + function.__name__
    if key in namespace:
        return
    namespace[key] = types.FunctionType(
        function.__code__, namespace, function.__name__, function.__defaults__, function.__closure__
    )
    namespace[_ORIGINAL_PREFIX + "handler"] = _handler_without_info
    source = (
        "def adjusted(value, handler, info):\n"
        f"    return {key}(value, {_ORIGINAL_PREFIX}handler(handler), info)\n"
    )
    compiled: dict[str, Any] = {}
    exec(compile(source, f"<napari-nsn2n {function.__name__}>", "exec"), {}, compiled)
    function.__code__ = compiled["adjusted"].__code__


def adjust_bioimageio_spec() -> bool:
    """Apply the adjustment where it is needed; True if it was applied (now or before)."""
    import bioimageio.spec

    if not bioimageio.spec.__version__.startswith(PATCHED_SPEC_SERIES):
        return False
    if not pydantic_refuses_info_argument():
        return False
    from bioimageio.spec._internal import io_packaging, validated_string_with_inner_node
    from bioimageio.spec.model import v0_4

    for function in (
        io_packaging.package_file_descr_serializer,
        v0_4.package_weights,
        validated_string_with_inner_node.ValidatedStringWithInnerNode._serialize,
    ):
        _call_handler_without_info(function)
    return True
