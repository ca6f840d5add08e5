"""The DynamoDB JSON converters: every type, exact numbers, lossless round trips."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer
from hypothesis import given, settings
from hypothesis import strategies as st

from todo_etl.cdc.dynamodb_json import (
    ConversionError,
    dumps,
    dumps_string_keyed,
    image_to_canonical,
    image_to_client,
    image_to_plain,
    loads,
    to_canonical,
    to_plain,
)

BIG = "123456789012345678901234567890"


def plain_text(value: dict[str, Any]) -> str:
    return dumps(to_plain(value))


@pytest.mark.parametrize(
    ("attribute", "expected_json"),
    [
        ({"S": 'héllo "q"'}, '"héllo \\"q\\""'),
        ({"N": BIG}, BIG),
        ({"N": "-" + BIG}, "-" + BIG),
        ({"N": "0.1"}, "0.1"),
        ({"N": "1E-130"}, "1E-130"),
        (
            {"N": "9.9999999999999999999999999999999999999E+125"},
            "9.9999999999999999999999999999999999999E+125",
        ),
        ({"N": "1.50"}, "1.50"),
        ({"B": b"\x00\xffbin"}, json.dumps(base64.b64encode(b"\x00\xffbin").decode())),
        ({"B": base64.b64encode(b"\x01\x02").decode()}, json.dumps(base64.b64encode(b"\x01\x02").decode())),
        ({"SS": ["b", "a", "c"]}, '["a","b","c"]'),
        ({"NS": ["10", "9", BIG, "0.1"]}, f"[0.1,9,10,{BIG}]"),
        (
            {"BS": [b"\x02", b"\x01"]},
            json.dumps([base64.b64encode(b"\x01").decode(), base64.b64encode(b"\x02").decode()]).replace(
                " ", ""
            ),
        ),
        ({"BOOL": True}, "true"),
        ({"BOOL": False}, "false"),
        ({"NULL": True}, "null"),
        ({"L": [{"S": "x"}, {"N": "1"}, {"NULL": True}]}, '["x",1,null]'),
        ({"M": {"a": {"M": {"b": {"L": [{"N": "1E-130"}]}}}}}, '{"a":{"b":[1E-130]}}'),
    ],
)
def test_every_type_becomes_plain_json_exactly(attribute: dict[str, Any], expected_json: str) -> None:
    assert plain_text(attribute) == expected_json


def test_numbers_are_never_rounded_through_a_float() -> None:
    image = {"big": {"N": BIG}, "tenth": {"N": "0.1"}, "tiny": {"N": "1E-130"}}
    text = dumps(image_to_plain(image))
    parsed = loads(text)
    assert parsed["big"] == int(BIG)
    assert parsed["tenth"] == Decimal("0.1")
    assert parsed["tiny"] == Decimal("1E-130")
    assert "0.1000000000000000055" not in text


@pytest.mark.parametrize(
    ("attribute", "where"),
    [
        ({"X": "1"}, "unknown type descriptor"),
        ({"S": "a", "N": "1"}, "exactly one type descriptor"),
        ({"N": "abc"}, "not a DynamoDB number"),
        ({"N": "NaN"}, "not a DynamoDB number"),
        ({"N": "1_000"}, "not a DynamoDB number"),
        ({"N": 5}, "not a DynamoDB number"),
        ({"B": "not base64!"}, "base64"),
        ({"BOOL": "true"}, "BOOL"),
        ({"NULL": False}, "NULL"),
        ({"SS": "a"}, "expected a list"),
        ({"M": [1]}, "expected a map"),
        ({"M": {"inner": {"L": [{"N": "x"}]}}}, "inner[0]"),
    ],
)
def test_invalid_values_raise_with_the_path(attribute: dict[str, Any], where: str) -> None:
    with pytest.raises(ConversionError, match=where.replace("[", r"\[").replace("]", r"\]")):
        to_plain(attribute)
    with pytest.raises(ConversionError):
        image_to_canonical({"a": attribute})


def test_canonical_form_keeps_numbers_as_written_and_binary_as_base64() -> None:
    image: dict[str, Any] = {
        "n": {"N": "1.50"},
        "b": {"B": b"\x00"},
        "bs": {"BS": [b"\x01"]},
        "ns": {"NS": ["2", "1"]},
    }
    assert image_to_canonical(image) == {
        "n": {"N": "1.50"},
        "b": {"B": "AA=="},
        "bs": {"BS": ["AQ=="]},
        "ns": {"NS": ["2", "1"]},
    }
    assert image_to_client(image_to_canonical(image))["b"] == {"B": b"\x00"}


def test_dumps_refuses_what_json_cannot_hold() -> None:
    with pytest.raises(ValueError, match="no literal"):
        dumps(Decimal("NaN"))
    with pytest.raises(ValueError, match="Out of range float"):
        dumps(float("inf"))
    with pytest.raises(TypeError):
        dumps({1: "x"})
    with pytest.raises(TypeError):
        dumps({"x": object()})


# -- property-based round trips ---------------------------------------------------------------

numbers = st.one_of(
    st.integers(min_value=-(10**38) + 1, max_value=10**38 - 1).map(str),
    st.decimals(allow_nan=False, allow_infinity=False, places=None)
    .filter(lambda d: len(d.as_tuple().digits) <= 38 and -130 <= d.adjusted() <= 125)
    .map(str),
)
strings = st.text(max_size=12)
binaries = st.binary(max_size=12)
scalars = st.one_of(
    strings.map(lambda s: {"S": s}),
    numbers.map(lambda n: {"N": n}),
    binaries.map(lambda b: {"B": b}),
    st.booleans().map(lambda b: {"BOOL": b}),
    st.just({"NULL": True}),
    st.sets(strings, min_size=1, max_size=4).map(lambda s: {"SS": list(s)}),
    st.sets(numbers, min_size=1, max_size=4).map(lambda s: {"NS": list(s)}),
    st.sets(binaries, min_size=1, max_size=4).map(lambda s: {"BS": list(s)}),
)
attribute_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(lambda items: {"L": items}),
        st.dictionaries(strings, inner, max_size=4).map(lambda m: {"M": m}),
    ),
    max_leaves=20,
)
images = st.dictionaries(st.text(min_size=1, max_size=8), attribute_values, max_size=6)

_deserializer = TypeDeserializer()


def _expected_plain(value: dict[str, Any]) -> Any:
    """The plain value written independently of the code under test, from boto3's typed value."""
    typed = _deserializer.deserialize(_as_boto3(value))
    return _plain_of_typed(typed)


