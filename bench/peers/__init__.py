"""`make bench-peers`: predict_batch beside KServe and MLServer on the same one-instance
request, measured into bench/peers.json. It asserts only that the three answer alike."""
