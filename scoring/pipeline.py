"""The batch scoring job on Apache Beam: files in, every row predicted by one registry
version, JSON-lines shards of predictions and dead letters out (docs/scoring.md).

    python -m scoring.pipeline --input=gs://b/in/*.csv --output=gs://b/out/run1 \
        --registry_bucket=B --model=diabetes-bmi --version=3 [--id_column=id] [Beam options]

`mlctl score` runs it in-process on Beam's FnApiRunner, and as a Dataflow Flex Template in
the cloud, where this module is the template's entry point.
"""

from __future__ import annotations

import io
import logging
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import Any

import apache_beam as beam
import orjson
from apache_beam.internal.gcp import auth
from apache_beam.io import fileio
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import ModelHandler, RunInference
from apache_beam.options.pipeline_options import (
    GoogleCloudOptions,
    PipelineOptions,
    StandardOptions,
)
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

from functions.platform.config import Settings
from model.artifact import ModelArtifact
from model.gcs import storage_client
from model.registry import Registry
from scoring.options import OPTIONAL, PARAMETERS, ScoringOptions
from scoring.results import ResultStore
from scoring.rows import Row, Scored, read_rows, score

NAMESPACE = "scoring"
PREDICTIONS = "predictions"
DEAD_LETTERS = "dead-letter"
SHARD_SUFFIX = ".jsonl"
# Rows travel in blocks of one file's consecutive rows: Beam's cost is per element, several
# µs each, so a block pays it once for all its rows, and the model sees a batch. Seconds for
# 1,000,000 rows on the local runner, by rows a block: 20: 4.9; 100 and 250: 3.7; 500: 4.1;
# 1,000: 4.7; 2,000: 5.1-6.1; 10,000: 8.3 (docs/scoring.md).
ROWS_PER_BLOCK = 250


class ScoringError(ValueError):
    """The job cannot start: the message names what is wrong."""


class RegistryModelHandler(ModelHandler[Row, list[Scored], ModelArtifact]):  # type: ignore[misc]
    """One registry version, loaded once per worker process with the functions' own
    loader (hashes checked, no pickle), and shared by its threads. Applied with
    `with_no_batching()`: each element is already a block of rows, and its output is the
    block scored."""

    def __init__(self, bucket: str, model: str, version: int, project: str) -> None:
        super().__init__()
        self._bucket, self._model, self._version, self._project = bucket, model, version, project

    def load_model(self) -> ModelArtifact:
        registry = Registry(storage_client(self._project), self._bucket)
        return registry.load(self._model, self._version)

    def run_inference(
        self,
        batch: Sequence[Row],
        model: ModelArtifact,
        inference_args: dict[str, Any] | None = None,
    ) -> Iterable[list[Scored]]:
        try:
            return [score(model, batch)]
        except Exception as error:  # the model failed, not a row (those are scored as errors)
            # Each row a dead letter, none lost. Here rather than RunInference's own dead-letter
            # output, whose Flatten with the results would hold every result of the job in
            # memory until the job's end on the local runner (make bench).
            reason = f"the model could not score this row's batch: {error!r}"
            return [[Scored(row.id, error=reason) for row in batch]]

    def get_num_bytes(self, batch: Sequence[Row]) -> int:
        # The default pickles the batch to measure it: a cost per batch for a metric.
        return sum(len(row.csv_line or "") for row in batch)

    def get_metrics_namespace(self) -> str:
        return NAMESPACE

    def share_model_across_processes(self) -> bool:
        return False


class ReadRows(beam.DoFn):  # type: ignore[misc]
    """A matched file's rows in blocks, streamed: the file is never held whole."""

    def __init__(self, features: Sequence[str], id_column: str) -> None:
        self._features, self._id_column = tuple(features), id_column
        self._rows = Metrics.counter(NAMESPACE, "rows")

    def process(self, readable: fileio.ReadableFile) -> Iterator[list[Row]]:
        path = readable.metadata.path
        with readable.open() as binary:
            text = io.TextIOWrapper(binary, encoding="utf-8-sig", errors="replace", newline="")
            lines = (line.rstrip("\r\n") for line in text)
            rows = read_rows(object_name(path), lines, self._features, self._id_column)
            while block := list(islice(rows, ROWS_PER_BLOCK)):
                self._rows.inc(len(block))
                yield block


class Route(beam.DoFn):  # type: ignore[misc]
    """A scored block as JSON lines: one element of its predictions, one of its dead letters
    (WriteToText ends each element with a newline)."""

    def __init__(self, model: str, version: int) -> None:
        self._model, self._version = model, version
        self._predicted = Metrics.counter(NAMESPACE, "predicted")
        self._dead = Metrics.counter(NAMESPACE, "dead_letters")

    def process(self, block: list[Scored]) -> Iterator[Any]:
        predictions = [
            orjson.dumps(
                {
                    "id": row.id,
                    "prediction": row.prediction,
                    "model": self._model,
                    "version": self._version,
                }
            )
            for row in block
            if row.error is None
        ]
        dead = [orjson.dumps({"id": row.id, "error": row.error}) for row in block if row.error]
        self._predicted.inc(len(predictions))
        self._dead.inc(len(dead))
        if predictions:
            yield b"\n".join(predictions).decode()
        if dead:
            yield beam.pvalue.TaggedOutput(DEAD_LETTERS, b"\n".join(dead).decode())


