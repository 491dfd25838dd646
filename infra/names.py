"""The names of every cloud resource (docs/resources.md), in one place.

The local stack, the functions, the tests and the Terraform variables' defaults all read
these; a test checks that Terraform agrees.
"""

from __future__ import annotations

# The registry's layout is the registry's own; named here too for the tools and Terraform.
from model.layout import DATASETS_PREFIX as DATASETS_PREFIX
from model.layout import INCOMING as INCOMING
from model.layout import SERVING_ALIAS as SERVING_ALIAS
from model.layout import incoming_prefix as incoming_prefix

PROJECT_ID = "local-ml"
BUCKET = "ml-artifacts"
MODEL_NAME = "diabetes-bmi"
# make run serves a second model beside the default: all ten features, gradient-boosted trees.
FULL_MODEL_NAME = "diabetes"

PUBSUB_HOST = "127.0.0.1:8085"
STORAGE_HOST = "http://127.0.0.1:4443"

# Topics.
PREDICTION_REQUESTS = "prediction-requests"
PREDICTION_RESULTS = "prediction-results"
PREDICTION_DEAD_LETTER = "prediction-dead-letter"
PREDICTION_LOG = "prediction-log"
DATASET_EVENTS = "dataset-events"
DATASET_DEAD_LETTER = "dataset-dead-letter"
MODEL_EVENTS = "model-events"
DRIFT_ALERTS = "drift-alerts"
# Live quality (docs/monitoring.md): a version worse on labels than on its test split.
PERFORMANCE_ALERTS = "performance-alerts"
PREDICTION_FEEDBACK = "prediction-feedback"
PREDICTION_FEEDBACK_DEAD_LETTER = "prediction-feedback-dead-letter"
TOPICS = (
    PREDICTION_REQUESTS,
    PREDICTION_RESULTS,
    PREDICTION_DEAD_LETTER,
    PREDICTION_LOG,
    DATASET_EVENTS,
    DATASET_DEAD_LETTER,
    MODEL_EVENTS,
    DRIFT_ALERTS,
    PERFORMANCE_ALERTS,
    PREDICTION_FEEDBACK,
    PREDICTION_FEEDBACK_DEAD_LETTER,
)

# Push subscriptions: name -> (topic, function that receives the pushes).
PREDICTION_REQUESTS_PUSH = "prediction-requests-push"
DATASET_EVENTS_PUSH = "dataset-events-push"
PREDICTION_FEEDBACK_PUSH = "prediction-feedback-push"
# join_feedback's own reading of the log (monitor_drift keeps prediction-log-sub).
PREDICTION_LOG_JOIN_SUB = "prediction-log-join-sub"
PUSH_SUBSCRIPTIONS = {
    PREDICTION_REQUESTS_PUSH: (PREDICTION_REQUESTS, "predict_stream"),
    DATASET_EVENTS_PUSH: (DATASET_EVENTS, "retrain"),
    PREDICTION_FEEDBACK_PUSH: (PREDICTION_FEEDBACK, "join_feedback"),
    PREDICTION_LOG_JOIN_SUB: (PREDICTION_LOG, "join_feedback"),
}
# Subscriptions that take only some messages of their topic: join_feedback, the log records
# of models that take feedback (functions/serving/prediction_log.py sets the attribute).
SUBSCRIPTION_FILTERS = {PREDICTION_LOG_JOIN_SUB: 'attributes.feedback = "true"'}
# Each push subscription's dead-letter topic, taken after this many delivery attempts.
DEAD_LETTER_TOPICS = {
    PREDICTION_REQUESTS_PUSH: PREDICTION_DEAD_LETTER,
    DATASET_EVENTS_PUSH: DATASET_DEAD_LETTER,
    PREDICTION_FEEDBACK_PUSH: PREDICTION_FEEDBACK_DEAD_LETTER,
}
DEAD_LETTER_MAX_ATTEMPTS = 5

# Pull subscriptions for people (and for monitor_drift): name -> topic.
PREDICTION_RESULTS_SUB = "prediction-results-sub"
PREDICTION_DEAD_LETTER_SUB = "prediction-dead-letter-sub"
DATASET_DEAD_LETTER_SUB = "dataset-dead-letter-sub"
MODEL_EVENTS_SUB = "model-events-sub"
PREDICTION_LOG_SUB = "prediction-log-sub"
DRIFT_ALERTS_SUB = "drift-alerts-sub"
PERFORMANCE_ALERTS_SUB = "performance-alerts-sub"
PREDICTION_FEEDBACK_DEAD_LETTER_SUB = "prediction-feedback-dead-letter-sub"
PULL_SUBSCRIPTIONS = {
    PREDICTION_RESULTS_SUB: PREDICTION_RESULTS,
    PREDICTION_DEAD_LETTER_SUB: PREDICTION_DEAD_LETTER,
    DATASET_DEAD_LETTER_SUB: DATASET_DEAD_LETTER,
    MODEL_EVENTS_SUB: MODEL_EVENTS,
    DRIFT_ALERTS_SUB: DRIFT_ALERTS,
    PERFORMANCE_ALERTS_SUB: PERFORMANCE_ALERTS,
    PREDICTION_LOG_SUB: PREDICTION_LOG,
    PREDICTION_FEEDBACK_DEAD_LETTER_SUB: PREDICTION_FEEDBACK_DEAD_LETTER,
}

# Functions: entry point -> (signature type, local port).
FUNCTIONS = {
    "predict_batch": ("http", 8080),
    "predict_stream": ("http", 8081),
    "retrain": ("http", 8082),
    "monitor_drift": ("http", 8083),
    "join_feedback": ("http", 8084),
}
