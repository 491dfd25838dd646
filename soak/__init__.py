"""`make soak`: the local system under load, faults and bad input (README "What it survives")."""
