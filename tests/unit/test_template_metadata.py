"""scoring/metadata.json and scoring/template_main.py agree with scoring/options.py."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from model.registry import NAME_PATTERN
from scoring.options import OPTIONAL, PARAMETERS
from scoring.template_main import SDK_IMAGE_VARIABLE, with_sdk_image

METADATA = Path(__file__).resolve().parents[2] / "scoring" / "metadata.json"


def metadata() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(METADATA.read_text())
    return loaded


def parameters() -> dict[str, dict[str, Any]]:
    return {parameter["name"]: parameter for parameter in metadata()["parameters"]}


def test_parameters_are_exactly_the_options_in_their_order():
    assert [parameter["name"] for parameter in metadata()["parameters"]] == list(PARAMETERS)


def test_help_and_optional_flags_are_the_options():
    for name, parameter in parameters().items():
        assert parameter["helpText"] == PARAMETERS[name], name
        assert parameter.get("isOptional", False) == (name in OPTIONAL), name
        assert parameter["label"], name


def test_only_fields_dataflow_knows():
    assert set(metadata()) == {"name", "description", "parameters"}
    known = {"name", "label", "helpText", "isOptional", "regexes", "paramType"}
    for name, parameter in parameters().items():
        assert set(parameter) <= known, name


@pytest.mark.parametrize(
    ("name", "accepted", "refused"),
    [
        ("input", "gs://b/input/*.csv", "data/local.csv"),
        ("output", "gs://b/output/run", "output/run"),
        ("registry_bucket", "p-ml-artifacts", "gs://p-ml-artifacts"),
        ("model", "diabetes-bmi", "../etc"),
        ("version", "12", "0"),
    ],
)
def test_regexes_accept_what_the_job_reads_and_refuse_the_rest(name, accepted, refused):
    (regex,) = parameters()[name]["regexes"]
    assert re.fullmatch(regex, accepted)
    assert not re.fullmatch(regex, refused)


def test_model_regex_is_the_registry_rule():
    assert parameters()["model"]["regexes"] == [NAME_PATTERN]


def test_workers_run_the_launching_image_unless_the_launch_names_one():
    environ = {SDK_IMAGE_VARIABLE: "europe-west1-docker.pkg.dev/p/scoring-images/score:b1"}
    argv = ["--input=gs://b/in.csv"]
    assert with_sdk_image(argv, environ) == [
        *argv,
        "--sdk_container_image=europe-west1-docker.pkg.dev/p/scoring-images/score:b1",
    ]
    chosen = [*argv, "--sdk_container_image=elsewhere"]
    assert with_sdk_image(chosen, environ) == chosen
    assert with_sdk_image(argv, {}) == argv
