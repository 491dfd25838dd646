# The joined rows of ground truth (labelled/ of the registry bucket) as a BigQuery table for
# analysts: an external table, so the objects stay the one copy and nothing is loaded.

resource "google_bigquery_dataset" "feedback" {
  #checkov:skip=CKV_GCP_81:Google-managed encryption; a customer-managed key is an organisation policy this module does not impose.
  dataset_id  = var.feedback_dataset
  description = "Ground truth: predictions joined with their labels"
  # An external table over a regional bucket must live in the bucket's region.
  location = var.region
}

# Not hive-partitioned: BigQuery reads partition keys only from key=value directories right
# after one common prefix, and labelled/<model>/date=<day>/ has the model first, bare. The
# rows carry model, request_time and label_time to filter on instead.
resource "google_bigquery_table" "labelled" {
  #checkov:skip=CKV_GCP_80:An external table stores nothing in BigQuery; its rows are objects of the registry bucket, encrypted as the bucket is.
  #checkov:skip=CKV_GCP_121:An external table holds no data, and a schema change can only recreate it, which deletion protection would block.
  dataset_id          = google_bigquery_dataset.feedback.dataset_id
  table_id            = "labelled"
  description         = "One row per labelled instance: the label, the prediction and the model version that made it"
  deletion_protection = false

  external_data_configuration {
    source_format = "NEWLINE_DELIMITED_JSON"
    source_uris   = ["gs://${google_storage_bucket.registry.name}/labelled/*"]
    autodetect    = false
    # A field added to the rows later is skipped, not an error, until the schema names it.
    ignore_unknown_values = true
    schema = jsonencode([
      { name = "request_id", type = "STRING", mode = "NULLABLE" },
      { name = "index", type = "INTEGER", mode = "NULLABLE", description = "The instance's place in its request" },
      { name = "label", type = "FLOAT", mode = "NULLABLE" },
      { name = "prediction", type = "FLOAT", mode = "NULLABLE" },
      { name = "model", type = "STRING", mode = "NULLABLE" },
      { name = "version", type = "INTEGER", mode = "NULLABLE" },
      { name = "features", type = "FLOAT", mode = "REPEATED" },
      { name = "feature_names", type = "STRING", mode = "REPEATED" },
      { name = "request_time", type = "TIMESTAMP", mode = "NULLABLE" },
      { name = "label_time", type = "TIMESTAMP", mode = "NULLABLE" },
      { name = "transport", type = "STRING", mode = "NULLABLE" },
    ])
  }
}