def _as_boto3(value: dict[str, Any]) -> dict[str, Any]:
    ((kind, inner),) = value.items()
    if kind == "M":
        return {"M": {k: _as_boto3(v) for k, v in inner.items()}}
    if kind == "L":
        return {"L": [_as_boto3(v) for v in inner]}
    return value


def _plain_of_typed(typed: Any) -> Any:
    if isinstance(typed, dict):
        return {k: _plain_of_typed(v) for k, v in typed.items()}
    if isinstance(typed, list):
        return [_plain_of_typed(v) for v in typed]
    if isinstance(typed, set):
        # Binary sets sort by their bytes (then become base64); other sets by value.
        return [_plain_of_typed(v) for v in sorted(typed, key=lambda v: getattr(v, "value", v))]
    if hasattr(typed, "value") and isinstance(typed.value, bytes):  # boto3 Binary
        return base64.b64encode(typed.value).decode()
    return typed


@settings(max_examples=150, deadline=None)
@given(attribute_values)
def test_plain_json_keeps_every_number_exact(value: dict[str, Any]) -> None:
    parsed = loads(dumps(to_plain(value)))
    expected = _expected_plain(value)
    assert parsed == expected
    # Equality of Decimals ignores trailing zeros; the digits must survive too.
    assert _number_texts(parsed) == _number_texts(expected)


def _number_texts(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [t for v in value.values() for t in _number_texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in _number_texts(v)]
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return [str(Decimal(value).normalize())]
    return []


@settings(max_examples=150, deadline=None)
@given(images)
def test_ddb_json_round_trip_is_identical(image: dict[str, Any]) -> None:
    """typed (as boto3 returns it) → canonical DynamoDB JSON text → parsed → client form: identical."""
    text = dumps(image_to_canonical(image))
    back = image_to_client(json.loads(text))
    assert back == image
    assert {k: _deserializer.deserialize(_as_boto3(v)) for k, v in back.items()} == {
        k: _deserializer.deserialize(_as_boto3(v)) for k, v in image.items()
    }


@settings(max_examples=150, deadline=None)
@given(images)
def test_the_c_encoder_path_writes_the_same_text_as_dumps(image: dict[str, Any]) -> None:
    for value in (image_to_plain(image), image_to_canonical(image)):
        assert dumps_string_keyed(value) == dumps(value)


def test_the_c_encoder_path_is_exact_even_when_the_data_holds_its_marker() -> None:
    marker = "\ue000"
    value = {"a": marker, marker: [Decimal("1.50"), marker, Decimal(BIG)], "n": Decimal("1E-130")}
    assert dumps_string_keyed(value) == dumps(value)
    assert dumps_string_keyed({"s": marker}) == dumps({"s": marker})
    assert dumps_string_keyed({"x": [Decimal("-0"), True, None, 3]}) == '{"x":[-0,true,null,3]}'
    with pytest.raises(ValueError, match="no literal"):
        dumps_string_keyed({"x": Decimal("NaN")})
    with pytest.raises(TypeError):
        dumps_string_keyed({"x": object()})


@settings(max_examples=150, deadline=None)
@given(images)
def test_whole_images_convert_as_their_attributes_do(image: dict[str, Any]) -> None:
    """The in-line string and number path of the image conversions is the general conversion."""
    plain = image_to_plain(image)
    assert plain == {k: to_plain(v, k) for k, v in image.items()}
    assert _number_texts(plain) == _number_texts({k: to_plain(v, k) for k, v in image.items()})
    assert [str(v) for v in plain.values()] == [str(to_plain(v, k)) for k, v in image.items()]
    assert image_to_canonical(image) == {k: to_canonical(v, k) for k, v in image.items()}


@pytest.mark.parametrize(
    ("image", "where"),
    [
        ({"a": {"S": "x"}, "b": {"N": "1_000"}}, "Top.b"),
        ({"a": {"N": "NaN"}}, "Top.a"),
        ({"a": {"S": 1}}, "Top.a"),
        ({"a": {"S": "x", "N": "1"}}, "Top.a"),
        ({1: {"S": "x"}}, "Top"),
    ],
)
def test_invalid_images_raise_at_the_first_bad_attribute(image: dict[Any, Any], where: str) -> None:
    for convert in (image_to_plain, image_to_canonical):
        with pytest.raises(ConversionError) as raised:
            convert(image, "Top")
        assert raised.value.path == where
