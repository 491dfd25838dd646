# Every name defaults to the local cloud's (infra/names.py); tests/unit/test_terraform.py
# checks that they agree.

variable "project_id" {
  description = "The Google Cloud project to deploy into."
  type        = string
}

variable "region" {
  description = "Region of the functions, the scheduler job and the buckets."
  type        = string
}

variable "bucket" {
  description = "The registry bucket. Bucket names are global: `make deploy` passes <project>-ml-artifacts."
  type        = string
  default     = "ml-artifacts"
}

variable "model_name" {
  description = "The model the serving functions serve by default."
  type        = string
  default     = "diabetes-bmi"
}

variable "serving_alias" {
  description = "The alias the serving functions follow."
  type        = string
  default     = "production"
}

# Topics.

variable "prediction_requests_topic" {
  type    = string
  default = "prediction-requests"
}

variable "prediction_results_topic" {
  type    = string
  default = "prediction-results"
}

variable "prediction_dead_letter_topic" {
  type    = string
  default = "prediction-dead-letter"
}

variable "prediction_log_topic" {
  type    = string
  default = "prediction-log"
}

variable "dataset_events_topic" {
  type    = string
  default = "dataset-events"
}

variable "dataset_dead_letter_topic" {
  type    = string
  default = "dataset-dead-letter"
}

variable "model_events_topic" {
  type    = string
  default = "model-events"
}

variable "drift_alerts_topic" {
  type    = string
  default = "drift-alerts"
}

variable "performance_alerts_topic" {
  description = "Where monitor_drift's live quality job alerts (a version worse on labels than on its test split)."
  type        = string
  default     = "performance-alerts"
}

variable "prediction_feedback_topic" {
  description = "Where clients' labels arrive (predict_batch's POST /feedback publishes there)."
  type        = string
  default     = "prediction-feedback"
}

variable "prediction_feedback_dead_letter_topic" {
  type    = string
  default = "prediction-feedback-dead-letter"
}

# Subscriptions.

variable "prediction_requests_push_subscription" {
  type    = string
  default = "prediction-requests-push"
}

variable "dataset_events_push_subscription" {
  type    = string
  default = "dataset-events-push"
}

variable "prediction_feedback_push_subscription" {
  type    = string
  default = "prediction-feedback-push"
}

variable "prediction_log_join_subscription" {
  description = "join_feedback's push subscription of the prediction log (monitor_drift keeps prediction_log_subscription)."
  type        = string
  default     = "prediction-log-join-sub"
}

variable "prediction_results_subscription" {
  type    = string
  default = "prediction-results-sub"
}

variable "prediction_dead_letter_subscription" {
  type    = string
  default = "prediction-dead-letter-sub"
}

variable "dataset_dead_letter_subscription" {
  type    = string
  default = "dataset-dead-letter-sub"
}

variable "model_events_subscription" {
  type    = string
  default = "model-events-sub"
}

variable "drift_alerts_subscription" {
  type    = string
  default = "drift-alerts-sub"
}

variable "performance_alerts_subscription" {
  type    = string
  default = "performance-alerts-sub"
}

variable "prediction_log_subscription" {
  type    = string
  default = "prediction-log-sub"
}

variable "prediction_feedback_dead_letter_subscription" {
  type    = string
  default = "prediction-feedback-dead-letter-sub"
}

variable "dead_letter_max_attempts" {
  description = "Deliveries of a push message before it goes to its dead-letter topic."
  type        = number
  default     = 5
}

# Functions.

