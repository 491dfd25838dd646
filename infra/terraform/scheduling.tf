# Cloud Scheduler runs one drift window on var.drift_schedule.

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
