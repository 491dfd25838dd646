"""Test helpers for model artifacts: the served-vs-scikit-learn tolerance, rewritten graphs."""

from __future__ import annotations

import json

from model.artifact import ONNX_FILE, ModelArtifact, content_sha256, file_entry

# Served ÷ scikit-learn's own predict, relative, by artifact format: rounding for the linear
# families, float32 leaf sums for the trees (docs/models.md).
TOLERANCE = {"linear-json": 1e-9, "onnx": 1e-5}


def with_graph(tree: ModelArtifact, data: bytes) -> tuple[bytes, dict[str, bytes]]:
    """The tree's model.json rewritten to match `data` as its model.onnx, and its files: only
    the graph's own checks stand between these bytes and onnxruntime."""
    document = tree.to_document()
    document["files"][ONNX_FILE] = file_entry(data)
    document["sha256"] = content_sha256(document)
    return json.dumps(document).encode(), {ONNX_FILE: data}
