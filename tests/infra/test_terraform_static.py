"""infra/terraform checked without a Google Cloud project: syntax, format, checkov, references
and the shape of every grant."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.infra.terraform import TERRAFORM_DIR, files, load, parse

ROOT = TERRAFORM_DIR.parents[1]
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
_INTERPOLATION = re.compile(r"\$\{(.*?)\}(?!\")", re.DOTALL)
_REFERENCE = re.compile(r"(?<![\w.\"])(var|local|data\.\w+|google_\w+|archive_\w+)\.(\w+)")
BASIC_ROLES = {"roles/owner", "roles/editor", "roles/viewer"}
PUBLIC_MEMBERS = {"allUsers", "allAuthenticatedUsers"}


@pytest.mark.parametrize("path", files(), ids=lambda path: path.name)
def test_file_parses(path: Path):
    assert parse(path), f"{path.name} is empty"


def test_split_by_concern():
    assert {path.name for path in files()} == {
        "versions.tf",
        "variables.tf",
        "storage.tf",
        "messaging.tf",
        "functions.tf",
        "iam.tf",
        "scheduling.tf",
        "analytics.tf",
        "scoring.tf",
        "outputs.tf",
    }


def test_terraform_fmt_finds_nothing_to_change():
    terraform = shutil.which("terraform")
    assert terraform, (
        "terraform is not on PATH: install it (https://developer.hashicorp.com/terraform/install)"
    )
    result = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-diff", str(TERRAFORM_DIR)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def checkov_report() -> dict[str, Any]:
    assert CHECKOV.exists(), f"{CHECKOV.relative_to(ROOT)} is missing: run `make checkov-venv`"
    result = subprocess.run(
        [
            str(CHECKOV),
            "-d",
            str(TERRAFORM_DIR),
            "--framework",
            "terraform",
            "--skip-download",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.stdout, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report


@pytest.fixture(scope="module")
def checkov() -> dict[str, Any]:
    return checkov_report()


def test_checkov_finds_no_failed_check(checkov):
    failed = [
        f"{check['check_id']} {check['resource']}: {check['check_name']}"
        for check in checkov["results"]["failed_checks"]
    ]
    assert failed == []
    assert checkov["summary"]["passed"] > 20


def skip_comments() -> Iterator[tuple[str, str, str]]:
    """(file, check id, reason) of every checkov skip in the module."""
    for path in files():
        for match in re.finditer(r"#checkov:skip=(\w+):(.*)", path.read_text()):
            yield path.name, match.group(1), match.group(2).strip()


def test_every_checkov_skip_says_why_and_applies(checkov):
    comments = list(skip_comments())
    assert comments, "no skips: then this test should go"
    for file, check_id, reason in comments:
        assert len(reason.split()) >= 6, f"{file}: skip of {check_id} without a real reason"
    skipped = {check["check_id"] for check in checkov["results"]["skipped_checks"]}
    # A skip that no resource needs is a stale skip.
    assert {check_id for _, check_id, _ in comments} == skipped
    for check in checkov["results"]["skipped_checks"]:
        assert check["check_result"]["suppress_comment"], check["check_id"]


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings(key)
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def references() -> Iterator[tuple[str, str]]:
    """(kind, name) of every reference inside an expression of every file."""
    for path in files():
        for text in strings(parse(path)):
            if "${" not in text:
                continue
            for match in _REFERENCE.finditer(text):
                yield match.group(1), match.group(2)


def test_every_reference_points_at_something_declared():
    terraform = load()
    undeclared = []
    for kind, name in references():
        if kind == "var":
            declared = name in terraform.variables
        elif kind == "local":
            declared = name in terraform.locals
        elif kind.startswith("data."):
            declared = name in terraform.data.get(kind.removeprefix("data."), {})
        else:
            declared = name in terraform.resources.get(kind, {})
        if not declared:
            undeclared.append(f"{kind}.{name}")
    assert undeclared == []


def test_every_variable_and_local_is_used():
    terraform = load()
    used = {(kind, name) for kind, name in references()}
    assert [name for name in terraform.variables if ("var", name) not in used] == []
    assert [name for name in terraform.locals if ("local", name) not in used] == []


def test_references_are_recognised():
    """The reference pattern sees what the module writes (guards the test above)."""
    found = set(references())
    assert ("var", "bucket") in found
    assert ("local", "topics") in found
    assert ("google_pubsub_topic", "topic") in found
    assert ("data.google_project", "this") in found
    assert ("data.archive_file", "source") in found


def test_every_function_runs_as_its_own_service_account():
    terraform = load()
    public = terraform.resource("google_cloudfunctions2_function.predict_batch")
    internal = terraform.resource("google_cloudfunctions2_function.internal")
    assert public["service_config"][0]["service_account_email"] == (
        '${google_service_account.function["predict_batch"].email}'
    )
    assert internal["service_config"][0]["service_account_email"] == (
        "${google_service_account.function[each.key].email}"
    )
    accounts = terraform.resource("google_service_account.function")
    assert accounts["for_each"] == "${local.functions}"
    # Built by a dedicated identity too, never the default compute account.
    for function in (public, internal):
        assert function["build_config"][0]["service_account"] == (
            "${google_service_account.builder.id}"
        )


def grants() -> Iterator[tuple[str, dict[str, Any]]]:
    terraform = load()
    for kind, resources in terraform.resources.items():
        if re.search(r"_iam_(member|binding|policy)$", kind):
            for name, body in resources.items():
                yield f"{kind}.{name}", body


def test_no_grant_is_public_basic_or_admin():
    for address, grant in grants():
        assert not address.endswith(("_binding", "_policy")), (
            f"{address}: authoritative bindings would remove grants made outside this module"
        )
        assert grant["member"] not in PUBLIC_MEMBERS, address
        assert grant["role"] not in BASIC_ROLES, address
        assert "admin" not in grant["role"].lower(), address


def test_only_build_logs_and_dataflow_are_granted_on_the_project():
    """Build logs and Dataflow's roles have no narrower home than the project."""
    project_grants = {
        address: grant["role"]
        for address, grant in grants()
        if address.startswith("google_project_iam")
    }
    assert project_grants == {
        "google_project_iam_member.builder_writes_logs": "roles/logging.logWriter",
        "google_project_iam_member.scoring_worker_runs_dataflow": "roles/dataflow.worker",
        "google_project_iam_member.scoring_scheduler_launches_jobs": "roles/dataflow.developer",
    }


