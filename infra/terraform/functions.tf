# The functions: Cloud Functions 2nd gen, one source archive, one service account each.

locals {
  # Entry point (main.py) -> its size.
  functions = var.function_services
  # Called only by Pub/Sub push or Cloud Scheduler, which count as internal traffic from the
  # same project; predict_batch alone is called from outside Google.
  internal_functions = { for name, service in local.functions : name => service if name != "predict_batch" }

  # Exactly the environment functions/platform/config.py reads (a test checks both directions): the
  # tuning settings, and what this deployment names.
  deployment_environment = {
    GOOGLE_CLOUD_PROJECT = var.project_id
    MODEL_BUCKET         = google_storage_bucket.registry.name
    MODEL_NAME           = var.model_name
    SERVING_ALIAS        = var.serving_alias
    RESULTS_TOPIC        = var.prediction_results_topic
    MODEL_EVENTS_TOPIC   = var.model_events_topic
    PREDICTION_LOG_TOPIC = var.prediction_log_topic
    DRIFT_SUBSCRIPTION   = var.prediction_log_subscription
    DRIFT_ALERTS_TOPIC   = var.drift_alerts_topic
    # Live quality's alerts; its settings are tuning ones (var.function_settings).
    PERFORMANCE_ALERTS_TOPIC = var.performance_alerts_topic
    # Ground truth: where POST /feedback publishes, and how long join_feedback waits.
    FEEDBACK_TOPIC          = var.prediction_feedback_topic
    FEEDBACK_RETENTION_DAYS = var.feedback_retention_days
  }
  function_environment = merge(var.function_settings, local.deployment_environment)
}

# The images of the functions' builds, in a repository the build identity may write to.
resource "google_artifact_registry_repository" "functions" {
  #checkov:skip=CKV_GCP_84:Google-managed encryption; a customer-managed key is an organisation policy this module does not impose.
  repository_id = "function-images"
  location      = var.region
  format        = "DOCKER"
  description   = "Images built from the functions' source"

  # Only the images of the last few deploys are worth keeping: older than 30 days goes,
  # unless among the 10 most recent.
  cleanup_policy_dry_run = false
  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"
    condition {
      older_than = "2592000s"
    }
  }
  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 10
    }
  }
}

# predict_batch is its own resource, apart from the internal ones, so that its one
# checkov skip (ingress) covers it alone and checkov checks the others' ingress.
resource "google_cloudfunctions2_function" "predict_batch" {
  #checkov:skip=CKV_GCP_124:Clients outside Google call predict_batch, so ingress is ALLOW_ALL; IAM guards it (run.invoker only for var.predict_batch_invokers, never allUsers).
  name     = "predict-batch"
  location = var.region

  build_config {
    runtime           = "python311"
    entry_point       = "predict_batch"
    service_account   = google_service_account.builder.id
    docker_repository = google_artifact_registry_repository.functions.id
    source {
      storage_source {
        bucket = google_storage_bucket.sources.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    service_account_email            = google_service_account.function["predict_batch"].email
    ingress_settings                 = "ALLOW_ALL"
    all_traffic_on_latest_revision   = true
    available_memory                 = var.function_services["predict_batch"].memory
    available_cpu                    = var.function_services["predict_batch"].cpu
    timeout_seconds                  = var.function_services["predict_batch"].timeout_seconds
    min_instance_count               = var.function_services["predict_batch"].min_instances
    max_instance_count               = var.function_services["predict_batch"].max_instances
    max_instance_request_concurrency = var.function_services["predict_batch"].concurrency
    environment_variables            = local.function_environment
  }

  depends_on = [
    google_artifact_registry_repository_iam_member.builder_writes_images,
    google_storage_bucket_iam_member.builder_reads_sources,
    google_project_iam_member.builder_writes_logs,
  ]
}

resource "google_cloudfunctions2_function" "internal" {
  for_each = local.internal_functions
  name     = replace(each.key, "_", "-")
  location = var.region

  build_config {
    runtime           = "python311"
    entry_point       = each.key
    service_account   = google_service_account.builder.id
    docker_repository = google_artifact_registry_repository.functions.id
    source {
      storage_source {
        bucket = google_storage_bucket.sources.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    service_account_email            = google_service_account.function[each.key].email
    ingress_settings                 = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision   = true
    available_memory                 = each.value.memory
    available_cpu                    = each.value.cpu
    timeout_seconds                  = each.value.timeout_seconds
    min_instance_count               = each.value.min_instances
    max_instance_count               = each.value.max_instances
    max_instance_request_concurrency = each.value.concurrency
    environment_variables            = local.function_environment
  }

  depends_on = [
    google_artifact_registry_repository_iam_member.builder_writes_images,
    google_storage_bucket_iam_member.builder_reads_sources,
    google_project_iam_member.builder_writes_logs,
  ]
}
