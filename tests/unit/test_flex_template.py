"""scoring/flex_template.py: the flexTemplates.launch request, built without sending it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scoring import flex_template
from scoring.flex_template import JOB_NAME, TemplateConfig, job_name, launch_request
from scoring.options import OPTIONAL, PARAMETERS

NOW = datetime(2031, 2, 3, 4, 5, 6, tzinfo=UTC)
CONFIG = TemplateConfig(
    template="gs://p-scoring/templates/score.json",
    service_account="dataflow-scoring@p.iam.gserviceaccount.com",
    temp_location="gs://p-scoring/temp",
    region="europe-west1",
)
PARAMETERS_GIVEN = {
    "input": "gs://p-scoring/input/*.csv",
    "output": "gs://p-scoring/output/run",
    "registry_bucket": "p-ml-artifacts",
    "model": "diabetes-bmi",
    "version": "3",
}


def test_request_is_a_flex_template_launch_with_every_field_dataflow_reads():
    url, body = launch_request("p", CONFIG, PARAMETERS_GIVEN, now=NOW, max_workers=4)
    assert url == (
        "https://dataflow.googleapis.com/v1b3/projects/p/locations/europe-west1/flexTemplates:launch"
    )
    (launch,) = body.values()
    assert set(body) == {"launchParameter"}
    assert set(launch) == {"jobName", "containerSpecGcsPath", "parameters", "environment"}
    assert launch["jobName"] == "score-diabetes-bmi-v3-20310203-040506"
    assert launch["containerSpecGcsPath"] == CONFIG.template
    assert launch["parameters"] == PARAMETERS_GIVEN
    assert all(isinstance(value, str) for value in launch["parameters"].values())
    assert launch["environment"] == {
        "serviceAccountEmail": CONFIG.service_account,
        "tempLocation": CONFIG.temp_location,
        "maxWorkers": 4,
    }


def test_max_workers_is_left_to_the_template_unless_given():
    _, body = launch_request("p", CONFIG, PARAMETERS_GIVEN, now=NOW)
    assert "maxWorkers" not in body["launchParameter"]["environment"]


def test_optional_parameters_pass_through():
    assert OPTIONAL, "no optional parameter left: then this test should go"
    given_all = PARAMETERS_GIVEN | dict.fromkeys(OPTIONAL, "row_id")
    _, body = launch_request("p", CONFIG, given_all, now=NOW)
    assert set(body["launchParameter"]["parameters"]) == set(PARAMETERS)


@pytest.mark.parametrize("required", sorted(set(PARAMETERS) - OPTIONAL))
def test_a_missing_or_empty_required_parameter_is_refused(required):
    with pytest.raises(ValueError, match=required):
        launch_request("p", CONFIG, {**PARAMETERS_GIVEN, required: ""}, now=NOW)
    without = {name: value for name, value in PARAMETERS_GIVEN.items() if name != required}
    with pytest.raises(ValueError, match=required):
        launch_request("p", CONFIG, without, now=NOW)


def test_unknown_and_non_string_parameters_are_refused():
    with pytest.raises(ValueError, match="max_rows"):
        launch_request("p", CONFIG, {**PARAMETERS_GIVEN, "max_rows": "5"}, now=NOW)
    with pytest.raises(TypeError, match="version"):
        launch_request("p", CONFIG, {**PARAMETERS_GIVEN, "version": 3}, now=NOW)  # type: ignore[dict-item]


def test_job_name_is_in_utc():
    paris = datetime(2031, 2, 3, 5, 5, 6, tzinfo=timezone(timedelta(hours=1)))
    assert job_name("m", "1", paris) == "score-m-v1-20310203-040506"


@given(model=st.text(max_size=2000), version=st.text(max_size=30))
def test_job_name_always_follows_dataflow_rule(model, version):
    name = job_name(model, version, NOW)
    assert JOB_NAME.fullmatch(name), name
    assert name.startswith("score-")
    assert name.endswith("-20310203-040506")


def test_config_comes_from_the_environment_terraform_describes():
    environ = {
        "SCORING_TEMPLATE": CONFIG.template,
        "SCORING_SERVICE_ACCOUNT": CONFIG.service_account,
        "SCORING_TEMP_LOCATION": CONFIG.temp_location,
        "SCORING_REGION": CONFIG.region,
    }
    assert TemplateConfig.from_env(environ) == CONFIG
    with pytest.raises(KeyError, match="SCORING_REGION"):
        TemplateConfig.from_env({**environ, "SCORING_REGION": ""})


def test_console_url_names_region_job_and_project():
    assert flex_template.console_url("p", "europe-west1", "2031-02-03_04_05_06-123") == (
        "https://console.cloud.google.com/dataflow/jobs/europe-west1/2031-02-03_04_05_06-123"
        "?project=p"
    )
