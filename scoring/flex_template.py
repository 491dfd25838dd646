"""Launch the batch scoring job on Dataflow from its Flex Template (docs/deploy.md).

`launch_request` builds the REST call (projects.locations.flexTemplates.launch, v1b3) as
data, so that it can be checked without a project; `launch` sends it with the application
default credentials. Where the template, the workers' identity and the temp files are comes
from the environment Terraform's outputs describe (`TemplateConfig.from_env`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import google.auth
from google.auth.transport.requests import AuthorizedSession

from scoring.options import OPTIONAL, PARAMETERS

DATAFLOW_API = "https://dataflow.googleapis.com/v1b3"
CONSOLE = "https://console.cloud.google.com/dataflow/jobs"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
LAUNCH_TIMEOUT_SECONDS = 60.0

# Environment variable -> TemplateConfig field (terraform output scoring, docs/deploy.md).
ENVIRONMENT = {
    "SCORING_TEMPLATE": "template",
    "SCORING_SERVICE_ACCOUNT": "service_account",
    "SCORING_TEMP_LOCATION": "temp_location",
    "SCORING_REGION": "region",
}

# Dataflow's rule for a job name.
JOB_NAME = re.compile(r"[a-z]([-a-z0-9]{0,1022}[a-z0-9])?")
_NOT_IN_JOB_NAME = re.compile(r"[^a-z0-9]+")
JOB_NAME_PREFIX = "score"


class LaunchError(OSError):
    """Dataflow refused the launch, or it could not be asked."""


@dataclass(frozen=True)
class TemplateConfig:
    """Where the deployed template is and how its jobs run."""

    template: str  # gs://.../score.json
    service_account: str
    temp_location: str  # gs://.../temp
    region: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> TemplateConfig:
        missing = [name for name in ENVIRONMENT if not environ.get(name)]
        if missing:
            raise KeyError(
                f"set {', '.join(missing)} (terraform -chdir=infra/terraform output scoring)"
            )
        return cls(**{field: environ[name] for name, field in ENVIRONMENT.items()})


@dataclass(frozen=True)
class LaunchedJob:
    id: str
    name: str
    console_url: str


def job_name(model: str, version: str, now: datetime) -> str:
    """score-<model>-v<version>-<UTC time>, within Dataflow's rule whatever the model is named."""
    stamp = now.astimezone(UTC).strftime("%Y%m%d-%H%M%S")
    words = _NOT_IN_JOB_NAME.sub("-", f"{model}-v{version}".lower()).strip("-")
    # The time stays whole however long the model's name: it is what makes the name unique.
    room = 1024 - len(JOB_NAME_PREFIX) - len(stamp) - 2
    return "-".join(part for part in (JOB_NAME_PREFIX, words[:room].strip("-"), stamp) if part)


def template_parameters(parameters: Mapping[str, str]) -> dict[str, str]:
    """The job's parameters, checked against scoring/options.py: every required one, no other."""
    unknown = sorted(set(parameters) - set(PARAMETERS))
    if unknown:
        raise ValueError(f"unknown scoring parameters: {', '.join(unknown)}")
    required = set(PARAMETERS) - OPTIONAL
    missing = sorted(name for name in required if not parameters.get(name))
    if missing:
        raise ValueError(f"missing scoring parameters: {', '.join(missing)}")
    not_strings = sorted(name for name, value in parameters.items() if not isinstance(value, str))
    if not_strings:
        raise TypeError(f"scoring parameters are strings: {', '.join(not_strings)}")
    return dict(parameters)


def launch_request(
    project: str,
    config: TemplateConfig,
    parameters: Mapping[str, str],
    *,
    now: datetime,
    max_workers: int | None = None,
) -> tuple[str, dict[str, Any]]:
    """The URL and JSON body of flexTemplates.launch for one scoring job."""
    checked = template_parameters(parameters)
    environment: dict[str, Any] = {
        "serviceAccountEmail": config.service_account,
        "tempLocation": config.temp_location,
    }
    if max_workers is not None:
        environment["maxWorkers"] = max_workers
    url = f"{DATAFLOW_API}/projects/{project}/locations/{config.region}/flexTemplates:launch"
    body = {
        "launchParameter": {
            "jobName": job_name(checked["model"], checked["version"], now),
            "containerSpecGcsPath": config.template,
            "parameters": checked,
            "environment": environment,
        }
    }
    return url, body


def console_url(project: str, region: str, job_id: str) -> str:
    return f"{CONSOLE}/{region}/{job_id}?project={project}"


def launch(
    project: str,
    config: TemplateConfig,
    parameters: Mapping[str, str],
    *,
    max_workers: int | None = None,
) -> LaunchedJob:
    """Start one scoring job; returns as soon as Dataflow has accepted it."""
    url, body = launch_request(
        project, config, parameters, now=datetime.now(UTC), max_workers=max_workers
    )
    credentials, _ = google.auth.default(scopes=[SCOPE])
    response = AuthorizedSession(credentials).post(url, json=body, timeout=LAUNCH_TIMEOUT_SECONDS)
    if response.status_code != 200:
        raise LaunchError(f"Dataflow answered {response.status_code}: {response.text[:2000]}")
    job = response.json()["job"]
    return LaunchedJob(job["id"], job["name"], console_url(project, config.region, job["id"]))