variable "function_settings" {
  description = "Tuning settings every function reads (functions/platform/config.py), by environment variable; the defaults are the code's."
  type        = map(string)
  default = {
    MODEL_REFRESH_SECONDS   = "30"
    PINNED_MODELS           = "8"
    MAX_LOADED_MODELS       = "32"
    SERVED_MODELS           = "" # comma-separated names; empty: every model of the registry
    MAX_INSTANCES           = "100000"
    MAX_BODY_BYTES          = "16777216"
    OFFLOAD_BYTES           = "65536"
    STORAGE_TIMEOUT_SECONDS = "10.0"
    MAX_ARTIFACT_BYTES      = "104857600"
    RETRY_AFTER_SECONDS     = "10"
    PUBLISH_TIMEOUT_SECONDS = "10.0"
    MAX_DATASET_BYTES       = "67108864"
    MIN_TRAINING_ROWS       = "30"
    OUTLIER_SIGMAS          = "6.0"
    OUTLIER_REJECT_SHARE    = "0.05"
    HOLDOUT_FRACTION        = "0.2"
    TRAINING_SEED           = "0"
    RETRAIN_LEASE_SECONDS   = "30.0"
    RETRAIN_SEARCH_SECONDS  = "120.0"
    # Monitoring (docs/monitoring.md); its topic and subscription come from the variables
    # of their names (functions.tf).
    PREDICTION_LOG_SAMPLE_RATE   = "1.0"
    PREDICTION_LOG_MAX_INSTANCES = "1000"
    DRIFT_WINDOW                 = "10000"
    DRIFT_MIN_SAMPLES            = "100"
    # Live quality (docs/monitoring.md, "Live quality").
    QUALITY_WINDOW_HOURS         = "24.0"
    QUALITY_MIN_LABELS           = "100"
    QUALITY_ALERT_COOLDOWN_HOURS = "24.0"
  }
}

# Each function's size, by entry point. A gen2 function is a Cloud Run service: `concurrency`
# is requests in flight per instance (above 1 it needs a whole CPU), `timeout_seconds` bounds
# one request; the push subscriptions' ack deadlines follow the timeouts (messaging.tf).
variable "function_services" {
  description = "Memory, CPU, timeout, instances and per-instance concurrency of each function."
  type = map(object({
    memory          = string
    cpu             = string
    timeout_seconds = number
    min_instances   = number
    max_instances   = number
    concurrency     = number
  }))
  default = {
    # A request is a few milliseconds of CPU-bound numpy work, so one vCPU serves many; 16
    # in flight keep the CPU busy while bodies stream in, without long queues. 512 MiB hold
    # a 100,000-instance batch (16 MiB body, parsed) with room. min 0: nothing is paid while
    # idle, at the cost of a ~1 s cold start; set 1 for latency-sensitive callers.
    predict_batch = {
      memory          = "512Mi"
      cpu             = "1"
      timeout_seconds = 60
      min_instances   = 0
      max_instances   = 10
      concurrency     = 16
    }
    # Each message waits on its result's publish confirmation (I/O), so an instance overlaps
    # many; 60 s cover a cold start plus a storage retry.
    predict_stream = {
      memory          = "512Mi"
      cpu             = "1"
      timeout_seconds = 60
      min_instances   = 0
      max_instances   = 10
      concurrency     = 16
    }
    # One training per instance: it is CPU- and memory-bound (dataset, model, plot). Two
    # instances let two uploads train at once; more would only race for the alias. 540 s
    # keep the push ack deadline (at most 600 s) above the timeout.
    retrain = {
      memory          = "1Gi"
      cpu             = "1"
      timeout_seconds = 540
      min_instances   = 0
      max_instances   = 2
      concurrency     = 1
    }
    # One window at a time: two concurrent jobs would split a window between two reports. A
    # window of 10,000 records with statistics and a plot fits in 1 GiB and a few minutes.
    monitor_drift = {
      memory          = "1Gi"
      cpu             = "1"
      timeout_seconds = 300
      min_instances   = 0
      max_instances   = 1
      concurrency     = 1
    }
    # Each push (a label, or a logged prediction) is a few small object writes: I/O-bound, so
    # an instance overlaps many. Five instances bound what the log's volume can cost; what
    # they cannot take at once waits in its subscription. 300 s leave the daily sweep time to
    # list feedback/.
    join_feedback = {
      memory          = "512Mi"
      cpu             = "1"
      timeout_seconds = 300
      min_instances   = 0
      max_instances   = 5
      concurrency     = 16
    }
  }

  validation {
    condition     = length(setsubtract(["predict_batch", "predict_stream", "retrain", "monitor_drift", "join_feedback"], keys(var.function_services))) == 0
    error_message = "function_services needs predict_batch, predict_stream, retrain, monitor_drift and join_feedback."
  }

  # A push subscription's ack deadline is the timeout plus 30 s, and at most 600 s.
  validation {
    condition     = alltrue([for name in ["predict_stream", "retrain", "join_feedback"] : try(var.function_services[name].timeout_seconds <= 570, true)])
    error_message = "predict_stream, retrain and join_feedback are fed by push subscriptions whose ack deadline (at most 600 s) must outlast the timeout: at most 570 s."
  }
}

