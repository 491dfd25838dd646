# The registry bucket, the functions' source bucket and the dataset notification.

resource "google_storage_bucket" "registry" {
  #checkov:skip=CKV_GCP_62:Usage logs are legacy; Cloud Audit Logs (Data Access for storage) record object access and are the documented replacement.
  name                        = var.bucket
  location                    = var.region
  force_destroy               = false
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  # Every overwritten alias stays readable for a while: a rollback of a rollback.
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

  # Labels and predictions waiting to be joined: join_feedback gives up on them after the
  # retention, and its daily sweep counts a label still waiting as unjoinable before this
  # deletes it, two days later (one failed sweep loses nothing).
  lifecycle_rule {
    condition {
      age            = var.feedback_retention_days + 2
      matches_prefix = ["feedback/"]
    }
    action {
      type = "Delete"
    }
  }

  # Joined rows are the ground truth of every evaluation: kept unless a retention is set.
  dynamic "lifecycle_rule" {
    for_each = var.labelled_retention_days == null ? [] : [var.labelled_retention_days]
    content {
      condition {
        age            = lifecycle_rule.value
        matches_prefix = ["labelled/"]
      }
      action {
        type = "Delete"
      }
    }
  }
}

resource "google_storage_bucket" "sources" {
  #checkov:skip=CKV_GCP_62:Usage logs are legacy; Cloud Audit Logs record who reads the function sources.
  name                        = "${var.project_id}-function-sources"
  location                    = var.region
  force_destroy               = false
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  versioning {
    enabled = true
  }

  # A deploy with new code replaces the archive (a new hash, a new name); the old one stays
  # noncurrent for a while, then goes.
  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.noncurrent_version_days
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }
}

# The functions' source: the repository without tests, benchmarks, Terraform state or local
# files. The object is named after the archive's hash, so a code change redeploys.
data "archive_file" "source" {
  type        = "zip"
  source_dir  = "${path.module}/../.."
  output_path = "${path.module}/.build/source.zip"
  excludes = [
    ".git/**", ".ci/**", ".venv/**", ".venv-checkov/**", ".local/**", ".build/**",
    ".pytest_cache/**", ".ruff_cache/**", ".mypy_cache/**", ".hypothesis/**",
    "**/__pycache__/**", "tests/**", "bench/**", "soak/**", "docs/**",
    "infra/terraform/**", "infra/local/**", "infra/cloudbuild.yaml", "infra/*.sh",
    "Makefile", "requirements-dev.txt", "pyproject.toml", "*.md",
  ]
}

resource "google_storage_bucket_object" "source" {
  name   = "functions/${data.archive_file.source.output_md5}.zip"
  bucket = google_storage_bucket.sources.name
  source = data.archive_file.source.output_path
}

# Uploads under datasets/ reach retrain through dataset-events; the notification's attributes
# carry eventType, bucketId, objectId and objectGeneration.
resource "google_storage_notification" "datasets" {
  bucket             = google_storage_bucket.registry.name
  topic              = google_pubsub_topic.topic["dataset_events"].id
  payload_format     = "JSON_API_V1"
  event_types        = ["OBJECT_FINALIZE"]
  object_name_prefix = "datasets/"

  depends_on = [google_pubsub_topic_iam_member.storage_agent_publishes_dataset_events]
}