def test_predict_batch_invokers_can_never_be_public():
    variable = load().variables["predict_batch_invokers"]
    (validation,) = variable["validation"]
    assert "allUsers" in validation["condition"]
    assert "allAuthenticatedUsers" in validation["condition"]
    assert variable["default"] == []


def test_source_archive_is_named_after_its_hash_and_leaves_out_tests_and_state():
    terraform = load()
    source = terraform.data["archive_file"]["source"]
    for excluded in ("tests/**", "bench/**", ".local/**", ".venv/**", "infra/terraform/**"):
        assert excluded in source["excludes"], excluded
    obj = terraform.resource("google_storage_bucket_object.source")
    assert "${data.archive_file.source.output_md5}" in obj["name"]


def test_registry_bucket_is_locked_down():
    bucket = load().resource("google_storage_bucket.registry")
    assert bucket["uniform_bucket_level_access"] is True
    assert bucket["public_access_prevention"] == "enforced"
    assert bucket["force_destroy"] is False
    assert bucket["versioning"] == [{"enabled": True}]
    noncurrent = bucket["lifecycle_rule"][0]
    assert "days_since_noncurrent_time" in noncurrent["condition"][0]


def test_feedback_outlives_its_retention_by_two_days_and_labelled_rows_are_kept():
    """The daily sweep gets two chances to count a waiting label before it is deleted."""
    terraform = load()
    bucket = terraform.resource("google_storage_bucket.registry")
    (feedback,) = [
        rule
        for rule in bucket["lifecycle_rule"]
        if rule["condition"][0].get("matches_prefix") == ["feedback/"]
    ]
    assert feedback["condition"][0]["age"] == "${var.feedback_retention_days + 2}"
    assert feedback["action"] == [{"type": "Delete"}]
    # The function gives up after the same number of days.
    environment = terraform.locals["deployment_environment"]
    assert environment["FEEDBACK_RETENTION_DAYS"] == "${var.feedback_retention_days}"
    # labelled/ is deleted only when a retention is set: the rule is dynamic, off by default.
    (dynamic,) = bucket["dynamic"]
    (labelled,) = dynamic["lifecycle_rule"]["content"]
    assert labelled["condition"][0]["matches_prefix"] == ["labelled/"]
    assert terraform.default("labelled_retention_days") is None


def test_feedback_sweep_posts_to_join_feedback_as_the_scheduler():
    terraform = load()
    (target,) = terraform.resource("google_cloud_scheduler_job.feedback_sweep")["http_target"]
    url = '${google_cloudfunctions2_function.internal["join_feedback"].service_config[0].uri}'
    assert target["uri"] == url + "/sweep"
    assert target["http_method"] == "POST"
    (token,) = target["oidc_token"]
    assert token["service_account_email"] == "${google_service_account.scheduler_invoker.email}"
    assert token["audience"] == url
    invoke = terraform.resource(
        "google_cloud_run_v2_service_iam_member.scheduler_invokes_join_feedback"
    )
    assert invoke["member"] == "${google_service_account.scheduler_invoker.member}"
    assert invoke["name"] == url.replace(".uri}", ".service}")


