# Cloud Scheduler runs one drift window on var.drift_schedule, the live quality job on
# var.quality_schedule, join_feedback's sweep on var.feedback_sweep_schedule, and the
# retraining schedule's tick on var.retraining_schedule.

resource "google_cloud_scheduler_job" "drift" {
  name             = "monitor-drift"
  description      = "Runs one drift window of monitor_drift"
  region           = var.region
  schedule         = var.drift_schedule
  time_zone        = var.drift_time_zone
  attempt_deadline = "${var.function_services["monitor_drift"].timeout_seconds}s"

  # A window that failed is simply run again at the next tick: its records stay unacked.
  retry_config {
    retry_count = 0
  }

  http_target {
    uri         = google_cloudfunctions2_function.internal["monitor_drift"].service_config[0].uri
    http_method = "POST"
    oidc_token {
      service_account_email = google_service_account.scheduler_invoker.email
      audience              = google_cloudfunctions2_function.internal["monitor_drift"].service_config[0].uri
    }
  }
}

# The live quality job reads the labels of its window again each time: a run that failed is
# replaced by the next one.
resource "google_cloud_scheduler_job" "quality" {
  name             = "monitor-quality"
  description      = "Runs monitor_drift's live quality job (POST /performance)"
  region           = var.region
  schedule         = var.quality_schedule
  time_zone        = var.drift_time_zone
  attempt_deadline = "${var.function_services["monitor_drift"].timeout_seconds}s"

  retry_config {
    retry_count = 0
  }

  http_target {
    uri         = "${google_cloudfunctions2_function.internal["monitor_drift"].service_config[0].uri}/performance"
    http_method = "POST"
    oidc_token {
      service_account_email = google_service_account.scheduler_invoker.email
      audience              = google_cloudfunctions2_function.internal["monitor_drift"].service_config[0].uri
    }
  }
}

# The sweep gives up on what waited longer than the retention (counting labels that found no
# prediction) before the lifecycle rule deletes it (storage.tf).
resource "google_cloud_scheduler_job" "feedback_sweep" {
  name             = "feedback-sweep"
  description      = "Runs join_feedback's daily sweep"
  region           = var.region
  schedule         = var.feedback_sweep_schedule
  time_zone        = "Etc/UTC"
  attempt_deadline = "${var.function_services["join_feedback"].timeout_seconds}s"

  # A sweep that failed is run again the next day: the lifecycle rule waits two days.
  retry_config {
    retry_count = 0
  }

  http_target {
    uri         = "${google_cloudfunctions2_function.internal["join_feedback"].service_config[0].uri}/sweep"
    http_method = "POST"
    oidc_token {
      service_account_email = google_service_account.scheduler_invoker.email
      audience              = google_cloudfunctions2_function.internal["join_feedback"].service_config[0].uri
    }
  }
}

# The retraining schedule's tick: monitor_drift uploads the labelled rows of every model whose
# training setting takes the schedule (docs/training.md). Off unless a schedule is given.
resource "google_cloud_scheduler_job" "retraining" {
  count            = var.retraining_schedule == "" ? 0 : 1
  name             = "retraining-schedule"
  description      = "Ticks the retraining schedule of monitor_drift"
  region           = var.region
  schedule         = var.retraining_schedule
  time_zone        = "Etc/UTC"
  attempt_deadline = "${var.function_services["monitor_drift"].timeout_seconds}s"

  # A retried tick within the hour names the same upload, which is not made twice.
  retry_config {
    retry_count          = 2
    min_backoff_duration = "60s"
  }

  http_target {
    uri         = "${google_cloudfunctions2_function.internal["monitor_drift"].service_config[0].uri}/retrain"
    http_method = "POST"
    oidc_token {
      service_account_email = google_service_account.scheduler_invoker.email
      audience              = google_cloudfunctions2_function.internal["monitor_drift"].service_config[0].uri
    }
  }
}