variable "predict_batch_invokers" {
  description = "Members allowed to call predict_batch, e.g. [\"group:ml-clients@example.com\"]. Never allUsers."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for member in var.predict_batch_invokers : !contains(["allUsers", "allAuthenticatedUsers"], member)])
    error_message = "predict_batch is never public: list users, groups or service accounts."
  }
}

variable "drift_schedule" {
  description = "When Cloud Scheduler runs a drift window (cron, in drift_time_zone)."
  type        = string
  # Every 15 minutes: a window of up to 10,000 records drains a steady few requests a second
  # in time, and alerts reach a person within the quarter hour.
  default = "*/15 * * * *"
}

variable "quality_schedule" {
  description = "When Cloud Scheduler runs the live quality job (cron, in drift_time_zone)."
  type        = string
  # Hourly, off the drift job's quarter hours (one monitor_drift instance takes one request at
  # a time). Labels come late and a window is a day of them: an hour loses nothing.
  default = "7 * * * *"
}

variable "drift_time_zone" {
  type    = string
  default = "Etc/UTC"
}

# Ground truth (docs/feedback.md).

variable "feedback_retention_days" {
  description = "Days join_feedback keeps a prediction waiting for its label, and a label for its prediction (FEEDBACK_RETENTION_DAYS); feedback/ objects are deleted 2 days later."
  type        = number
  default     = 30

  # A lifecycle rule's age is a whole number of days.
  validation {
    condition     = var.feedback_retention_days >= 0 && floor(var.feedback_retention_days) == var.feedback_retention_days
    error_message = "feedback_retention_days is a whole number of days, 0 or more."
  }
}

variable "labelled_retention_days" {
  description = "Days a joined row under labelled/ is kept; null keeps them for good."
  type        = number
  default     = null

  validation {
    condition     = var.labelled_retention_days == null || try(var.labelled_retention_days >= 1 && floor(var.labelled_retention_days) == var.labelled_retention_days, false)
    error_message = "labelled_retention_days is null or a whole number of days, 1 or more."
  }
}

variable "feedback_sweep_schedule" {
  description = "When Cloud Scheduler runs join_feedback's sweep (cron, in UTC)."
  type        = string
  # Daily, at a quiet hour: a label still waiting after the retention is counted unjoinable
  # before the lifecycle rule deletes it (two days later, so one failed sweep loses nothing).
  default = "30 3 * * *"
}

variable "retraining_schedule" {
  description = "When Cloud Scheduler ticks the retraining schedule (cron, in UTC; empty: never). Models whose training setting retraining takes the schedule then retrain on their labelled rows (docs/training.md); mlctl assess-retraining recommends one."
  type        = string
  default     = ""
}

variable "feedback_dataset" {
  description = "BigQuery dataset of the external table over labelled/ for analysts."
  type        = string
  default     = "ml_feedback"
}

variable "noncurrent_version_days" {
  description = "Days an overwritten or deleted registry object is kept before it is deleted."
  type        = number
  default     = 30
}

# Batch scoring on Dataflow (scoring.tf, docs/deploy.md).

variable "scoring_launchers" {
  description = "Members who may launch the scoring job as its worker account and read its template, e.g. [\"group:ml@example.com\"]. They also need Dataflow Developer on the project."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for member in var.scoring_launchers : !contains(["allUsers", "allAuthenticatedUsers"], member)])
    error_message = "Launching the scoring job is never public: list users, groups or service accounts."
  }
}

variable "scoring_schedule" {
  description = "When Cloud Scheduler launches the nightly scoring job (cron, in UTC); empty: no scheduled job."
  type        = string
  default     = ""
}

variable "scoring_version" {
  description = "The version of var.model_name the nightly job scores with; needed when scoring_schedule is set."
  type        = string
  default     = ""

  validation {
    condition     = var.scoring_schedule == "" || can(regex("^[1-9][0-9]*$", var.scoring_version))
    error_message = "A scoring_schedule needs scoring_version: a model version number, 1 or more."
  }
}

variable "scoring_input" {
  description = "What the nightly job scores (gs:// pattern); empty: everything under input/ of the scoring bucket."
  type        = string
  default     = ""
}

variable "scoring_id_column" {
  description = "The nightly job's id_column (scoring/options.py); empty: FILE:LINE identifies a row."
  type        = string
  default     = ""
}

variable "scoring_max_workers" {
  description = "At most this many Dataflow workers for the nightly job."
  type        = number
  default     = 10
}