def object_name(path: str) -> str:
    """A row's file as its ids name it: the object's name in its bucket, or the local path."""
    if path.startswith("gs://"):
        return path.removeprefix("gs://").partition("/")[2]
    return path


def build(
    pipeline: beam.Pipeline,
    options: ScoringOptions,
    features: Sequence[str],
    project: str,
    output: str,
    spread: bool = False,
) -> None:
    """The job's graph on `pipeline`, writing its shards under `output`. `spread`: hand the
    blocks of each file to any worker (on Dataflow; the local runner would hold them all)."""
    version = int(options.version)
    handler = RegistryModelHandler(options.registry_bucket, options.model, version, project)
    rows = (
        pipeline
        | "Match" >> fileio.MatchFiles(options.input)
        | "Open" >> fileio.ReadMatches()
        | "Read" >> beam.ParDo(ReadRows(features, options.id_column))
    )
    if spread:
        rows = rows | "Spread" >> beam.Reshuffle()
    lines = (
        rows
        | "Predict" >> RunInference(handler.with_no_batching())
        | "Route"
        >> beam.ParDo(Route(options.model, version)).with_outputs(DEAD_LETTERS, main=PREDICTIONS)
    )
    for kind in (PREDICTIONS, DEAD_LETTERS):
        _ = lines[kind] | f"Write {kind}" >> beam.io.WriteToText(
            f"{output.rstrip('/')}/{kind}", file_name_suffix=SHARD_SUFFIX
        )


def check(options: ScoringOptions) -> None:
    missing = [
        f"--{name}" for name in PARAMETERS if name not in OPTIONAL and not getattr(options, name)
    ]
    if missing:
        raise ScoringError(f"missing {', '.join(missing)}")
    if options.overwrite not in ("", "true", "false"):
        raise ScoringError(f"--overwrite: true or false, got {options.overwrite!r}")
    if not str(options.version).isdigit() or int(options.version) < 1:
        raise ScoringError(f"--version: a whole number from 1, got {options.version!r}")


def run_local(
    parameters: dict[str, str], features: Sequence[str], project: str, directory: str
) -> dict[str, int]:
    """The job on Beam's in-process FnApiRunner (the default DirectRunner would fetch a Prism
    binary), its shards into `directory`; its counts."""
    if os.environ.get("STORAGE_EMULATOR_HOST"):
        # Beam's GCS layer looks for credentials before it will read, retrying for 22 s when
        # there are none, and ignores --no_auth (2.77). The local storage takes none: tell its
        # cache there are none (then it reads anonymously, from the emulator).
        auth._Credentials._credentials_init = True
    argv = [f"--{name}={value}" for name, value in parameters.items()]
    options = PipelineOptions([*argv, f"--project={project}"])
    pipeline = beam.Pipeline(runner=FnApiRunner(), options=options)
    build(pipeline, options.view_as(ScoringOptions), features, project, directory)
    result = pipeline.run()
    result.wait_until_finish()
    counters = {
        counter.key.metric.name: counter.committed
        for counter in result.metrics().query()["counters"]
        if counter.key.metric.namespace == NAMESPACE
    }
    return {name: int(counters.get(name, 0)) for name in ("rows", "predicted", "dead_letters")}


def run(argv: Sequence[str]) -> None:
    """The Flex Template's entry point: the options as given, on the runner they name."""
    options = PipelineOptions(list(argv), save_main_session=False)
    scoring = options.view_as(ScoringOptions)
    check(scoring)
    project = options.view_as(GoogleCloudOptions).project or Settings.from_env().project_id
    client = storage_client(project)
    model = Registry(client, scoring.registry_bucket).load(scoring.model, int(scoring.version))
    # Shards are named by their count, which varies between runs: results kept under the
    # output would mix with this job's, so they go first, or the job does not start.
    results = ResultStore(client, scoring.output)
    existing = results.existing()
    if existing and scoring.overwrite != "true":
        raise ScoringError(f"{scoring.output} already holds results: pass overwrite=true")
    results.replace(existing, [])
    on_dataflow = options.view_as(StandardOptions).runner in ("DataflowRunner", "dataflow")
    pipeline = beam.Pipeline(options=options)
    build(pipeline, scoring, model.features, project, scoring.output, spread=on_dataflow)
    result = pipeline.run()
    if not on_dataflow:  # a Flex Template's launcher must exit once Dataflow has the job
        result.wait_until_finish()


if __name__ == "__main__":
    logging.getLogger().setLevel(logging.INFO)
    run(sys.argv[1:])
