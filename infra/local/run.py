"""`make run`: the local cloud, the first model and every function, served until Ctrl-C.

    .venv/bin/python -m infra.local.run

Starts the Pub/Sub emulator and fake-gcs-server (or reuses ones already answering), trains
and promotes the first model when the registry serves none, starts each function main.py
exposes as its own functions-framework process, prints the URLs, topics, subscriptions and
one real sample prediction, and serves in the foreground. SIGINT or SIGTERM stops every
process it started and exits 0; a child that dies stops everything and exits 1; a missing
prerequisite (Java, the Pub/Sub emulator) exits 2 with one line.

Environment variables (defaults: docs/resources.md):

    GOOGLE_CLOUD_PROJECT    project id (local-ml)
    MODEL_BUCKET            bucket of the registry (ml-artifacts)
    MODEL_NAME              model trained and served (diabetes-bmi)
    PUBSUB_PORT             Pub/Sub emulator port on 127.0.0.1 (8085); or
    PUBSUB_EMULATOR_HOST    its host:port (127.0.0.1:8085)
    STORAGE_PORT            fake-gcs-server port on 127.0.0.1 (4443); or
    STORAGE_EMULATOR_HOST   its URL (http://127.0.0.1:4443)
    PREDICT_BATCH_PORT, PREDICT_STREAM_PORT, RETRAIN_PORT, MONITOR_DRIFT_PORT
                            the functions' ports (8080, 8081, 8082, 8083)
    DRIFT_INTERVAL_SECONDS  how often monitor_drift runs a window, as Cloud Scheduler
                            does in the cloud (60)
    QUALITY_INTERVAL_SECONDS  how often monitor_drift runs the live quality job (300)
    LOCAL_STORAGE_ROOT      where fake-gcs-server keeps objects, so a second run reuses the
                            registry (.local/gcs)
    LOCAL_LOG_DIR           one log file per process: the functions' JSON log lines, the
                            emulators' output (.local/logs)
    PUBSUB_EMULATOR_BIN, JAVA_HOME   see infra/local/prerequisites.py

A *_PORT variable wins over the matching *_HOST one. The functions get the emulators'
variables (PUBSUB_EMULATOR_HOST, STORAGE_EMULATOR_HOST, GOOGLE_CLOUD_PROJECT, MODEL_BUCKET)
and MODEL_NAME; other variables of this environment pass through to them unchanged.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import NoReturn

from infra import names
from infra.local import drift_schedule, prerequisites, report, samples
from infra.local.cloud import DEFAULT_LOG_DIR, CloudConfig, LocalCloud, port_from_environ
from infra.local.errors import LocalCloudError, MissingPrerequisite
from infra.local.processes import exit_promptly
from infra.local.serving import REPOSITORY_ROOT
from infra.local.system import LocalSystem

DEFAULT_STORAGE_ROOT = REPOSITORY_ROOT / ".local" / "gcs"  # git-ignored, like the logs
EXIT_FAILED = 1
_POLL_SECONDS = 0.2


class Interrupted(BaseException):
    """SIGINT or SIGTERM: a BaseException, so no `except Exception` on the way swallows it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)


@dataclass(frozen=True)
class RunConfig:
    cloud: CloudConfig
    model_name: str
    function_ports: Mapping[str, int]
    drift_interval_seconds: float
    quality_interval_seconds: float

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> RunConfig:
        cloud = CloudConfig.from_environ(
            environ,
            storage_root=Path(environ.get("LOCAL_STORAGE_ROOT") or DEFAULT_STORAGE_ROOT),
            log_dir=Path(environ.get("LOCAL_LOG_DIR") or DEFAULT_LOG_DIR),
        )
        ports = {
            name: port_from_environ(environ, f"{name.upper()}_PORT") or default_port
            for name, (_, default_port) in names.FUNCTIONS.items()
        }
        return cls(
            cloud,
            environ.get("MODEL_NAME") or names.MODEL_NAME,
            ports,
            drift_schedule.interval_from_environ(environ),  # refused before anything starts
            drift_schedule.interval_from_environ(
                environ,
                "QUALITY_INTERVAL_SECONDS",
                drift_schedule.DEFAULT_QUALITY_INTERVAL_SECONDS,
            ),
        )


