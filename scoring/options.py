"""The batch scoring job's parameters: the pipeline's options, the Flex Template's
parameters and what `mlctl score` passes, under one set of names (docs/scoring.md)."""

from __future__ import annotations

from apache_beam.options.pipeline_options import PipelineOptions

# Name, help. Every one is a string on the command line and in the template's metadata.
PARAMETERS: dict[str, str] = {
    "input": "CSV or JSON-lines files to score: a gs:// or local path, with wildcards",
    "output": "where the job writes predictions-* and dead-letter-* shards (gs:// or local)",
    "registry_bucket": "the model registry's bucket",
    "model": "the registered model's name",
    "version": "the model version that scores every row",
    "id_column": "the column (CSV) or field (JSON) that identifies a row; empty: FILE:LINE",
    "overwrite": "true: replace results already under output; else such an output is refused",
}
OPTIONAL = frozenset(
    {"id_column", "overwrite"}
)  # the others are checked by the pipeline (Beam parses
# every option class from one command line, so none may be argparse-required)


class ScoringOptions(PipelineOptions):  # type: ignore[misc]
    @classmethod
    def _add_argparse_args(cls, parser) -> None:  # type: ignore[no-untyped-def]
        for name, help_text in PARAMETERS.items():
            parser.add_argument(f"--{name}", default="", help=help_text)
