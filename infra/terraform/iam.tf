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
    "monitor_drift/performance_alerts"  = { function = "monitor_drift", topic = "performance_alerts" }
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
  display_name = "Cloud Build builds the functions' and the scoring job's images as this"
}

# Batch scoring (scoring.tf): the Dataflow job runs as its own account, never the default
# compute one; the nightly launch as another.
resource "google_service_account" "scoring_worker" {
  account_id   = "dataflow-scoring"
  display_name = "The batch scoring job's Dataflow launcher and workers run as this"
}

resource "google_service_account" "scoring_scheduler" {
  count        = var.scoring_schedule == "" ? 0 : 1
  account_id   = "scoring-scheduler"
  display_name = "Cloud Scheduler launches the nightly batch scoring job as this"
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
    description = "Create drift and quality reports under monitoring/ only"
    expression  = "resource.name.startsWith(\"${local.registry_objects}/monitoring/\")"
  }
}

# Live quality and retraining on labelled rows (docs/monitoring.md, docs/training.md):
# monitor_drift reads the joined rows (and lists the models and their date folders, granted
# below), replaces the last alert of a version's metric by compare-and-swap, which needs
# delete on those objects alone (monitoring/<model>/performance/cooldown/), and creates
# (never replaces) the dataset uploads under datasets/ that continuous training then takes.
resource "google_storage_bucket_iam_member" "monitor_drift_reads_labelled" {
  bucket = google_storage_bucket.registry.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.function["monitor_drift"].member

  condition {
    title       = "labelled-only"
    description = "Read the joined rows under labelled/ only"
    expression  = "resource.name.startsWith(\"${local.registry_objects}/labelled/\")"
  }
}

resource "google_storage_bucket_iam_member" "monitor_drift_uploads_datasets" {
  bucket = google_storage_bucket.registry.name
  role   = "roles/storage.objectCreator"
  member = google_service_account.function["monitor_drift"].member

  condition {
    title       = "datasets-only"
    description = "Create dataset uploads under datasets/ only"
    expression  = "resource.name.startsWith(\"${local.registry_objects}/datasets/\")"
  }
}

# Listing needs a bucket-level role: this one lists names and reads no object.
resource "google_storage_bucket_iam_member" "monitor_drift_lists_bucket" {
  bucket = google_storage_bucket.registry.name
  role   = "roles/storage.legacyBucketReader"
  member = google_service_account.function["monitor_drift"].member
}

