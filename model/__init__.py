"""The model: data handling, training, the artifact format and the registry.

No web or Pub/Sub code lives here: both transports and the command-line tool build on it.
"""
