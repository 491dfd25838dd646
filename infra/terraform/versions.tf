# Provider versions are pinned exactly: a new provider release is a change to review, not a
# surprise at the next apply.
terraform {
  required_version = ">= 1.9.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "6.49.3"
    }
    archive = {
      source  = "hashicorp/archive"
      version = "2.7.0"
    }
  }

  # State is local unless `make deploy STATE_BUCKET=...` adds a `gcs` backend through a
  # generated backend_override.tf (see infra/deploy.sh).
}

provider "google" {
  project = var.project_id
  region  = var.region
}

data "google_project" "this" {}
