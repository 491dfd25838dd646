# Topics and subscriptions, named as in the local cloud (infra/names.py).

locals {
  topics = {
    prediction_requests    = var.prediction_requests_topic
    prediction_results     = var.prediction_results_topic
    prediction_dead_letter = var.prediction_dead_letter_topic
    prediction_log         = var.prediction_log_topic
    dataset_events         = var.dataset_events_topic
    dataset_dead_letter    = var.dataset_dead_letter_topic
    model_events           = var.model_events_topic
    drift_alerts           = var.drift_alerts_topic
    performance_alerts     = var.performance_alerts_topic
    # Ground truth: the labels clients send, and their dead letters.
    prediction_feedback             = var.prediction_feedback_topic
    prediction_feedback_dead_letter = var.prediction_feedback_dead_letter_topic
  }

  # Pull subscriptions for people and for monitor_drift: how long an unread message is kept.
  # Dead letters and the prediction log wait longest: someone has to look, or the drift job
  # may be paused; a result nobody read within a day is stale.
  pull_subscriptions = {
    prediction_results     = { name = var.prediction_results_subscription, topic = "prediction_results", retention = "86400s" }
    prediction_dead_letter = { name = var.prediction_dead_letter_subscription, topic = "prediction_dead_letter", retention = "604800s" }
    dataset_dead_letter    = { name = var.dataset_dead_letter_subscription, topic = "dataset_dead_letter", retention = "604800s" }
    model_events           = { name = var.model_events_subscription, topic = "model_events", retention = "604800s" }
    drift_alerts           = { name = var.drift_alerts_subscription, topic = "drift_alerts", retention = "604800s" }
    performance_alerts     = { name = var.performance_alerts_subscription, topic = "performance_alerts", retention = "604800s" }
    prediction_log         = { name = var.prediction_log_subscription, topic = "prediction_log", retention = "604800s" }
    # Labels join_feedback kept failing on: someone has to look.
    prediction_feedback_dead_letter = { name = var.prediction_feedback_dead_letter_subscription, topic = "prediction_feedback_dead_letter", retention = "604800s" }
  }
}

resource "google_pubsub_topic" "topic" {
  #checkov:skip=CKV_GCP_83:Google-managed encryption; a customer-managed key is an organisation policy this module does not impose.
  for_each = local.topics
  name     = each.value

  # A week of history lets a subscription created later (or seeked) replay recent messages.
  message_retention_duration = "604800s"
}

resource "google_pubsub_subscription" "pull" {
  for_each = local.pull_subscriptions
  name     = each.value.name
  topic    = google_pubsub_topic.topic[each.value.topic].id

  ack_deadline_seconds       = 60
  message_retention_duration = each.value.retention

  # Never expire for lack of readers: a quiet dead-letter subscription is the good case.
  expiration_policy {
    ttl = ""
  }
}

# Push subscriptions feed the event functions. They are ours, not Eventarc's, because an
# Eventarc trigger's subscription cannot have a dead-letter topic or a retry policy.
locals {
  push_subscriptions = {
    prediction_requests_push = {
      name              = var.prediction_requests_push_subscription
      topic             = "prediction_requests"
      function          = "predict_stream"
      dead_letter_topic = "prediction_dead_letter"
      minimum_backoff   = "10s"
      filter            = ""
    }
    # Training is expensive: back off longer before trying a failed dataset again.
    dataset_events_push = {
      name              = var.dataset_events_push_subscription
      topic             = "dataset_events"
      function          = "retrain"
      dead_letter_topic = "dataset_dead_letter"
      minimum_backoff   = "30s"
      filter            = ""
    }
    # Both feed join_feedback; the path of each push tells a label from a prediction.
    prediction_feedback_push = {
      name              = var.prediction_feedback_push_subscription
      topic             = "prediction_feedback"
      function          = "join_feedback"
      dead_letter_topic = "prediction_feedback_dead_letter"
      minimum_backoff   = "10s"
      filter            = ""
    }
    # No dead-letter topic: what fails here is a transient storage write, retried for the
    # subscription's retention (a week), not a bad message a person should look at.
    prediction_log_join = {
      name              = var.prediction_log_join_subscription
      topic             = "prediction_log"
      function          = "join_feedback"
      dead_letter_topic = null
      minimum_backoff   = "10s"
      # Only the records of models that take feedback (functions/serving/prediction_log.py).
      filter = "attributes.feedback = \"true\""
    }
  }
}

resource "google_pubsub_subscription" "push" {
  for_each = local.push_subscriptions
  name     = each.value.name
  topic    = google_pubsub_topic.topic[each.value.topic].id

  # For a push subscription the ack deadline is also the request timeout: it must outlast
  # the function's own timeout, or Pub/Sub retries a request still being served.
  ack_deadline_seconds = min(600, local.functions[each.value.function].timeout_seconds + 30)

  # A week, Pub/Sub's default, written out: a message that keeps failing where there is no
  # dead-letter topic is retried this long, then dropped.
  message_retention_duration = "604800s"
  filter                     = each.value.filter

  # The path names the topic, as functions-framework expects to make the CloudEvent's source
  # (as locally, docs/resources.md); the token's audience is the service's own URL.
  push_config {
    push_endpoint = "${google_cloudfunctions2_function.internal[each.value.function].service_config[0].uri}/projects/${var.project_id}/topics/${google_pubsub_topic.topic[each.value.topic].name}"
    oidc_token {
      service_account_email = google_service_account.push_invoker.email
      audience              = google_cloudfunctions2_function.internal[each.value.function].service_config[0].uri
    }
  }

  retry_policy {
    minimum_backoff = each.value.minimum_backoff
    maximum_backoff = "600s"
  }

  dynamic "dead_letter_policy" {
    for_each = each.value.dead_letter_topic == null ? [] : [each.value.dead_letter_topic]
    content {
      dead_letter_topic     = google_pubsub_topic.topic[dead_letter_policy.value].id
      max_delivery_attempts = var.dead_letter_max_attempts
    }
  }

  expiration_policy {
    ttl = ""
  }

  depends_on = [
    google_pubsub_topic_iam_member.pubsub_agent_publishes_dead_letters,
    google_service_account_iam_member.pubsub_agent_mints_push_tokens,
  ]
}
