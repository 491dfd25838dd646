"""`make deploy` (infra/deploy.py) without a Google Cloud project: what it checks and runs."""

from __future__ import annotations

import subprocess
import sys

from infra import deploy
from tests.infra.terraform import load

ROOT = deploy.TERRAFORM_DIR.parents[1]


def run_deploy(*args: str, path: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {"PATH": path} if path is not None else None
    return subprocess.run(
        [sys.executable, "-m", "infra.deploy", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
        check=False,
    )


def test_missing_tools_stop_it_with_one_line(tmp_path):
    result = run_deploy("--project", "p", "--region", "europe-west1", path=str(tmp_path))
    assert result.returncode == deploy.EXIT_MISSING
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert "terraform" in line
    assert "gcloud" in line


def test_project_and_region_are_required():
    result = run_deploy("--dry-run")
    assert result.returncode != 0
    assert "--project" in result.stderr


def test_enables_apis_then_inits_then_applies():
    result = run_deploy(
        "--project",
        "p",
        "--region",
        "europe-west1",
        "--invoker",
        "user:ana@example.com",
        "--dry-run",
    )
    assert result.returncode == 0, result.stderr
    commands = [line for line in result.stdout.splitlines() if line.startswith("+ ")]
    assert [command.split()[1:4] for command in commands] == [
        ["gcloud", "services", "enable"],
        ["terraform", f"-chdir={deploy.TERRAFORM_DIR}", "init"],
        ["terraform", f"-chdir={deploy.TERRAFORM_DIR}", "apply"],
        # The scoring template, once the bucket and accounts it uses exist.
        ["gcloud", "builds", "submit"],
        ["terraform", f"-chdir={deploy.TERRAFORM_DIR}", "output"],
    ]
    assert "dataflow.googleapis.com" in commands[0]
    apply = commands[2]
    assert "-var=project_id=p" in apply
    assert "-var=bucket=p-ml-artifacts" in apply
    assert '-var=predict_batch_invokers=["user:ana@example.com"]' in apply
    assert "-auto-approve" not in apply
    assert "'-var=scoring_launchers=[]'" in apply
    assert not deploy.BACKEND_OVERRIDE.exists(), "a dry run writes nothing"


def test_every_variable_it_passes_is_declared():
    args = deploy.parse_args(["--project", "p", "--region", "r"])
    passed = {flag.removeprefix("-var=").split("=")[0] for flag in deploy.terraform_variables(args)}
    assert passed <= set(load().variables)


def test_state_bucket_becomes_a_gcs_backend():
    override = deploy.backend_override("my-state")
    assert 'backend "gcs"' in override
    assert 'bucket = "my-state"' in override
    assert deploy.BACKEND_OVERRIDE.name.endswith("_override.tf")
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert "infra/terraform/backend_override.tf" in ignored, "the generated backend is ignored"


def test_scoring_build_names_what_terraform_creates():
    """The build runs after apply, on names it derives: they must be Terraform's."""
    terraform = load()
    args = deploy.parse_args(["--project", "p", "--region", "r", "--launcher", "group:g"])
    build = deploy.scoring_build(args)
    flags = dict(flag.removeprefix("--").split("=", 1) for flag in build if flag.startswith("--"))
    assert flags["config"] == str(ROOT / "scoring" / "cloudbuild.yaml")
    substitutions = dict(pair.split("=", 1) for pair in flags["substitutions"].split(","))
    bucket = terraform.resource("google_storage_bucket.scoring")["name"]
    assert substitutions["_BUCKET"] == bucket.replace("${var.project_id}", "p")
    assert flags["gcs-source-staging-dir"] == f"gs://{substitutions['_BUCKET']}/source"
    accounts = {
        "builder": deploy.BUILDER_ACCOUNT,
        "scoring_worker": deploy.SCORING_WORKER_ACCOUNT,
    }
    for name, account in accounts.items():
        assert terraform.resource(f"google_service_account.{name}")["account_id"] == account
    assert substitutions["_WORKER"] == "dataflow-scoring@p.iam.gserviceaccount.com"
    assert flags["service-account"].endswith("/function-builder@p.iam.gserviceaccount.com")
    assert '-var=scoring_launchers=["group:g"]' in deploy.terraform_variables(args)