def main(environ: Mapping[str, str] | None = None) -> int:
    """Run until a signal (0), a dead child or a failed start (1), or a missing program (2)."""
    environ = os.environ if environ is None else environ
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # a pipe in tests
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    began = time.monotonic()
    system: LocalSystem | None = None
    _interrupt_on_signals()
    try:
        config = RunConfig.from_environ(environ)
        prerequisites.check(environ)
        system = LocalSystem(LocalCloud(config.cloud), config.model_name)
        _start(system, config, began)
        _serve(system.cloud)
    except Interrupted as interrupted:
        print(f"\n{interrupted} received")
        return 0
    except MissingPrerequisite as missing:
        print(missing, file=sys.stderr)
        return prerequisites.EXIT_MISSING
    except LocalCloudError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        if system is not None:
            _stop(system.cloud)


def _start(system: LocalSystem, config: RunConfig, began: float) -> None:
    cloud = system.cloud
    print(f"starting the local cloud of project {config.cloud.project_id} ...")
    cloud.start()
    report.cloud(cloud, time.monotonic() - began)
    report.model(system.ensure_served_model(), config.cloud.storage_root)
    if config.model_name != names.FULL_MODEL_NAME:  # a second model, of another family
        report.model(system.ensure_served_model(names.FULL_MODEL_NAME), config.cloud.storage_root)

    functions = system.start_functions(ports=config.function_ports)
    running = {function.name: function for function in functions}
    missing = [name for name in names.FUNCTIONS if name not in running]
    report.functions(functions, system.children, missing)
    # Push subscriptions follow names.PUSH_SUBSCRIPTIONS: one appears as soon as main.py
    # exposes the function it feeds (predict_stream, retrain); nothing to add here.
    report.topics_and_subscriptions(system.pushes)
    if "predict_batch" in running:
        report.sample_prediction(
            *samples.http_prediction(
                running["predict_batch"].url, system.children["predict_batch"].log_path
            )
        )
        for model in dict.fromkeys((config.model_name, names.FULL_MODEL_NAME)):
            report.model_examples(
                model,
                samples.model_examples(
                    running["predict_batch"].url, model, system.children["predict_batch"].log_path
                ),
            )
    if "predict_stream" in running:
        report.sample_stream(
            *samples.stream_prediction(cloud, system.children["predict_stream"].log_path)
        )
    report.environment(cloud)
    if "retrain" in running:
        report.upload_instructions(cloud, config.model_name)
    if "join_feedback" in running and "predict_batch" in running:
        report.feedback_instructions(running["predict_batch"].url)
    if "monitor_drift" in running:
        interval = config.drift_interval_seconds
        drift_schedule.start(running["monitor_drift"].url + "/", interval)
        print(f"drift windows every {interval:g} s: POST {running['monitor_drift'].url}/")
        quality = running["monitor_drift"].url + "/performance"
        interval = config.quality_interval_seconds
        drift_schedule.start(quality, interval, drift_schedule.quality_summary, "quality job")
        print(f"live quality every {interval:g} s: POST {quality}")
    print(f"ready in {time.monotonic() - began:.1f} s")
    print("serving; Ctrl-C to stop")


def _serve(cloud: LocalCloud) -> NoReturn:
    """Wait for a signal (Interrupted); LocalCloudError as soon as a child exits."""
    while True:
        for child in cloud.exited():
            raise LocalCloudError(
                f"{child.name} (pid {child.pid}) exited unexpectedly with code "
                f"{child.exit_code()}; log: {child.log_path}"
            )
        time.sleep(_POLL_SECONDS)  # a signal interrupts it at once


def _stop(cloud: LocalCloud) -> None:
    # Signals are ignored from here on: a second Ctrl-C must not cut the cleanup short, and
    # every wait in stop() is bounded anyway.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
    count = len(cloud.pids())
    if count:
        print(f"stopping {count} processes ...")
    cloud.stop()
    print("stopped")


def _interrupt_on_signals() -> None:
    """Turn the first SIGINT or SIGTERM into Interrupted; ignore the ones after it."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        for ignored in (signal.SIGINT, signal.SIGTERM):
            signal.signal(ignored, signal.SIG_IGN)
        raise Interrupted(signum)

    # Set explicitly: a non-interactive shell starts background jobs with SIGINT ignored.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, interrupt)


if __name__ == "__main__":
    exit_promptly(main())
