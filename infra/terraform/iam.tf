# Identities and grants. Every function runs as its own service account, granted on the
# bucket, topic or subscription it uses, never on the project: docs/deploy.md says
# what each may do and why.

locals {
  pubsub_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"

  registry_objects = "projects/_/buckets/${google_storage_bucket.registry.name}/objects"

  # Function -> topics it publishes to.
  publishes = {
    "predict_batch/prediction_log"      = { function = "predict_batch", topic = "prediction_log" }
    "predict_stream/prediction_results" = { function = "predict_stream", topic = "prediction_results" }
    "predict_stream/prediction_log"     = { function = "predict_stream", topic = "prediction_log" }
    "retrain/model_events"              = { function = "retrain", topic = "model_events" }
    "monitor_drift/drift_alerts"        = { function = "monitor_drift", topic = "drift_alerts" }
    "predict_batch/prediction_feedback" = { function = "predict_batch", topic = "prediction_feedback" }
  }

  # Functions that only read models: the versions and aliases under models/, nothing else.
  model_readers = toset(["predict_batch", "predict_stream", "monitor_drift"])

  # join_feedback's own objects: labels and predictions waiting under feedback/, joined rows
  # under labelled/.
  feedback_objects = "resource.name.startsWith(\"${local.registry_objects}/feedback/\") || resource.name.startsWith(\"${local.registry_objects}/labelled/\")"
}

resource "google_service_account" "function" {
  for_each     = local.functions
  account_id   = "fn-${replace(each.key, "_", "-")}"
  display_name = "Runs the ${each.key} function"
}

resource "google_service_account" "push_invoker" {
  account_id   = "pubsub-push-invoker"
  display_name = "Pub/Sub push subscriptions call predict_stream, retrain and join_feedback as this"
}

resource "google_service_account" "scheduler_invoker" {
  account_id   = "drift-scheduler"
  display_name = "Cloud Scheduler calls monitor_drift and join_feedback as this"
}

resource "google_service_account" "builder" {
  account_id   = "function-builder"
  display_name = "Cloud Build builds the functions' images as this"
}

# The registry bucket.

resource "google_storage_bucket_iam_member" "model_readers" {
  for_each = local.model_readers
  bucket   = google_storage_bucket.registry.name
  role     = "roles/storage.objectViewer"
  member   = google_service_account.function[each.key].member

  condition {
    title       = "models-only"
    description = "Read model versions and aliases, nothing else in the bucket"
    expression  = "resource.name.startsWith(\"${local.registry_objects}/models/\")"
  }
}

# retrain lists versions to number the next one and reads the uploaded datasets.
resource "google_storage_bucket_iam_member" "retrain_reads_bucket" {
  bucket = google_storage_bucket.registry.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.function["retrain"].member
}

# Creating is not overwriting: without storage.objects.delete, retrain can add
# models/<model>/versions/<N>/... but never replace a version that exists.
resource "google_storage_bucket_iam_member" "retrain_creates_models" {
  bucket = google_storage_bucket.registry.name
  role   = "roles/storage.objectCreator"
  member = google_service_account.function["retrain"].member

  condition {
    title       = "models-only"
    description = "Create objects under models/ only (never datasets/: no retrain loop)"
    expression  = "resource.name.startsWith(\"${local.registry_objects}/models/\")"
  }
}

# Moving an alias replaces its object (a compare-and-swap on its generation), and so does
# each step of a run record (models/<model>/runs/...): both need delete, granted on those
# objects only.
resource "google_storage_bucket_iam_member" "retrain_replaces_aliases_and_runs" {
  bucket = google_storage_bucket.registry.name
  role   = "roles/storage.objectUser"
  member = google_service_account.function["retrain"].member

  condition {
    title       = "aliases-and-runs-only"
    description = "Replace models/<model>/aliases/<alias>.json and models/<model>/runs/<record>, nothing else"
    expression  = "resource.name.startsWith(\"${local.registry_objects}/models/\") && (resource.name.extract(\"/aliases/{alias}\").endsWith(\".json\") || resource.name.extract(\"/runs/{record}\") != \"\")"
  }
}

resource "google_storage_bucket_iam_member" "monitor_drift_writes_reports" {
  bucket = google_storage_bucket.registry.name
  role   = "roles/storage.objectCreator"
  member = google_service_account.function["monitor_drift"].member

  condition {
    title       = "monitoring-only"
    description = "Create drift reports under monitoring/ only"
    expression  = "resource.name.startsWith(\"${local.registry_objects}/monitoring/\")"
  }
}

# join_feedback only creates (ifGenerationMatch=0): without storage.objects.delete it can
# never overwrite a waiting label or a joined row.
resource "google_storage_bucket_iam_member" "join_feedback_creates_feedback" {
  bucket = google_storage_bucket.registry.name
  role   = "roles/storage.objectCreator"
  member = google_service_account.function["join_feedback"].member

  condition {
    title       = "feedback-only"
    description = "Create objects under feedback/ and labelled/ only"
    expression  = local.feedback_objects
  }
}

