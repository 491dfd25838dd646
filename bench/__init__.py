"""`make bench`: how fast every path is, measured into bench/results.json. It asserts nothing."""
