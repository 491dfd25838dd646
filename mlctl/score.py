"""`mlctl score`: predict every row of CSV or JSON-lines files with one registry version, on
Beam here or on Dataflow (docs/scoring.md)."""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from functions.platform.config import Settings
from model.registry import Registry
from scoring.results import ResultStore


def add_command(commands: Any, settings: Settings) -> argparse.ArgumentParser:
    score: argparse.ArgumentParser = commands.add_parser(
        "score", help="predict every row of CSV or JSON-lines files into JSON-lines shards"
    )
    score.add_argument("--input", required=True, help="files: a gs:// or local path, wildcards")
    score.add_argument("--output", required=True, help="prefix of predictions-*, dead-letter-*")
    which = score.add_mutually_exclusive_group()
    which.add_argument("--version", type=int, help="a version (default: the served alias's)")
    which.add_argument("--alias", help=f"an alias's version ({settings.serving_alias})")
    score.add_argument("--id-column", default="", help="the rows' ids (default: FILE:LINE)")
    score.add_argument("--runner", choices=("local", "dataflow"), default="local")
    score.add_argument("--overwrite", action="store_true", help="replace results at --output")
    return score


def run(registry: Registry, args: argparse.Namespace) -> dict[str, Any]:
    settings = Settings.from_env()
    version = _version(registry, args, settings.serving_alias)
    model = registry.load(args.model, version)  # checked before any job: hashes, features
    results = ResultStore(registry.bucket.client, args.output)
    existing = results.existing()
    if existing and not args.overwrite:
        raise ValueError(
            f"{args.output} already holds {len(existing)} result files "
            f"({existing[0]}, ...): give --overwrite to replace them"
        )
    parameters = {
        "input": args.input,
        "output": args.output,
        "registry_bucket": registry.bucket_name,
        "model": args.model,
        "version": str(version),
        "id_column": args.id_column,
        "overwrite": "true" if args.overwrite else "",
    }
    if args.runner == "dataflow":
        return _launch(parameters, settings.project_id)
    return _run_local(parameters, model.features, settings.project_id, results, existing)


def _version(registry: Registry, args: argparse.Namespace, served: str) -> int:
    if args.version is not None:
        return int(args.version)
    alias = args.alias or served
    aliases = registry.aliases(args.model)
    if alias not in aliases:
        raise ValueError(f"{args.model} has no alias {alias!r}: give --version or --alias")
    return aliases[alias]


def _launch(parameters: dict[str, str], project: str) -> dict[str, Any]:
    """Start the job from its Flex Template and return; its launcher replaces earlier results
    when told to overwrite (docs/deploy.md)."""
    from scoring.flex_template import TemplateConfig, launch

    not_gs = [name for name in ("input", "output") if not parameters[name].startswith("gs://")]
    if not_gs:
        raise ValueError(f"--runner dataflow reads and writes Cloud Storage: give gs:// {not_gs}")
    try:
        config = TemplateConfig.from_env(os.environ)
    except KeyError as error:
        raise ValueError(error.args[0]) from None
    job = launch(project, config, parameters)
    return {
        "runner": "dataflow",
        "job_id": job.id,
        "job_name": job.name,
        "console": job.console_url,
        "model": parameters["model"],
        "version": int(parameters["version"]),
    }


def _run_local(
    parameters: dict[str, str],
    features: tuple[str, ...],
    project: str,
    results: ResultStore,
    existing: list[str],
) -> dict[str, Any]:
    """On Beam's in-process runner, into a local directory, then to the output: Beam's GCS
    layer cannot finalize files on the local storage (docs/scoring.md)."""
    from scoring.pipeline import run_local  # Beam loads for this command only

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mlctl-score-") as directory:
        counts = run_local(parameters, features, project, directory)
        results.replace(existing, sorted(Path(directory).iterdir()))
    return {
        **counts,
        "seconds": round(time.perf_counter() - started, 3),
        "model": parameters["model"],
        "version": int(parameters["version"]),
    }
