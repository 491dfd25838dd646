"""infra/terraform's batch scoring agrees with scoring/: the nightly launch, the outputs mlctl
reads, and the workers' grants, each no wider than its use."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from scoring import flex_template
from scoring.options import PARAMETERS
from tests.infra.terraform import load
from tests.infra.test_terraform_static import grants

WORKER = "${google_service_account.scoring_worker.member}"
SCHEDULER = "${google_service_account.scoring_scheduler[0].member}"
BUILDER = "${google_service_account.builder.member}"
_PREFIX = re.compile(r'resource\.name\.startsWith\("\$\{local\.(\w+)\}/([\w-]+/)"\)')


def granted(member: str) -> set[tuple[str, tuple[str, ...]]]:
    """(role, the prefixes its condition allows, as "<objects local>:<prefix>") of a member;
    no prefix: the grant has no condition."""
    terraform = load()
    found = set()
    for _, grant in grants():
        if grant["member"] != member:
            continue
        prefixes: tuple[str, ...] = ()
        if "condition" in grant:
            expression = terraform.resolve(grant["condition"][0]["expression"])
            clauses = expression.split(" || ")
            prefixes = tuple(
                sorted(_PREFIX.fullmatch(clause).expand(r"\1:\2") for clause in clauses)
            )
            assert prefixes, expression
        found.add((grant["role"], prefixes))
    return found


def test_nightly_launch_passes_exactly_the_job_parameters():
    launch = load().locals["scoring_nightly_launch"]["launchParameter"]
    assert list(launch["parameters"]) == list(PARAMETERS)
    assert flex_template.JOB_NAME.fullmatch(launch["jobName"])
    assert launch["containerSpecGcsPath"] == "${local.scoring_template}"
    assert launch["parameters"]["registry_bucket"] == "${google_storage_bucket.registry.name}"
    assert launch["parameters"]["model"] == "${var.model_name}"
    assert launch["environment"] == {
        "serviceAccountEmail": "${google_service_account.scoring_worker.email}",
        "tempLocation": "${local.scoring_temp}",
        "maxWorkers": "${var.scoring_max_workers}",
    }


def test_nightly_job_posts_the_launch_to_dataflow_with_an_oauth_token():
    terraform = load()
    job = terraform.resource("google_cloud_scheduler_job.scoring")
    assert job["count"] == '${var.scoring_schedule == "" ? 0 : 1}'
    assert terraform.default("scoring_schedule") == "", "no scheduled job unless asked for"
    (target,) = job["http_target"]
    url, _ = flex_template.launch_request(
        "${var.project_id}",
        flex_template.TemplateConfig("t", "s", "gs://t", "${var.region}"),
        dict.fromkeys(PARAMETERS, "1"),
        now=datetime.now(UTC),
    )
    assert target["uri"] == url
    assert target["http_method"] == "POST"
    assert target["headers"] == {"Content-Type": "application/json"}
    assert target["body"] == "${base64encode(jsonencode(local.scoring_nightly_launch))}"
    (token,) = target["oauth_token"]
    assert token == {
        "service_account_email": "${google_service_account.scoring_scheduler[0].email}",
        "scope": flex_template.SCOPE,
    }


def test_outputs_are_the_environment_mlctl_reads():
    terraform = load()
    value = terraform.outputs["scoring"]["value"]
    assert set(value) == set(flex_template.ENVIRONMENT)
    assert terraform.resolve(value["SCORING_TEMPLATE"]).endswith("/templates/score.json")
    assert terraform.resolve(value["SCORING_TEMP_LOCATION"]).endswith("/temp")


def test_worker_reads_models_and_inputs_and_writes_only_its_own_prefixes():
    assert granted(WORKER) == {
        # Only the project has Dataflow's roles.
        ("roles/dataflow.worker", ()),
        ("roles/artifactregistry.reader", ()),  # the scoring repository's images
        ("roles/storage.legacyBucketReader", ()),  # names, not contents: listing is per bucket
        # Read only: the registry's models, the inputs.
        ("roles/storage.objectViewer", ("registry_objects:models/",)),
        ("roles/storage.objectViewer", ("scoring_objects:input/",)),
        # Replace and delete, where Beam and Dataflow write.
        (
            "roles/storage.objectUser",
            ("scoring_objects:output/", "scoring_objects:staging/", "scoring_objects:temp/"),
        ),
    }


def test_scheduler_launches_as_the_worker_and_reads_only_the_template():
    assert granted(SCHEDULER) == {
        ("roles/dataflow.developer", ()),
        ("roles/iam.serviceAccountUser", ()),
        ("roles/storage.objectViewer", ("scoring_objects:templates/",)),
    }
    terraform = load()
    acts_as = terraform.resource(
        "google_service_account_iam_member.scoring_scheduler_acts_as_worker"
    )
    # actAs on the worker account only, never on the project.
    assert acts_as["service_account_id"] == "${google_service_account.scoring_worker.name}"


def test_builder_replaces_the_template_and_reads_only_its_sources():
    scoring = {grant for grant in granted(BUILDER) if "scoring" in str(grant)}
    assert scoring == {
        ("roles/storage.objectViewer", ("scoring_objects:source/",)),
        ("roles/storage.objectUser", ("scoring_objects:templates/",)),
    }


def test_scoring_bucket_is_locked_down_and_forgets_temporary_files():
    bucket = load().resource("google_storage_bucket.scoring")
    assert bucket["uniform_bucket_level_access"] is True
    assert bucket["public_access_prevention"] == "enforced"
    assert bucket["force_destroy"] is False
    (temporary,) = [
        rule for rule in bucket["lifecycle_rule"] if "matches_prefix" in rule["condition"][0]
    ]
    # Never output/, input/ or templates/.
    assert sorted(temporary["condition"][0]["matches_prefix"]) == ["source/", "staging/", "temp/"]
