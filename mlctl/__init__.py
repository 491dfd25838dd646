"""The command-line tool: train, upload datasets, follow model events, list, describe,
promote and roll back model versions."""
