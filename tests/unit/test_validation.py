"""Data validation: one test per rule, each checking the reason a person reads."""

from __future__ import annotations

import codecs

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model.dataset import Dataset, load_diabetes, seeded_split, to_csv
from model.training import train
from model.validation import (
    InvalidData,
    Rules,
    Schema,
    ValidationReport,
    validate,
    validate_csv,
)

BMI = Schema(features=("bmi",), source="production version 3")


def csv_bytes(rows: int = 40, header: str = "bmi,target", row=None) -> bytes:
    """A valid upload: a header and `rows` rows (row(i) gives each line's text)."""
    row = row or (lambda i: f"{i / 100},{2 * i + (i % 3)}")
    return ("\n".join([header, *(row(i) for i in range(rows))]) + "\n").encode()


def reasons(data: bytes, schema: Schema | None = None, rules: Rules | None = None) -> list[str]:
    with pytest.raises(InvalidData) as caught:
        validate_csv(data, schema, rules)
    assert str(caught.value) == "; ".join(caught.value.report.errors)
    return caught.value.report.errors


def test_a_valid_upload_becomes_a_dataset_with_its_facts():
    dataset, report = validate_csv(csv_bytes(), BMI)
    assert dataset.features == ("bmi",)
    assert dataset.rows == 40
    assert dataset.y[:3].tolist() == [0.0, 3.0, 6.0]
    assert report.ok
    assert report.warnings == []
    assert report.as_dict() == {
        "ok": True,
        "errors": [],
        "warnings": [],
        "bytes": len(csv_bytes()),
        "rows": 40,
        "features": ["bmi"],
        "duplicate_rows": 0,
    }


def test_the_bundled_data_round_trips_with_its_fingerprint():
    original = load_diabetes(("bmi", "bp"))
    dataset, _ = validate_csv(to_csv(original).encode())
    assert dataset.features == ("bmi", "bp")
    assert dataset.fingerprint() == original.fingerprint()


def test_a_new_model_takes_every_column_but_target_as_a_feature():
    dataset, _ = validate_csv(csv_bytes(header="a,target"))
    assert dataset.features == ("a",)


def test_no_target_column():
    assert reasons(csv_bytes(header="bmi,y"), BMI) == [
        "line 1: the header has no column 'target' (the target): expected the columns "
        "'bmi', 'target', found 'bmi', 'y'"
    ]


def test_a_missing_feature_names_the_production_version():
    assert reasons(csv_bytes(header="bp,target"), BMI) == [
        "line 1: the header has no column 'bmi' (a feature of production version 3): "
        "expected the columns 'bmi', 'target', found 'bp', 'target'"
    ]


def test_extra_columns_are_named_and_ignored():
    data = csv_bytes(header="id,bmi,target", row=lambda i: f"x{i},{i / 100},{3 * i}")
    dataset, report = validate_csv(data, BMI)
    assert dataset.features == ("bmi",)
    assert report.warnings == [
        "line 1: column 'id' is not a feature of production version 3 and is ignored"
    ]


def test_repeated_and_empty_column_names():
    assert reasons(csv_bytes(header="bmi,bmi,target")) == [
        "line 1: the header repeats column 'bmi'"
    ]
    assert reasons(b"bmi,,target\n1,2,3\n") == [
        "line 1, column 2: the header has an empty column name"
    ]


def test_only_a_target_column():
    assert reasons(b"target\n1\n2\n") == [
        "line 1: the header has only 'target': expected at least one feature column"
    ]


def test_text_in_a_number_column_names_line_and_column():
    data = csv_bytes(row=lambda i: f"{i},{'many' if i == 4 else i}")
    assert reasons(data, BMI) == ["line 6, column 'target': 'many' is not a number"]


def test_empty_cells():
    data = csv_bytes(row=lambda i: f"{'' if i in (0, 9) else i},{i}")
    assert reasons(data, BMI) == [
        "line 2, column 'bmi': empty cell, expected a number",
        "line 11, column 'bmi': empty cell, expected a number",
    ]


def test_non_finite_values():
    data = csv_bytes(row=lambda i: f"{'inf' if i == 0 else i},{'nan' if i == 1 else i}")
    assert reasons(data, BMI) == [
        "line 2, column 'bmi': 'inf' is not a finite number",
        "line 3, column 'target': 'nan' is not a finite number",
    ]


def test_a_row_of_the_wrong_width():
    data = csv_bytes(row=lambda i: f"{i},{i},7" if i == 2 else f"{i},{i}")
    assert reasons(data, BMI) == ["line 4: 3 cells, expected 2 as in the header"]


def test_many_bad_cells_are_named_a_few_then_counted():
    data = csv_bytes(row=lambda i: f"x{i},{i}")
    assert reasons(data, BMI, Rules(examples=2)) == [
        "line 2, column 'bmi': 'x0' is not a number",
        "line 3, column 'bmi': 'x1' is not a number",
        "38 more cells that are not numbers like the ones above",
    ]


def test_too_few_rows():
    assert reasons(csv_bytes(rows=3), BMI) == [
        "3 data rows: at least 30 are needed to train and evaluate a model"
    ]
    assert validate_csv(csv_bytes(rows=3), BMI, Rules(min_rows=3))[0].rows == 3


def test_a_constant_target():
    data = csv_bytes(row=lambda i: f"{i},5")
    assert reasons(data, BMI) == [
        "column 'target' is constant (5 in every row): there is nothing to learn; expected "
        "target values that vary"
    ]


def test_duplicate_rows_are_counted_not_refused():
    data = csv_bytes(row=lambda i: f"{i % 30},{i % 30}")
    _, report = validate_csv(data, BMI)
    assert report.facts["duplicate_rows"] == 10
    assert report.warnings == [
        "10 rows repeat an earlier row exactly (first: line 32 repeats line 2); each copy "
        "counts again in training"
    ]


