"""`make soak` is the soak tier of the tests (tests/soak); it writes its figures here, to
soak/results.json (git-ignored). README "What it survives"."""
