"""A scoring job's rows read from its files: ids, projections, and the faults named."""

from __future__ import annotations

from scoring.pipeline import RegistryModelHandler
from scoring.rows import Row, read_rows

FEATURES = ("bmi", "bp")


def rows(name: str, text: str, id_column: str = "") -> list[Row]:
    return list(read_rows(name, text.splitlines(), FEATURES, id_column))


def test_csv_columns_are_found_by_name_and_ids_count_every_line():
    read = rows("in/a.csv", "\nkey,bp,other,bmi\nk1,0.2,x,0.1\n\n,0.4,y,0.3\n", "key")
    assert read == [Row("k1", csv_line="0.1,0.2"), Row("in/a.csv:5", csv_line="0.3,0.4")]


def test_a_header_without_a_feature_sends_each_row_to_the_dead_letters():
    read = rows("a.csv", "bmi,other\n0.1,x\n0.2,y\n")
    assert [row.id for row in read] == ["a.csv:2", "a.csv:3"]
    assert {row.error for row in read} == {
        "the CSV header ['bmi', 'other'] lacks the features ['bp']"
    }


def test_json_lines_keep_only_the_features_and_take_numbers_as_ids():
    text = '{"id": 7, "bmi": 0.1, "bp": 0.2, "label": 3}\n[0.3, 0.4]\n{"bmi": 1}\n"x"\n{oops\n'
    read = rows("b.jsonl", text, "id")
    assert read[:4] == [
        Row("7", json_instance={"bmi": 0.1, "bp": 0.2}),
        Row("b.jsonl:2", json_instance=[0.3, 0.4]),
        Row("b.jsonl:3", json_instance={"bmi": 1}),
        Row("b.jsonl:4", json_instance="x"),
    ]
    assert read[4].error is not None
    assert read[4].error.startswith("malformed JSON")


def test_a_batch_the_model_fails_on_is_dead_lettered_row_by_row():
    class Broken:
        features = FEATURES

        def predict(self, matrix):
            raise MemoryError("no room")

    handler = RegistryModelHandler("bucket", "m", 1, "project")
    batch = [Row("a", csv_line="0.1,0.2"), Row("b", csv_line="0.3,0.4")]
    (block,) = handler.run_inference(batch, Broken())
    assert [(row.id, row.prediction) for row in block] == [("a", None), ("b", None)]
    assert {row.error for row in block} == {
        "the model could not score this row's batch: MemoryError('no room')"
    }
