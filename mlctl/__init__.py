"""The command-line tool: train, list, describe, promote and roll back model versions."""
