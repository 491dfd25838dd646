output "predict_batch_url" {
  description = "Call it with an identity token: curl -H \"Authorization: Bearer $(gcloud auth print-identity-token)\" URL/health"
  value       = google_cloudfunctions2_function.predict_batch.service_config[0].uri
}

output "monitor_drift_url" {
  value = google_cloudfunctions2_function.internal["monitor_drift"].service_config[0].uri
}

output "bucket" {
  value = google_storage_bucket.registry.name
}

output "topics" {
  value = { for key, topic in google_pubsub_topic.topic : key => topic.name }
}

output "subscriptions" {
  value = merge(
    { for key, subscription in google_pubsub_subscription.pull : key => subscription.name },
    { for key, subscription in google_pubsub_subscription.push : key => subscription.name },
  )
}

output "service_accounts" {
  value = merge(
    { for key, account in google_service_account.function : key => account.email },
    {
      push_invoker      = google_service_account.push_invoker.email
      scheduler_invoker = google_service_account.scheduler_invoker.email
      builder           = google_service_account.builder.email
      scoring_worker    = google_service_account.scoring_worker.email
    },
  )
}

output "labelled_table" {
  description = "Ground truth for analysts: SELECT ... FROM `<this>`"
  value       = "${var.project_id}.${google_bigquery_dataset.feedback.dataset_id}.${google_bigquery_table.labelled.table_id}"
}

# What `mlctl score --runner dataflow` reads, by environment variable (scoring/flex_template.py):
#   eval "$(terraform -chdir=infra/terraform output -json scoring | jq -r 'to_entries[] | "export \(.key)=\(.value)"')"
output "scoring" {
  description = "The batch scoring template and how its jobs run, named as the environment variables mlctl reads"
  value = {
    SCORING_TEMPLATE        = local.scoring_template
    SCORING_SERVICE_ACCOUNT = google_service_account.scoring_worker.email
    SCORING_TEMP_LOCATION   = local.scoring_temp
    SCORING_REGION          = var.region
  }
}
