# Batch scoring on Dataflow (docs/deploy.md, "Batch scoring on Dataflow"): a bucket for the
# job's files, a repository for its image, the workers' identity and an optional nightly run.
# The template itself (scoring/metadata.json and the image) is built by scoring/cloudbuild.yaml,
# which `make deploy` runs after this module is applied.

locals {
  scoring_objects = "projects/_/buckets/${google_storage_bucket.scoring.name}/objects"

  # The scoring bucket by prefix: what is scored, what it writes, Dataflow's own files, the
  # template's spec, and the sources Cloud Build builds the image from.
  scoring_template = "gs://${google_storage_bucket.scoring.name}/templates/score.json"
  scoring_temp     = "gs://${google_storage_bucket.scoring.name}/temp"

  # The nightly launch: the request body of flexTemplates.launch, one parameter per entry of
  # scoring/options.py PARAMETERS (a test checks both). Each night replaces the last
  # night's shards under output/nightly/ (the launcher deletes them, then the job writes).
  scoring_nightly_launch = {
    launchParameter = {
      jobName              = "score-nightly"
      containerSpecGcsPath = local.scoring_template
      parameters = {
        input           = var.scoring_input == "" ? "gs://${google_storage_bucket.scoring.name}/input/*" : var.scoring_input
        output          = "gs://${google_storage_bucket.scoring.name}/output/nightly"
        registry_bucket = google_storage_bucket.registry.name
        model           = var.model_name
        version         = var.scoring_version
        id_column       = var.scoring_id_column
        overwrite       = "true" # each night replaces the last night's shards
      }
      environment = {
        serviceAccountEmail = google_service_account.scoring_worker.email
        tempLocation        = local.scoring_temp
        maxWorkers          = var.scoring_max_workers
      }
    }
  }
}

resource "google_storage_bucket" "scoring" {
  #checkov:skip=CKV_GCP_62:Usage logs are legacy; Cloud Audit Logs (Data Access for storage) record who reads inputs and predictions.
  name                        = "${var.project_id}-scoring"
  location                    = var.region
  force_destroy               = false
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  # A template overwritten by a new build, or predictions overwritten by the next night's,
  # stay readable for a while.
  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.noncurrent_version_days
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  # Dataflow's temporary and staged files, and Cloud Build's sources, serve one job or one
  # build: a week is plenty to debug one that failed.
  lifecycle_rule {
    condition {
      age            = 7
      matches_prefix = ["temp/", "staging/", "source/"]
    }
    action {
      type = "Delete"
    }
  }
}

# The scoring image, apart from the functions' images: the workers may pull this one only.
resource "google_artifact_registry_repository" "scoring" {
  #checkov:skip=CKV_GCP_84:Google-managed encryption; a customer-managed key is an organisation policy this module does not impose.
  repository_id = "scoring-images"
  location      = var.region
  format        = "DOCKER"
  description   = "The batch scoring job's image: its Flex Template launcher and its workers"

  # Every build tags a new image; the template names the last one. Older than 30 days goes,
  # unless among the 5 most recent (a rollback is a rebuild of an older commit anyway).
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
      keep_count = 5
    }
  }
}

# The nightly run: Cloud Scheduler calls Dataflow's REST API with an OAuth token (an OIDC
# token is for Cloud Run and functions; Google APIs take OAuth).
resource "google_cloud_scheduler_job" "scoring" {
  count            = var.scoring_schedule == "" ? 0 : 1
  name             = "batch-scoring"
  description      = "Launches the batch scoring Flex Template"
  region           = var.region
  schedule         = var.scoring_schedule
  time_zone        = "Etc/UTC"
  attempt_deadline = "180s"

  # A launch that failed is tried again the next night; retrying at once would start a
  # second job if the first launch only timed out.
  retry_config {
    retry_count = 0
  }

  http_target {
    uri         = "https://dataflow.googleapis.com/v1b3/projects/${var.project_id}/locations/${var.region}/flexTemplates:launch"
    http_method = "POST"
    headers = {
      "Content-Type" = "application/json"
    }
    body = base64encode(jsonencode(local.scoring_nightly_launch))
    oauth_token {
      service_account_email = google_service_account.scoring_scheduler[0].email
      scope                 = "https://www.googleapis.com/auth/cloud-platform"
    }
  }

  depends_on = [
    google_project_iam_member.scoring_scheduler_launches_jobs,
    google_service_account_iam_member.scoring_scheduler_acts_as_worker,
    google_storage_bucket_iam_member.scoring_scheduler_reads_template,
  ]
}
