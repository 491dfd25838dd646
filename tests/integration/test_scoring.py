"""`mlctl score`: the Beam job on its local runner against fake-gcs-server, answering as
`/predict` does, row for row, bad rows included."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pytest

from infra.names import MODEL_NAME as MODEL
from mlctl.cli import main
from model.dataset import load_diabetes
from model.estimator import TrainingSpec
from model.registry import Registry
from model.training import train
from scoring import flex_template, pipeline
from scoring.pipeline import ScoringError
from tests.clients import function_client

pytestmark = pytest.mark.emulators
FEATURES = ("bmi", "bp", "s5")
IN_PROCESS_RUNNER = "apache_beam.runners.portability.fn_api_runner.FnApiRunner"
NOW = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
TEMPLATE = {
    "SCORING_TEMPLATE": "gs://p-scoring/templates/score.json",
    "SCORING_SERVICE_ACCOUNT": "dataflow-scoring@p.iam.gserviceaccount.com",
    "SCORING_TEMP_LOCATION": "gs://p-scoring/temp",
    "SCORING_REGION": "europe-west1",
}
FAMILIES = {
    "linear": TrainingSpec("linear"),
    "hist_gradient_boosting": TrainingSpec(
        "hist_gradient_boosting", {"max_iter": 50, "max_depth": 3}
    ),
}


@pytest.fixture(params=sorted(FAMILIES))
def version(request, registry: Registry) -> int:
    run = train(load_diabetes(FEATURES), MODEL, FAMILIES[request.param])
    registry.register(run.artifact)
    registry.promote(MODEL, 1)
    return 1


def score(capsys, bucket: str, *argv: str) -> tuple[int, dict | None, str]:
    code = main(["--bucket", bucket, "--model", MODEL, "score", *argv])
    out = capsys.readouterr()
    return code, json.loads(out.out) if out.out.strip() else None, out.err


def lines_of(gcs, bucket: str, prefix: str) -> list[dict]:
    return [
        json.loads(line)
        for blob in gcs.list_blobs(bucket, prefix=prefix)
        for line in blob.download_as_text().splitlines()
    ]


def predict(client, body: str, content_type: str = "text/csv") -> tuple[int, dict]:
    response = client.post("/predict", content=body, headers={"Content-Type": content_type})
    return response.status_code, response.json()


def test_scored_files_answer_as_predict_does(capsys, gcs, bucket, version, serving_env):
    rng = np.random.default_rng(26)
    rows = rng.uniform(-0.1, 0.1, size=(300, 3)).round(6).tolist()
    # CSV: the features in another order, an id and a column the model ignores.
    csv_lines = ["id,note,s5,bmi,bp"]
    csv_lines += [f"r{i},x,{s5},{bmi},{bp}" for i, (bmi, bp, s5) in enumerate(rows[:200])]
    csv_lines[3:3] = ["", "bad,x,0.02,abc,0.01", "short,x,0.02,0.01"]
    json_lines = [
        json.dumps(dict(zip(FEATURES, row, strict=True)) | {"id": f"j{i}"})
        for i, row in enumerate(rows[200:])
    ]
    json_lines += ["{not json", json.dumps({"bmi": 0.1, "bp": 0.2})]
    data = gcs.bucket(bucket)
    data.blob("in/a.csv").upload_from_string("\n".join(csv_lines) + "\n")
    data.blob("in/b.jsonl").upload_from_string("\n".join(json_lines) + "\n")

    code, summary, err = score(
        capsys,
        bucket,
        "--input",
        f"gs://{bucket}/in/*",
        "--output",
        f"gs://{bucket}/out/run1",
        "--id-column",
        "id",
    )

    assert code == 0, err
    assert {k: summary[k] for k in ("rows", "predicted", "dead_letters", "model", "version")} == {
        "rows": 304,
        "predicted": 300,
        "dead_letters": 4,
        "model": MODEL,
        "version": version,
    }
    predicted = {p["id"]: p for p in lines_of(gcs, bucket, "out/run1/predictions-")}
    client = function_client("predict_batch")
    header = ",".join(FEATURES)
    body = header + "\n" + "\n".join(",".join(map(str, row)) for row in rows)
    code, answer = predict(client, body)
    assert code == 200
    ids = [f"r{i}" for i in range(200)] + [f"j{i}" for i in range(100)]
    assert [predicted[i]["prediction"] for i in ids] == answer["predictions"]  # exactly
    assert {(p["model"], p["version"]) for p in predicted.values()} == {(MODEL, version)}

    dead = {d["id"]: d["error"] for d in lines_of(gcs, bucket, "out/run1/dead-letter-")}
    assert dead["bad"] == predict(client, f"{header}\nabc,0.01,0.02")[1]["error"]["message"]
    assert dead["short"].startswith("instances[0]: expected 5 values")
    assert dead["in/b.jsonl:101"].startswith("malformed JSON")
    missing = predict(
        client, json.dumps({"instances": [{"bmi": 0.1, "bp": 0.2}]}), "application/json"
    )
    assert dead["in/b.jsonl:102"] == missing[1]["error"]["message"]


def test_results_are_kept_unless_overwritten(capsys, bucket, version, serving_env, tmp_path):
    source = tmp_path / "rows.csv"
    source.write_text("bmi,bp,s5\n0.01,0.02,0.03\n\n0.04,0.05,0.06\n")
    output = tmp_path / "out"
    assert score(capsys, bucket, "--input", str(source), "--output", str(output))[0] == 0
    stale = output / "predictions-00009-of-00010.jsonl"
    stale.write_text("{}\n")

    code, _, err = score(
        capsys, bucket, "--input", str(source), "--output", str(output), "--version", "1"
    )
    assert code == 1
    assert "--overwrite" in err

    code, summary, _ = score(
        capsys, bucket, "--input", str(source), "--output", str(output), "--overwrite"
    )
    assert code == 0
    assert summary["predicted"] == 2
    assert not stale.exists()
    ids = sorted(
        json.loads(line)["id"]
        for path in output.glob("predictions-*")
        for line in path.read_text().splitlines()
    )
    assert ids == [f"{source}:2", f"{source}:4"]  # the header is line 1, the blank line 3


def test_dataflow_jobs_are_launched_with_the_resolved_version(
    capsys, gcs, bucket, version, serving_env, monkeypatch
):
    # No Dataflow here: the launch request is built as mlctl sends it, and kept.
    sent = []

    def launch(project, config, parameters):
        sent.append(flex_template.launch_request(project, config, parameters, now=NOW))
        return flex_template.LaunchedJob("job-1", "score-x", "https://console/job-1")

    monkeypatch.setattr(flex_template, "launch", launch)
    out = f"gs://{bucket}/out/nightly"
    gcs.bucket(bucket).blob("out/nightly/predictions-00000-of-00001.jsonl").upload_from_string("")
    argv = ("--input", f"gs://{bucket}/in/*.csv", "--output", out, "--runner", "dataflow")

    code, _, err = score(capsys, bucket, *argv, "--overwrite")
    assert code == 1
    assert "SCORING_TEMPLATE" in err
    for name, value in TEMPLATE.items():
        monkeypatch.setenv(name, value)
    code, _, err = score(capsys, bucket, "--input", "rows.csv", *argv[2:])
    assert code == 1
    assert "gs://" in err
    code, printed, _ = score(capsys, bucket, *argv, "--overwrite")

    assert code == 0
    assert (printed["job_id"], printed["version"]) == ("job-1", version)
    ((url, body),) = sent
    assert url.endswith("/locations/europe-west1/flexTemplates:launch")
    assert body["launchParameter"]["parameters"] == {
        "input": f"gs://{bucket}/in/*.csv",
        "output": out,
        "registry_bucket": bucket,
        "model": MODEL,
        "version": str(version),
        "id_column": "",
        "overwrite": "true",
    }


def test_the_template_entry_point_replaces_results_only_when_told(
    bucket, version, serving_env, tmp_path
):
    source = tmp_path / "rows.csv"
    source.write_text("bmi,bp,s5\n0.01,0.02,0.03\n")
    output = tmp_path / "out"
    output.mkdir()
    stale = output / "predictions-00003-of-00004.jsonl"
    stale.write_text("{}\n")
    argv = [f"--input={source}", f"--output={output}", f"--registry_bucket={bucket}"]
    argv += [f"--model={MODEL}", f"--version={version}", f"--runner={IN_PROCESS_RUNNER}"]

    with pytest.raises(ScoringError, match="overwrite"):
        pipeline.run(argv)
    assert stale.exists()
    pipeline.run([*argv, "--overwrite=true"])

    assert not stale.exists()
    (shard,) = output.glob("predictions-*")
    assert [json.loads(line)["id"] for line in shard.read_text().splitlines()] == [f"{source}:2"]
