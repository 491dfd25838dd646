"""The soak tier (`make soak`, `pytest -m soak tests/soak`): README "What it survives"."""
