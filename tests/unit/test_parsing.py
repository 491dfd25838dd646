from __future__ import annotations

import contextlib
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from functions.platform.errors import InvalidArgument, PayloadTooLarge
from functions.serving.parsing import (
    JsonInstances,
    decode_batch_path,
    decode_csv,
    decode_json,
    decode_stream_path,
    parse_version,
)

LIMIT = 100_000
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
feature_names = st.lists(
    st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True), min_size=1, max_size=5, unique=True
)


@st.composite
def matrices(draw):
    features = tuple(draw(feature_names))
    rows = draw(st.integers(min_value=1, max_value=30))
    values = draw(
        st.lists(
            st.lists(finite, min_size=len(features), max_size=len(features)),
            min_size=rows,
            max_size=rows,
        )
    )
    return features, values


def json_body(instances) -> bytes:
    return json.dumps({"instances": instances}).encode()


@settings(max_examples=150, deadline=None)
@given(matrices())
def test_lists_objects_and_csv_give_the_same_matrix(case):
    features, values = case
    expected = np.array(values, dtype=np.float64)
    as_lists = decode_json(json_body(values), LIMIT).matrix(features)
    objects = [dict(zip(features, row, strict=True)) for row in values]
    as_objects = decode_json(json_body(objects), LIMIT).matrix(features)
    csv_rows = "\n".join(",".join(repr(v) for v in row) for row in values)
    as_csv = decode_csv(f"{','.join(features)}\n{csv_rows}\n".encode(), LIMIT).matrix(features)
    as_headerless_csv = decode_csv(csv_rows.encode(), LIMIT).matrix(features)
    for matrix in (as_lists, as_objects, as_csv, as_headerless_csv):
        assert matrix.shape == (len(values), len(features))
        assert np.array_equal(matrix, expected)


@settings(max_examples=150, deadline=None)
@given(
    matrices(),
    st.data(),
    st.sampled_from([True, False, None, "0.5", [1.0], {"a": 1}]),
)
def test_a_bad_cell_is_named_by_its_index(case, data, bad_value):
    features, values = case
    row = data.draw(st.integers(min_value=0, max_value=len(values) - 1))
    column = data.draw(st.integers(min_value=0, max_value=len(features) - 1))
    values[row][column] = bad_value
    with pytest.raises(InvalidArgument, match=rf"^instances\[{row}\]\[{column}\]: "):
        decode_json(json_body(values), LIMIT).matrix(features)


@settings(max_examples=100, deadline=None)
@given(matrices(), st.data())
def test_a_row_of_the_wrong_width_is_named(case, data):
    features, values = case
    row = data.draw(st.integers(min_value=0, max_value=len(values) - 1))
    values[row] = [*values[row], 1.0]
    with pytest.raises(InvalidArgument, match=rf"^instances\[{row}\]: expected {len(features)}"):
        decode_json(json_body(values), LIMIT).matrix(features)


@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_escape_as_another_error(body):
    with contextlib.suppress(InvalidArgument):
        decode_json(body, LIMIT).matrix(("bmi",))
    with contextlib.suppress(InvalidArgument):
        decode_csv(body, LIMIT).matrix(("bmi", "bp"))


@given(st.text(max_size=40))
def test_arbitrary_paths_never_escape_as_another_error(segment):
    for decode in (lambda: decode_batch_path(segment, LIMIT), lambda: decode_stream_path(segment)):
        with contextlib.suppress(InvalidArgument):
            decode().matrix(("bmi",))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{", "malformed JSON"),
        (b"[]", 'JSON object with an "instances" list'),
        (b'{"instances": 5}', "instances must be a list"),
        (b'{"instances": []}', "instances is empty"),
        (b'{"instances": [[0.5]], "extra": 1}', "unknown fields"),
        (b'{"instances": [[NaN]]}', "malformed JSON"),
        (b'{"instances": [[1e999]]}', "malformed JSON"),
        (b'{"instances": [[true]]}', r"instances\[0\]\[0\]: a boolean is not a number"),
        (b'{"instances": [[null]]}', r"instances\[0\]\[0\]: not a number, got null"),
        (b'{"instances": ["0.5"]}', r"instances\[0\]: expected a list"),
        (b'{"instances": [[0.5], {"bmi": 1}]}', "one kind of instance"),
        (b'{"instances": [{"bmi": 1, "age": 2}]}', r"instances\[0\]: unknown features \['age'\]"),
        (
            b'{"instances": [{"age": 2}]}',
            r"instances\[0\]: missing features \['bmi'\], expected \['bmi'\]",
        ),
        (b'{"instances": [{"bmi": false}]}', r"instances\[0\]\.bmi: a boolean"),
    ],
)
def test_json_errors_say_what_is_wrong(body, message):
    with pytest.raises(InvalidArgument, match=message):
        decode_json(body, LIMIT).matrix(("bmi",))


