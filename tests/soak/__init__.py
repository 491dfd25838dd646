"""The soak tier (`make soak`, `pytest -m soak tests/soak`): docs/soak.md."""
