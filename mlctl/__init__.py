"""The command-line tool: train, upload datasets, follow model events, manage model
versions, publish stream requests, run drift windows and follow drift alerts."""