def test_bare_numbers_are_instances_of_a_one_feature_model():
    matrix = decode_json(b'{"instances": [0.5, 2]}', LIMIT).matrix(("bmi",))
    assert matrix.tolist() == [[0.5], [2.0]]
    with pytest.raises(InvalidArgument, match="expected a list of 2 numbers"):
        decode_json(b'{"instances": [0.5]}', LIMIT).matrix(("bmi", "bp"))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "holds no rows"),
        (b"bmi\n", "header but no rows"),
        (b"bmi,bp\n1,2\n", "must name the features"),
        (b"0.5\nabc\n", r"instances\[1\]\[0\]: not a number: 'abc'"),
        (b"0.5\nnan\n", r"instances\[1\]\[0\]: not a finite number"),
        (b"1_000\n", r"instances\[0\]\[0\]: not a number"),
        (b"0.5,1\n", r"instances\[0\]: expected 1 values"),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_csv_errors_say_what_is_wrong(body, message):
    with pytest.raises(InvalidArgument, match=message):
        decode_csv(body, LIMIT).matrix(("bmi",))


def test_csv_header_may_order_the_columns():
    matrix = decode_csv(b"bp,bmi\n1,2\n3,4\n", LIMIT).matrix(("bmi", "bp"))
    assert matrix.tolist() == [[2.0, 1.0], [4.0, 3.0]]


def test_limits_are_checked_before_the_instances():
    with pytest.raises(PayloadTooLarge, match="limit is 2"):
        decode_json(b'{"instances": [["x"], ["y"], ["z"]]}', 2)
    with pytest.raises(PayloadTooLarge, match="limit is 2"):
        decode_csv(b"1\n2\n3\n", 2)


def test_legacy_urls_are_parsed_strictly():
    assert decode_batch_path("[0.5,0.2,0.6]", LIMIT).matrix(("bmi",)).tolist() == [
        [0.5],
        [0.2],
        [0.6],
    ]
    assert decode_batch_path("%5B0.5%5D", LIMIT).matrix(("bmi",)).tolist() == [[0.5]]
    assert decode_stream_path("0.5").matrix(("bmi",)).tolist() == [[0.5]]
    assert decode_stream_path("[0.5,1]").matrix(("bmi", "bp")).tolist() == [[0.5, 1.0]]
    for hostile in ("__import__('os').system('true')", "[0.5]+[1]", "0x10", "1;2"):
        with pytest.raises(InvalidArgument):
            decode_batch_path(hostile, LIMIT).matrix(("bmi",))


@pytest.mark.parametrize("raw", ["0", "-1", "1.5", "x", "", "١", "9" * 5000], ids=repr)
def test_version_must_be_a_whole_number_from_one(raw):
    with pytest.raises(InvalidArgument, match="whole number"):
        parse_version(raw)


def test_version_parses():
    assert parse_version("12") == 12


json_values = st.recursive(
    st.none() | st.booleans() | finite | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=3),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=2)
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(json_values, min_size=1, max_size=5), st.sampled_from([("bmi",), ("bmi", "bp")]))
def test_the_numbers_only_shortcut_never_changes_an_answer(instances, features):
    body = json.dumps({"instances": instances}).encode()
    decoded = decode_json(body, LIMIT)
    checked = JsonInstances(decoded.instances, numbers_only=False)

    def outcome(parsed: JsonInstances):
        try:
            return parsed.matrix(features).tolist()
        except InvalidArgument as error:
            return str(error)

    assert outcome(decoded) == outcome(checked)


def test_plain_numeric_bodies_take_the_shortcut():
    assert decode_json(b'{"instances": [[0.5], [1e-3]]}', LIMIT).numbers_only
    assert not decode_json(b'{"instances": [[true]]}', LIMIT).numbers_only
    assert not decode_json(b'{"instances": [{"bmi": 1}]}', LIMIT).numbers_only