def test_the_retraining_tick_posts_to_monitor_drift_only_when_scheduled():
    terraform = load()
    job = terraform.resource("google_cloud_scheduler_job.retraining")
    assert job["count"] == '${var.retraining_schedule == "" ? 0 : 1}'
    assert terraform.default("retraining_schedule") == ""
    (target,) = job["http_target"]
    url = '${google_cloudfunctions2_function.internal["monitor_drift"].service_config[0].uri}'
    assert target["uri"] == url + "/retrain"
    assert target["http_method"] == "POST"
    member = '${google_service_account.function["monitor_drift"].member}'
    uploads = terraform.resource("google_storage_bucket_iam_member.monitor_drift_uploads_datasets")
    assert (uploads["member"], uploads["role"]) == (member, "roles/storage.objectCreator")
    assert "/datasets/" in uploads["condition"][0]["expression"]


def test_quality_job_posts_to_monitor_drift_performance_as_the_scheduler():
    terraform = load()
    job = terraform.resource("google_cloud_scheduler_job.quality")
    (target,) = job["http_target"]
    url = '${google_cloudfunctions2_function.internal["monitor_drift"].service_config[0].uri}'
    assert target["uri"] == url + "/performance"  # functions/monitoring/monitor.py's route
    assert target["http_method"] == "POST"
    (token,) = target["oidc_token"]
    assert token["service_account_email"] == "${google_service_account.scheduler_invoker.email}"
    assert token["audience"] == url
    # Off the drift job's quarter hours: monitor_drift takes one request at a time.
    minute = terraform.default("quality_schedule").split()[0]
    assert int(minute) % 15 != 0


def test_monitor_drift_reads_labelled_rows_and_replaces_only_alert_cooldowns():
    terraform = load()
    member = '${google_service_account.function["monitor_drift"].member}'
    granted: set[tuple[str, str | None]] = set()
    for _, grant in grants():
        if grant["member"] == member:
            condition = grant.get("condition")
            expression = terraform.resolve(condition[0]["expression"]) if condition else None
            granted.add((grant["role"], expression))
    objects = "${local.registry_objects}"
    assert granted == {
        ("roles/storage.objectViewer", f'resource.name.startsWith("{objects}/labelled/")'),
        ("roles/storage.objectCreator", f'resource.name.startsWith("{objects}/monitoring/")'),
        # Labelled rows uploaded for retraining (docs/training.md), never replaced.
        ("roles/storage.objectCreator", f'resource.name.startsWith("{objects}/datasets/")'),
        ("roles/storage.legacyBucketReader", None),  # lists the date= partitions
        # Delete (a compare-and-swap replaces its object) on the cooldown objects alone.
        (
            "roles/storage.objectUser",
            f'resource.name.startsWith("{objects}/monitoring/") && resource.name.extract('
            '"/performance/cooldown/{alert}").endsWith(".json")',
        ),
        ("roles/pubsub.subscriber", None),  # on prediction-log-sub
    }
    # And, by for_each: models/ (the test scores in report.json) and both alert topics.
    assert "monitor_drift" in terraform.locals["model_readers"]
    publishes = {
        publish["topic"]
        for publish in terraform.locals["publishes"].values()
        if publish["function"] == "monitor_drift"
    }
    assert publishes == {"drift_alerts", "performance_alerts"}


def test_join_feedback_creates_and_reads_feedback_and_labelled_only():
    terraform = load()
    member = '${google_service_account.function["join_feedback"].member}'
    granted = {
        grant["role"]: grant.get("condition") for _, grant in grants() if grant["member"] == member
    }
    # No delete (objectUser, objectAdmin): every write is a create, nothing is overwritten.
    assert set(granted) == {
        "roles/storage.objectCreator",
        "roles/storage.objectViewer",
        "roles/storage.legacyBucketReader",  # lists names; reads no object
    }
    assert granted.pop("roles/storage.legacyBucketReader") is None
    for (condition,) in granted.values():
        clauses = terraform.resolve(condition["expression"]).split(" || ")
        assert sorted(clauses) == [
            f'resource.name.startsWith("${{local.registry_objects}}/{prefix}")'
            for prefix in ("feedback/", "labelled/")
        ]
    # It reads no models and publishes nothing.
    assert "join_feedback" not in terraform.locals["model_readers"]
    assert all(
        publish["function"] != "join_feedback" for publish in terraform.locals["publishes"].values()
    )


def test_provider_versions_are_pinned_exactly():
    (block,) = load().terraform
    (providers,) = block["required_providers"]
    assert set(providers) == {"google", "archive"}
    for name, provider in providers.items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", provider["version"]), f"{name} is not pinned"