resource "google_storage_bucket_iam_member" "join_feedback_reads_feedback" {
  bucket = google_storage_bucket.registry.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.function["join_feedback"].member

  condition {
    title       = "feedback-only"
    description = "Read objects under feedback/ and labelled/ only (no models, no datasets)"
    expression  = local.feedback_objects
  }
}

# Listing is checked on the bucket, not on an object, so a condition on object names cannot
# grant it: Legacy Bucket Reader lists names and reads bucket metadata, and reads no object.
resource "google_storage_bucket_iam_member" "join_feedback_lists_bucket" {
  bucket = google_storage_bucket.registry.name
  role   = "roles/storage.legacyBucketReader"
  member = google_service_account.function["join_feedback"].member
}

# Topics and subscriptions.

resource "google_pubsub_topic_iam_member" "function_publishes" {
  for_each = local.publishes
  topic    = google_pubsub_topic.topic[each.value.topic].id
  role     = "roles/pubsub.publisher"
  member   = google_service_account.function[each.value.function].member
}

resource "google_pubsub_subscription_iam_member" "monitor_drift_reads_prediction_log" {
  subscription = google_pubsub_subscription.pull["prediction_log"].id
  role         = "roles/pubsub.subscriber"
  member       = google_service_account.function["monitor_drift"].member
}

# Who may call the functions (gen2 functions are Cloud Run services: run.invoker is granted
# on the service).

resource "google_cloud_run_v2_service_iam_member" "push_invokes" {
  for_each = toset([for subscription in local.push_subscriptions : subscription.function])
  location = var.region
  name     = google_cloudfunctions2_function.internal[each.key].service_config[0].service
  role     = "roles/run.invoker"
  member   = google_service_account.push_invoker.member
}

resource "google_cloud_run_v2_service_iam_member" "scheduler_invokes_monitor_drift" {
  location = var.region
  name     = google_cloudfunctions2_function.internal["monitor_drift"].service_config[0].service
  role     = "roles/run.invoker"
  member   = google_service_account.scheduler_invoker.member
}

resource "google_cloud_run_v2_service_iam_member" "scheduler_invokes_join_feedback" {
  location = var.region
  name     = google_cloudfunctions2_function.internal["join_feedback"].service_config[0].service
  role     = "roles/run.invoker"
  member   = google_service_account.scheduler_invoker.member
}

resource "google_cloud_run_v2_service_iam_member" "clients_invoke_predict_batch" {
  for_each = toset(var.predict_batch_invokers)
  location = var.region
  name     = google_cloudfunctions2_function.predict_batch.service_config[0].service
  role     = "roles/run.invoker"
  member   = each.value
}

# Google's service agents.

# Pub/Sub signs each push with an OIDC token of the push identity: it may mint tokens for
# that one account, not for every account of the project.
resource "google_service_account_iam_member" "pubsub_agent_mints_push_tokens" {
  service_account_id = google_service_account.push_invoker.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_agent
}

# Dead-lettering: Pub/Sub itself republishes to the dead-letter topic and acks the source,
# for the push subscriptions that have a dead-letter topic.
locals {
  dead_lettered = { for key, subscription in local.push_subscriptions : key => subscription.dead_letter_topic if subscription.dead_letter_topic != null }
}

resource "google_pubsub_topic_iam_member" "pubsub_agent_publishes_dead_letters" {
  for_each = toset(values(local.dead_lettered))
  topic    = google_pubsub_topic.topic[each.key].id
  role     = "roles/pubsub.publisher"
  member   = local.pubsub_agent
}

resource "google_pubsub_subscription_iam_member" "pubsub_agent_acks_dead_lettered" {
  for_each     = local.dead_lettered
  subscription = google_pubsub_subscription.push[each.key].id
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}

data "google_storage_project_service_account" "storage_agent" {}

resource "google_pubsub_topic_iam_member" "storage_agent_publishes_dataset_events" {
  topic  = google_pubsub_topic.topic["dataset_events"].id
  role   = "roles/pubsub.publisher"
  member = data.google_storage_project_service_account.storage_agent.member
}

# The build identity: reads the source archive, writes the image and its build logs.

resource "google_storage_bucket_iam_member" "builder_reads_sources" {
  bucket = google_storage_bucket.sources.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.builder.member
}

resource "google_artifact_registry_repository_iam_member" "builder_writes_images" {
  location   = google_artifact_registry_repository.functions.location
  repository = google_artifact_registry_repository.functions.name
  role       = "roles/artifactregistry.writer"
  member     = google_service_account.builder.member
}

# Build logs have no narrower home than the project.
resource "google_project_iam_member" "builder_writes_logs" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = google_service_account.builder.member
}
