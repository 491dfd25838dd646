"""Scenario "security" (issue item 6; README "What it survives"): checkov on infra/terraform
with no failed check, and echo probes against a running predict_batch (soak/echo_probes.py):
no response header carries the input, but for a valid X-Request-Id token, echoed by design.
The static check of the code is ruff's S rules, in `make lint`.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
from collections import Counter
from typing import Any

from infra.local.serving import REPOSITORY_ROOT
from soak import echo_probes
from soak.drawing import for_each
from soak.outcome import Outcome
from soak.system import running

CHECKOV = REPOSITORY_ROOT / ".venv-checkov" / "bin" / "checkov"
TERRAFORM = REPOSITORY_ROOT / "infra" / "terraform"
CHECKOV_TIMEOUT = 120.0
GENERATED_PROBES = 300


def run() -> Outcome:
    outcome = Outcome()
    began = time.monotonic()
    outcome.figures["checkov"] = _checkov(outcome)
    with running("security", only=("predict_batch",)) as system:
        outcome.figures["echo"] = _probe(system.url("predict_batch"), outcome)
    outcome.figures["seconds"] = round(time.monotonic() - began, 1)
    return outcome


def _checkov(outcome: Outcome) -> dict[str, Any]:
    """checkov's summary; its failed checks by id and resource."""
    command = [str(CHECKOV), "-d", str(TERRAFORM), "--framework", "terraform"]
    command += ["--skip-download", "--output", "json"]
    if not outcome.expect(CHECKOV.exists(), "checkov installed (make checkov-venv)"):
        return {}
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=CHECKOV_TIMEOUT, check=False
    )
    report = json.loads(result.stdout)
    summary = report["summary"]
    failed = [f"{c['check_id']} {c['resource']}" for c in report["results"]["failed_checks"]]
    outcome.expect(summary["failed"] == 0 and not failed, "checkov: 0 failed checks")
    outcome.expect(summary["passed"] > 0, "checkov: checks ran")
    return {
        "passed": summary["passed"],
        "failed": summary["failed"],
        "skipped": summary["skipped"],
        "failed_checks": failed,
    }


def _probe(url: str, outcome: Outcome) -> dict[str, Any]:
    """Send every probe; what came back, and every echo found."""
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    statuses: Counter[str] = Counter()
    places: Counter[str] = Counter()
    found: list[str] = []
    # Each answer to a probe carrying the valid token: whether it echoed the token.
    token_echoed: list[bool] = []

    def send(probe: echo_probes.Probe) -> None:
        answer = echo_probes.exchange(host, port, probe.request)
        statuses[str(answer.status or "closed")] += 1
        places[probe.place] += 1
        found.extend(echo_probes.echoes(probe, answer))
        if probe.request_id == echo_probes.VALID_TOKEN:
            token_echoed.append(("X-Request-Id", echo_probes.VALID_TOKEN) in answer.headers)

    for probe in echo_probes.probes():
        send(probe)
    for_each(
        echo_probes.GENERATED,
        GENERATED_PROBES,
        lambda drawn: send(echo_probes.generated_probe(drawn)),
    )
    outcome.expect(not found, "no response header echoes the input")
    outcome.expect(
        bool(token_echoed) and all(token_echoed),
        f"a valid X-Request-Id token is echoed (docs/http.md): by {sum(token_echoed)} of "
        f"{len(token_echoed)} answers",
    )
    server_errors = sum(n for s, n in statuses.items() if s.isdigit() and int(s) >= 500)
    outcome.expect(server_errors == 0, f"0 responses 5xx to the probes ({server_errors})")
    return {
        "probes_sent": sum(places.values()),
        "by_place": dict(places),
        "by_status": dict(statuses),
        "echoes_found": len(found),
        "echoes": found[:10],
        "responses_5xx": server_errors,
        "valid_token_probes": len(token_echoed),
        "valid_token_echoed": sum(token_echoed),
    }