resource "google_storage_bucket_iam_member" "monitor_drift_replaces_alert_cooldowns" {
  bucket = google_storage_bucket.registry.name
  role   = "roles/storage.objectUser"
  member = google_service_account.function["monitor_drift"].member

  condition {
    title       = "alert-cooldowns-only"
    description = "Replace monitoring/<model>/performance/cooldown/<version>-<metric>.json, nothing else"
    expression  = "resource.name.startsWith(\"${local.registry_objects}/monitoring/\") && resource.name.extract(\"/performance/cooldown/{alert}\").endsWith(\".json\")"
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

# Batch scoring (scoring.tf, docs/deploy.md). The job's launcher VM and workers run as
# dataflow-scoring: Dataflow's worker role, the models it scores with, and the scoring
# bucket's prefixes, each with no more than its use needs.

# Dataflow's roles exist only on the project: there is no job or template to grant them on.
resource "google_project_iam_member" "scoring_worker_runs_dataflow" {
  project = var.project_id
  role    = "roles/dataflow.worker"
  member  = google_service_account.scoring_worker.member
}

resource "google_storage_bucket_iam_member" "scoring_worker_reads_models" {
  bucket = google_storage_bucket.registry.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.scoring_worker.member

  condition {
    title       = "models-only"
    description = "Read model versions and aliases, nothing else in the registry"
    expression  = "resource.name.startsWith(\"${local.registry_objects}/models/\")"
  }
}

resource "google_storage_bucket_iam_member" "scoring_worker_reads_input" {
  bucket = google_storage_bucket.scoring.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.scoring_worker.member

  condition {
    title       = "input-only"
    description = "Read the files to score under input/"
    expression  = "resource.name.startsWith(\"${local.scoring_objects}/input/\")"
  }
}

# Beam writes each shard to a temporary object, then copies it into place and deletes the
# temporary one; Dataflow stages and cleans its own files: all of that needs delete, granted
# under output/, temp/ and staging/ only. The template and the inputs stay out of reach.
resource "google_storage_bucket_iam_member" "scoring_worker_writes_output" {
  bucket = google_storage_bucket.scoring.name
  role   = "roles/storage.objectUser"
  member = google_service_account.scoring_worker.member

  condition {
    title       = "output-temp-staging-only"
    description = "Create, replace and delete objects under output/, temp/ and staging/ only"
    expression  = "resource.name.startsWith(\"${local.scoring_objects}/output/\") || resource.name.startsWith(\"${local.scoring_objects}/temp/\") || resource.name.startsWith(\"${local.scoring_objects}/staging/\")"
  }
}

# Matching input/*.csv and finding the shards to finalize are listings, checked on the bucket,
# which no object-name condition narrows: Legacy Bucket Reader lists names and reads bucket
# metadata (Dataflow checks the temp bucket), and reads no object.
resource "google_storage_bucket_iam_member" "scoring_worker_lists_bucket" {
  bucket = google_storage_bucket.scoring.name
  role   = "roles/storage.legacyBucketReader"
  member = google_service_account.scoring_worker.member
}

# The launcher VM and every worker pull the scoring image.
resource "google_artifact_registry_repository_iam_member" "scoring_worker_pulls_image" {
  location   = google_artifact_registry_repository.scoring.location
  repository = google_artifact_registry_repository.scoring.name
  role       = "roles/artifactregistry.reader"
  member     = google_service_account.scoring_worker.member
}

# Who launches a job names dataflow-scoring as its identity, which needs actAs on that account
# alone, and reads the template's spec. (The deployer, with Service Account User on the
# project, can already.) They also need Dataflow Developer on the project: docs/deploy.md.
resource "google_service_account_iam_member" "scoring_launchers_act_as_worker" {
  for_each           = toset(var.scoring_launchers)
  service_account_id = google_service_account.scoring_worker.name
  role               = "roles/iam.serviceAccountUser"
  member             = each.value
}

resource "google_storage_bucket_iam_member" "scoring_launchers_read_template" {
  for_each = toset(var.scoring_launchers)
  bucket   = google_storage_bucket.scoring.name
  role     = "roles/storage.objectViewer"
  member   = each.value

  condition {
    title       = "templates-only"
    description = "Read the Flex Template's spec under templates/"
    expression  = "resource.name.startsWith(\"${local.scoring_objects}/templates/\")"
  }
}

# The nightly launch, only when var.scoring_schedule is set: the same three, for the scheduler.
# Dataflow Developer is the narrowest role that creates jobs, and only the project has it.
resource "google_project_iam_member" "scoring_scheduler_launches_jobs" {
  #checkov:skip=CKV_GCP_49:Dataflow Developer exists only on the project and is what launches a Flex Template; a job runs as dataflow-scoring alone, the one account the scheduler may act as (granted on that account, below).
  count   = var.scoring_schedule == "" ? 0 : 1
  project = var.project_id
  role    = "roles/dataflow.developer"
  member  = google_service_account.scoring_scheduler[0].member
}

resource "google_service_account_iam_member" "scoring_scheduler_acts_as_worker" {
  count              = var.scoring_schedule == "" ? 0 : 1
  service_account_id = google_service_account.scoring_worker.name
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.scoring_scheduler[0].member
}

resource "google_storage_bucket_iam_member" "scoring_scheduler_reads_template" {
  count  = var.scoring_schedule == "" ? 0 : 1
  bucket = google_storage_bucket.scoring.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.scoring_scheduler[0].member

  condition {
    title       = "templates-only"
    description = "Read the Flex Template's spec under templates/"
    expression  = "resource.name.startsWith(\"${local.scoring_objects}/templates/\")"
  }
}

# The build identity also builds the scoring image (scoring/cloudbuild.yaml): it reads the
# sources `make deploy` uploads under source/, pushes the image, and replaces the template's
# spec (a new build overwrites templates/score.json, which needs delete).
resource "google_storage_bucket_iam_member" "builder_reads_scoring_sources" {
  bucket = google_storage_bucket.scoring.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.builder.member

  condition {
    title       = "source-only"
    description = "Read the build sources under source/"
    expression  = "resource.name.startsWith(\"${local.scoring_objects}/source/\")"
  }
}

resource "google_storage_bucket_iam_member" "builder_writes_template" {
  bucket = google_storage_bucket.scoring.name
  role   = "roles/storage.objectUser"
  member = google_service_account.builder.member

  condition {
    title       = "templates-only"
    description = "Create and replace the Flex Template's spec under templates/"
    expression  = "resource.name.startsWith(\"${local.scoring_objects}/templates/\")"
  }
}

resource "google_artifact_registry_repository_iam_member" "builder_writes_scoring_image" {
  location   = google_artifact_registry_repository.scoring.location
  repository = google_artifact_registry_repository.scoring.name
  role       = "roles/artifactregistry.writer"
  member     = google_service_account.builder.member
}
