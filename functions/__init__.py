"""Cloud Function entry-point logic; `main.py` re-exports the entry points."""