REFERENCE = Schema(("bmi",), {"bmi": {"mean": 0.0, "std": 1.0}}, "production version 3")


def test_values_far_from_the_reference_are_flagged():
    data = csv_bytes(rows=100, row=lambda i: f"{50 if i == 7 else i % 3},{i}")
    _, report = validate_csv(data, REFERENCE)
    assert report.facts["far_rows"] == 1
    assert report.warnings == [
        "column 'bmi': 1 of 100 values lie more than 6 standard deviations from the training "
        "mean of production version 3 (0 ± 1), e.g. line 9: 50"
    ]


def test_too_many_far_values_refuse_the_data():
    data = csv_bytes(rows=100, row=lambda i: f"{100 + i if i % 10 == 0 else i % 3},{i}")
    assert reasons(data, REFERENCE) == [
        "10 of 100 rows (10.0%) hold values far outside the training data of production "
        "version 3, more than the 5.0% allowed: check the units and scale of 'bmi'"
    ]
    _, report = validate_csv(data, REFERENCE, Rules(outlier_reject_share=0.1))
    assert report.facts["far_rows"] == 10


def test_an_empty_file():
    expected = (
        "the file is empty: expected a UTF-8 CSV file: a header naming the features and "
        "'target', then one row per example"
    )
    assert reasons(b"") == [expected]
    assert reasons(b"\n\n  \n") == [expected]


def test_a_binary_file():
    assert reasons(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR") == [
        "the file is binary (a zero byte at offset 8): expected a UTF-8 CSV file: a header "
        "naming the features and 'target', then one row per example"
    ]


def test_another_encoding():
    assert reasons(b"bmi,target\n0.5,caf\xe9\n") == [
        "line 2: byte 0xe9 at offset 18 is not UTF-8 text: save the file as a UTF-8 CSV file: "
        "a header naming the features and 'target', then one row per example"
    ]
    assert reasons(codecs.BOM_UTF16_LE + "bmi,target\n".encode("utf-16-le"))[0].startswith(
        "the file is UTF-16 text: save it as a UTF-8 CSV file"
    )


def test_a_utf8_bom_is_accepted():
    dataset, _ = validate_csv(codecs.BOM_UTF8 + csv_bytes(), BMI)
    assert dataset.features == ("bmi",)


def test_a_file_over_the_size_limit():
    assert reasons(csv_bytes(), BMI, Rules(max_bytes=100)) == [
        f"the file is {len(csv_bytes()):,} bytes, over the limit of 100 bytes: split it into "
        "smaller uploads"
    ]


def test_broken_csv_quoting():
    assert reasons(b'bmi,target\n1,"2\n') == [
        "line 2: not valid CSV (unexpected end of data): expected a UTF-8 CSV file: a header "
        "naming the features and 'target', then one row per example"
    ]


def test_bundled_data_is_checked_by_the_same_rules():
    X = np.array([[1.0], [np.nan], [3.0]])
    report = validate(
        Dataset(("bmi",), X, np.array([5.0, 5.0, 5.0])),
        Schema(features=("bp",)),
        Rules(min_rows=10),
    )
    assert report.errors == [
        "columns ['bmi'] do not match the features ['bp'] of the production version",
        "3 data rows: at least 10 are needed to train and evaluate a model",
        "column 'bmi': 1 missing or non-finite values",
        "column 'target' is constant (5 in every row): there is nothing to learn; expected "
        "target values that vary",
    ]


def test_training_refuses_invalid_data():
    with pytest.raises(InvalidData, match="at least 30"):
        train(Dataset(("bmi",), np.arange(10.0).reshape(-1, 1), np.arange(10.0)), "m")


def test_the_seeded_split_is_repeatable_and_disjoint():
    dataset = load_diabetes()
    first, again = seeded_split(dataset, 0.2, seed=7), seeded_split(dataset, 0.2, seed=7)
    assert first.holdout.rows == round(dataset.rows * 0.2)
    assert np.array_equal(first.holdout.X, again.holdout.X)
    assert first.train.rows + first.holdout.rows == dataset.rows
    assert not np.array_equal(seeded_split(dataset, 0.2, seed=8).holdout.X, first.holdout.X)


def outcome(data: bytes, schema: Schema | None) -> tuple[Dataset | None, ValidationReport]:
    """The dataset and report, or no dataset and the report of the InvalidData raised; any
    other exception fails the test."""
    try:
        return validate_csv(data, schema, Rules(min_rows=1))
    except InvalidData as error:
        return None, error.report


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=400))
def test_no_byte_string_raises_anything_but_invalid_data(data):
    for schema in (None, BMI, REFERENCE):
        dataset, report = outcome(data, schema)
        assert report.ok == (dataset is not None)
        assert report.ok or report.errors


csv_like = st.lists(
    st.lists(
        st.one_of(
            st.text(alphabet="0123456789.-+eE naif,\"'\r\n\t", max_size=8),
            st.floats(allow_nan=True).map(repr),
        ),
        min_size=1,
        max_size=4,
    ),
    max_size=8,
).map(lambda rows: "\n".join(",".join(row) for row in rows))


@settings(max_examples=300, deadline=None)
@given(header=st.sampled_from(["bmi,target", "target,bmi", "a,b,target", "target"]), body=csv_like)
def test_no_csv_like_text_raises_anything_but_invalid_data(header, body):
    data = f"{header}\n{body}".encode()
    for schema in (None, BMI, REFERENCE):
        dataset, report = outcome(data, schema)
        if dataset is None:
            assert report.errors
        else:
            assert report.ok
            assert np.all(np.isfinite(dataset.X))
            assert np.all(np.isfinite(dataset.y))
