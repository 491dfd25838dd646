"""Terraform agrees with the code: names, wiring, entry points and environment."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from functions.platform.config import Settings
from infra import names
from tests.infra.terraform import indexed_key, load

ROOT = Path(__file__).resolve().parents[2]
TOPIC = "google_pubsub_topic.topic"


def topic_names() -> dict[str, str]:
    """Terraform's key of each topic -> the topic's name."""
    terraform = load()
    return {key: terraform.resolve(name) for key, name in terraform.locals["topics"].items()}


def test_variable_defaults_are_the_local_cloud_names():
    terraform = load()
    assert terraform.default("bucket") == names.BUCKET
    assert terraform.default("model_name") == names.MODEL_NAME
    assert terraform.default("serving_alias") == names.SERVING_ALIAS
    assert terraform.default("dead_letter_max_attempts") == names.DEAD_LETTER_MAX_ATTEMPTS
    assert sorted(topic_names().values()) == sorted(names.TOPICS)


def test_pull_subscriptions_are_the_local_cloud_ones():
    terraform = load()
    topics = topic_names()
    declared = {
        terraform.resolve(subscription["name"]): topics[subscription["topic"]]
        for subscription in terraform.locals["pull_subscriptions"].values()
    }
    assert declared == names.PULL_SUBSCRIPTIONS


def test_push_subscriptions_wire_topic_function_and_dead_letter():
    terraform = load()
    topics = topic_names()
    push = terraform.resource("google_pubsub_subscription.push")
    assert push["for_each"] == "${local.push_subscriptions}"
    assert push["topic"] == "${google_pubsub_topic.topic[each.value.topic].id}"
    (config,) = push["push_config"]
    function_url = (
        "${google_cloudfunctions2_function.internal[each.value.function].service_config[0].uri}"
    )
    # The path names the topic, as functions-framework reads it (and as the local cloud does).
    assert config["push_endpoint"] == (
        function_url
        + "/projects/${var.project_id}/topics/${google_pubsub_topic.topic[each.value.topic].name}"
    )
    (token,) = config["oidc_token"]
    assert token["service_account_email"] == "${google_service_account.push_invoker.email}"
    assert token["audience"] == function_url
    # A dead-letter policy only where the subscription names a dead-letter topic.
    (dynamic,) = push["dynamic"]
    policy = dynamic["dead_letter_policy"]
    assert policy["for_each"].startswith("${each.value.dead_letter_topic == null ? [] :")
    (content,) = policy["content"]
    assert content["dead_letter_topic"] == (
        "${google_pubsub_topic.topic[dead_letter_policy.value].id}"
    )
    assert terraform.resolve(content["max_delivery_attempts"]) == names.DEAD_LETTER_MAX_ATTEMPTS
    assert push["retry_policy"][0]["minimum_backoff"] == "${each.value.minimum_backoff}"
    # Without a dead-letter topic, a failing message is retried for this long.
    assert push["message_retention_duration"] == "604800s"
    declared = {
        terraform.resolve(subscription["name"]): (
            topics[subscription["topic"]],
            subscription["function"],
            topics.get(subscription["dead_letter_topic"]),
        )
        for subscription in terraform.locals["push_subscriptions"].values()
    }
    expected = {
        name: (topic, function, names.DEAD_LETTER_TOPICS.get(name))
        for name, (topic, function) in names.PUSH_SUBSCRIPTIONS.items()
    }
    assert declared == expected


def test_push_ack_deadlines_outlast_their_function_timeouts():
    terraform = load()
    push = terraform.resource("google_pubsub_subscription.push")
    match = re.fullmatch(
        r"\$\{min\(600, local\.functions\[each\.value\.function\]\.timeout_seconds \+ (\d+)\)\}",
        push["ack_deadline_seconds"],
    )
    assert match, push["ack_deadline_seconds"]
    services = terraform.resolve(terraform.locals["functions"])
    for subscription in terraform.locals["push_subscriptions"].values():
        timeout = services[subscription["function"]]["timeout_seconds"]
        assert timeout < min(600, timeout + int(match.group(1)))


def test_dead_letter_topics_have_a_subscription():
    """A dead-letter topic without a subscription loses what it receives."""
    terraform = load()
    subscribed = {
        subscription["topic"] for subscription in terraform.locals["pull_subscriptions"].values()
    }
    dead_letter_topics = {
        subscription["dead_letter_topic"]
        for subscription in terraform.locals["push_subscriptions"].values()
    } - {None}
    assert len(dead_letter_topics) == len(set(names.DEAD_LETTER_TOPICS.values()))
    assert dead_letter_topics <= subscribed


def test_dataset_notification_is_object_finalize_under_datasets():
    notification = load().resource("google_storage_notification.datasets")
    assert notification["event_types"] == ["OBJECT_FINALIZE"]
    assert notification["object_name_prefix"] == names.DATASETS_PREFIX
    assert notification["payload_format"] == "JSON_API_V1"
    assert topic_names()[indexed_key(notification["topic"], TOPIC)] == names.DATASET_EVENTS


def main_entry_points() -> set[str]:
    """Functions that main.py registers with functions-framework."""
    tree = ast.parse((ROOT / "main.py").read_text())
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and any(
            "functions_framework" in ast.unparse(decorator) for decorator in node.decorator_list
        )
    }


def terraform_entry_points() -> dict[str, str]:
    """Entry point -> how the function is reached (its ingress)."""
    terraform = load()
    entry_points = {}
    public = terraform.resource("google_cloudfunctions2_function.predict_batch")
    entry_points[public["build_config"][0]["entry_point"]] = public["service_config"][0][
        "ingress_settings"
    ]
    internal = terraform.resource("google_cloudfunctions2_function.internal")
    assert internal["build_config"][0]["entry_point"] == "${each.key}"
    for name in terraform.resolve(terraform.locals["functions"]):
        if name not in entry_points:
            entry_points[name] = internal["service_config"][0]["ingress_settings"]
    return entry_points


def test_entry_points_are_main_py_functions():
    deployed = terraform_entry_points()
    assert set(deployed) == set(names.FUNCTIONS)
    # retrain and monitor_drift are deployed before their code lands; every entry point
    # main.py has must be deployed.
    assert main_entry_points() <= set(deployed)
    assert "predict_batch" in main_entry_points()


def test_only_predict_batch_accepts_outside_traffic():
    ingress = terraform_entry_points()
    assert ingress.pop("predict_batch") == "ALLOW_ALL"
    assert set(ingress.values()) == {"ALLOW_INTERNAL_ONLY"}


def config_environment_variables() -> set[str]:
    """Every environment variable functions/platform/config.py reads with `_read(env, KEY)`."""
    tree = ast.parse((ROOT / "functions" / "platform" / "config.py").read_text())
    keys = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "_read":
            key = node.args[1]
            assert isinstance(key, ast.Constant), ast.unparse(node)
            keys.add(key.value)
    return keys


def terraform_environment() -> dict[str, str]:
    """The functions' environment with every variable at its default."""
    terraform = load()
    assert terraform.locals["function_environment"] == (
        "${merge(var.function_settings, local.deployment_environment)}"
    )
    deployment = terraform.locals["deployment_environment"]
    settings = terraform.default("function_settings")
    assert not set(settings) & set(deployment), "a setting is both tuned and named"
    # The project has no default, and the bucket's name is read off the bucket.
    assert deployment["GOOGLE_CLOUD_PROJECT"] == "${var.project_id}"
    assert deployment["MODEL_BUCKET"] == "${google_storage_bucket.registry.name}"
    registry = terraform.resource("google_storage_bucket.registry")
    resolved = {
        "GOOGLE_CLOUD_PROJECT": "some-project",
        "MODEL_BUCKET": terraform.resolve(registry["name"]),
    }
    for key, value in deployment.items():
        if key not in resolved:
            resolved[key] = terraform.resolve(value)
    return {**settings, **resolved}


def test_function_environment_is_exactly_what_the_code_reads():
    environment = terraform_environment()
    assert set(environment) == config_environment_variables()


def test_function_environment_defaults_are_the_code_defaults():
    settings = Settings.from_env(terraform_environment())
    assert settings == Settings(project_id="some-project")
