"""infra/cloudbuild.yaml: tests, then deploy, then smoke, with valid substitutions; and
scoring/cloudbuild.yaml: the scoring image, then its Flex Template, where Terraform says."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from tests.infra.terraform import load

ROOT = Path(__file__).resolve().parents[2]
# Cloud Build's own substitutions that this file uses.
BUILT_IN = {"PROJECT_ID", "SERVICE_ACCOUNT_EMAIL"}


def build() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "infra" / "cloudbuild.yaml").read_text())
    return loaded


def scripts() -> dict[str, str]:
    return {step["id"]: step["args"][-1] for step in build()["steps"]}


def test_tests_run_before_deploy_and_smoke_after():
    assert [step["id"] for step in build()["steps"]] == ["test", "deploy", "smoke"]
    # No step waits on something else: each starts when the previous one succeeded.
    assert all("waitFor" not in step for step in build()["steps"])


def test_each_step_does_its_job():
    steps = scripts()
    assert ".ci/run" in steps["test"]
    assert "google-cloud-cli-pubsub-emulator" in steps["test"]
    assert "openjdk-17" in steps["test"]
    assert "python3 -m infra.deploy" in steps["deploy"]
    assert "--auto-approve" in steps["deploy"]
    assert "--state-bucket" in steps["deploy"]
    assert "-m infra.smoke" in steps["smoke"]
    assert "output -raw predict_batch_url" in steps["smoke"]


def test_every_script_stops_at_its_first_failure():
    for step_id, script in scripts().items():
        assert script.lstrip().startswith("set -euo pipefail"), step_id


def test_substitutions_are_declared_and_shell_variables_escaped():
    """Cloud Build rejects an unknown $NAME; a shell variable must be written $$NAME."""
    declared = set(build()["substitutions"]) | BUILT_IN
    text = (ROOT / "infra" / "cloudbuild.yaml").read_text()
    used = set(re.findall(r"(?<!\$)\$\{?([A-Za-z_][A-Za-z0-9_]*)", text))
    assert used <= declared, used - declared


def test_terraform_version_meets_the_module_requirement():
    (block,) = load().terraform
    minimum = re.fullmatch(r">= (\d+)\.(\d+)\.(\d+)", block["required_version"])
    assert minimum, block["required_version"]
    pinned = tuple(int(part) for part in build()["substitutions"]["_TERRAFORM_VERSION"].split("."))
    assert pinned >= tuple(int(part) for part in minimum.groups())


def scoring_build() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "scoring" / "cloudbuild.yaml").read_text())
    return loaded


def test_scoring_image_is_pushed_before_its_template_names_it():
    steps = {step["id"]: step["args"] for step in scoring_build()["steps"]}
    assert list(steps) == ["image", "push", "template"]
    image = "${_IMAGE}"
    assert steps["image"][:3] == ["build", "--file", "scoring/Dockerfile"]
    assert f"IMAGE={image}" in steps["image"], "the image knows its own name"
    assert steps["push"] == ["push", image]
    template = steps["template"]
    assert template[:3] == ["dataflow", "flex-template", "build"]
    assert f"--image={image}" in template
    assert "--sdk-language=PYTHON" in template
    metadata = [arg.split("=", 1)[1] for arg in template if arg.startswith("--metadata-file=")]
    assert metadata == ["scoring/metadata.json"]
    assert (ROOT / metadata[0]).is_file()
    # The build id tags every image: a new build never changes what an old spec runs.
    assert scoring_build()["substitutions"]["_IMAGE"].endswith(":${BUILD_ID}")
    assert scoring_build()["options"]["dynamicSubstitutions"] is True


def test_scoring_build_writes_where_terraform_points():
    terraform = load()
    steps = {step["id"]: step["args"] for step in scoring_build()["steps"]}

    def in_build(terraform_path: str) -> str:
        """A path of Terraform's scoring bucket as the build names it."""
        return terraform.resolve(terraform_path).replace(
            "gs://${google_storage_bucket.scoring.name}", "gs://${_BUCKET}"
        )

    assert steps["template"][3] == in_build(terraform.locals["scoring_template"])
    assert f"--temp-location={in_build(terraform.locals['scoring_temp'])}" in steps["template"]
    assert "--service-account-email=${_WORKER}" in steps["template"]
    repository = terraform.resource("google_artifact_registry_repository.scoring")
    assert scoring_build()["substitutions"]["_REPOSITORY"] == repository["repository_id"]


def test_scoring_build_substitutions_are_declared():
    declared = set(scoring_build()["substitutions"]) | {"PROJECT_ID", "BUILD_ID"}
    text = (ROOT / "scoring" / "cloudbuild.yaml").read_text()
    used = set(re.findall(r"(?<!\$)\$\{?([A-Za-z_][A-Za-z0-9_]*)", text))
    assert used <= declared, used - declared
