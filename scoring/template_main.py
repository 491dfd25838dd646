"""The Flex Template's entry point (FLEX_TEMPLATE_PYTHON_PY_FILE in scoring/Dockerfile).

The launcher runs this file as `__main__`; it imports the pipeline as `scoring.pipeline`, so
what the workers unpickle names an importable module, not `__main__`. The workers run the
image that launched them: scoring/Dockerfile records its own name in SCORING_SDK_IMAGE.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence

SDK_IMAGE_VARIABLE = "SCORING_SDK_IMAGE"


def with_sdk_image(argv: Sequence[str], environ: Mapping[str, str]) -> list[str]:
    """`argv` plus --sdk_container_image of this image, unless the launch names one itself."""
    image = environ.get(SDK_IMAGE_VARIABLE, "")
    if not image or any(arg.startswith("--sdk_container_image") for arg in argv):
        return list(argv)
    return [*argv, f"--sdk_container_image={image}"]


if __name__ == "__main__":
    import scoring.pipeline as pipeline

    pipeline.run(with_sdk_image(sys.argv[1:], os.environ))
