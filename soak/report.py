"""The figures of soak/results.json as the README's table ("What it survives").

    .venv/bin/python -m soak.report            # print the table
    .venv/bin/python -m soak.report --readme   # replace the README's table with it

The table sits between two marker comments in README.md, so a run's figures replace the
last run's and nothing else. Every phrase comes from the figures; a scenario without a
describer here, or a failed run's partial figures, are listed as they are.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).with_name("results.json")
README = ROOT / "README.md"
BEGIN = "<!-- soak figures: begin (python -m soak.report --readme) -->"
END = "<!-- soak figures: end -->"


def table(results: dict[str, Any]) -> str:
    scenarios = results["scenarios"]
    rows = [
        f"`make soak` at commit `{results['commit']}`: {results['seconds']:.0f} s, "
        f"{'every target met' if results['passed'] else 'TARGETS MISSED'}.",
        "",
        "| scenario | figures | targets |",
        "|---|---|---|",
    ]
    for name, scenario in scenarios.items():
        verdict = "met" if scenario["passed"] else "missed: " + "; ".join(scenario["misses"])
        rows.append(f"| {name} | {describe(name, scenario['figures'])} | {verdict} |")
    return "\n".join(rows)


def describe(name: str, figures: dict[str, Any]) -> str:
    """The scenario's figures in a sentence, or listed as they are when no describer knows
    the scenario or the figures lack what it names (a scenario that raised has few)."""
    describer = _DESCRIBERS.get(name)
    if describer is None:
        return ", ".join(_listed(figures)) or "no figures"
    try:
        return describer(figures)
    except (KeyError, TypeError, IndexError):
        return "incomplete figures: " + (", ".join(_listed(figures)) or "none")


def _listed(figures: dict[str, Any], prefix: str = "") -> list[str]:
    """Every scalar of the figures by its dotted name; lists and the sampled resources left
    out."""
    parts = []
    for key, value in figures.items():
        if isinstance(value, dict) and key != "resources":
            parts += _listed(value, f"{prefix}{key}.")
        elif isinstance(value, str | int | float | bool) or value is None:
            parts.append(f"{prefix}{key} {_number(value)}")
    return parts


def _number(value: Any, spec: str = "") -> str:
    """value formatted by spec, "n/a" when it is None (a figure the run never reached)."""
    return "n/a" if value is None else format(value, spec)


def _bad_input(figures: dict[str, Any]) -> str:
    http, stream = figures["http"], figures["stream"]
    statuses = ", ".join(f"{code}: {count:,}" for code, count in sorted(http["by_status"].items()))
    return (
        f"HTTP: {http['requests']:,} generated requests ({statuses}); "
        f"{http['responses_5xx']} 5xx, {http['undocumented']} undocumented, "
        f"{http['unanswered']} unanswered. Stream: {stream['requests']:,} generated messages, "
        f"{stream['answered']:,} answered ({stream['answered_ok']:,} ok, "
        f"{stream['answered_error']:,} error), {stream['dead_lettered']} dead-lettered, "
        f"{stream['lost']} lost, {stream['undocumented_results']} undocumented"
    )


def _stream_faults(figures: dict[str, Any]) -> str:
    errors = ", ".join(f"{c}: {n}" for c, n in sorted(figures["answered_error_by_code"].items()))
    kills = ", ".join(
        f"{kill['at_s']:g} s{' (in the outage)' if kill['during_outage'] else ''}"
        for kill in figures["worker_kills"]
    )
    outage = figures["storage_outage"]
    latency = figures["latency_ms"]
    unexpected = figures["unexpected_outcomes"]
    as_documented = (
        "every request ended as docs/stream.md says, so the dead-lettered are the unservable"
        if unexpected == 0
        else f"{unexpected} requests ended otherwise than docs/stream.md says"
    )
    return (
        f"{figures['published']:,} requests, {sum(figures['poison_by_kind'].values())} poison; "
        f"worker SIGKILLed at {kills}; storage refused {outage['seconds']:g} s. "
        f"{figures['answered_ok']:,} ok, errors {errors}, {figures['dead_lettered']} "
        f"dead-lettered, {figures['lost']} lost ({as_documented}), "
        f"{figures['duplicate_results']} duplicate ({figures['differing_duplicates']} differing). "
        f"Publish → result p50 {_number(latency['outside_faults'].get('p50'), ',.0f')} ms "
        f"outside the faults, {_number(latency['overlapping_faults'].get('p50'), ',.0f')} ms "
        "across them"
    )


def _promotion(figures: dict[str, Any]) -> str:
    switches = "; ".join(
        f"{s['from']} → {s['to']}: last old answer "
        f"{_number(s['max_last_old_answer_seconds'], '.2f')} s after the alias write"
        for s in figures["switches"]
    )
    versions = ", ".join(f"v{v}: {n:,}" for v, n in figures["per_version"].items())
    if figures["event"] == "promoted":
        retrain = (
            f"retrain promoted v{figures['promoted_version']} "
            f"{_number(figures['upload_to_alias_seconds'], '.1f')} s after the upload"
        )
    else:
        retrain = f"retrain answered the upload with {figures['event']!r}, no promotion"
    history = " → ".join(str(v) for v in figures["alias_history"])
    return (
        f"{figures['requests']:,} requests at {_number(figures['requests_per_second'], ',.0f')}"
        f"/s, {figures['failed']} failed, {figures['answers_from_other_versions']} from another "
        f"version ({versions}); {retrain}, `mlctl rollback` to "
        f"v{figures['rollback_to_version']}; the alias went {history}; {switches} (refresh "
        f"{figures['refresh_seconds']:g} s)"
    )


def _registry_races(figures: dict[str, Any]) -> str:
    registrations, promotions = figures["registrations"], figures["promotions"]
    uploads, tampering = figures["uploads"], figures["tampering"]
    down = figures["storage_down_at_cold_start"]
    serving = figures["serving_process"]
    kept = tampering["answers_from_served_version"]
    after = tampering["answers_after_promotion"]
    refused = "refused" if after and kept == after else "NOT refused"
    logged = "logged" if tampering["refusal_logged"] else "NOT logged"
    if down["recovery_seconds"] is None:
        recovered = "not served again after storage came back"
    else:
        recovered = f"served again {down['recovery_seconds']:.2f} s after storage came back"
    restart = "after a restart" if down["restarted"] else "without a restart"
    return (
        f"{registrations['registrants']} registrations at once → "
        f"{registrations['versions_created']} versions, {registrations['overwritten']} "
        f"overwritten; {uploads['uploads']} uploads at once → "
        f"{uploads['events'].get('promoted', 0)} promoted, {len(set(uploads['versions']))} "
        f"distinct versions, {_number(uploads.get('alias_chain_breaks'))} breaks in the alias "
        "history; "
        f"{promotions['attempts']} concurrent promotions → {promotions['wins']} won, "
        f"{promotions['conflicts']} conflicts, {promotions['chain_breaks']} breaks in the "
        f"history; tampered version {tampering['tampered_version']} {refused} and {logged}: "
        f"{kept:,} of {after:,} answers from the served one; storage down "
        f"{down['down_seconds']:g} s at a cold start: {down['answers_503_with_retry_after']} "
        f"of {down['answers_while_down']} answers 503 with Retry-After, {recovered}, "
        f"{restart}; the process serving throughout: {serving['requests']:,} requests, "
        f"{serving['failed']} failed, slowest {_number(serving['max_seconds'], '.2f')} s"
    )


def _resources(figures: dict[str, Any]) -> str:
    workers = []
    for function, processes in sorted(figures["resources"].items()):
        for process, use in processes.items():
            if process.startswith("worker"):
                workers.append(
                    f"{function} RSS {use['rss_mib_warmup_end']:.0f} → "
                    f"{use['rss_mib_last']:.0f} MiB (max {use['rss_mib_max']:.0f}), fds "
                    f"{use['fds']['min']}–{use['fds']['max']}, threads "
                    f"{use['threads']['min']}–{use['threads']['max']}"
                )
    load = figures["load"]
    return (
        f"{figures['seconds']:g} s of mixed load ({sum(load['http'].values()):,} HTTP, "
        f"{load['stream_published']:,} stream, {sum(load['drift_windows'].values())} drift "
        f"windows, a dataset upload), warm-up {figures['warmup_seconds']:g} s; after it: "
        + "; ".join(workers)
    )


def _security(figures: dict[str, Any]) -> str:
    checkov, echo = figures["checkov"], figures["echo"]
    return (
        f"checkov {checkov['passed']} passed, {checkov['failed']} failed, "
        f"{checkov['skipped']} skipped; {echo['probes_sent']} echo "
        f"probes: {echo['echoes_found']} echoes of input in a response header"
    )


_DESCRIBERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "bad_input": _bad_input,
    "stream_faults": _stream_faults,
    "promotion": _promotion,
    "registry_races": _registry_races,
    "resources": _resources,
    "security": _security,
}


def replace_in_readme(text: str, readme: Path = README) -> None:
    content = readme.read_text()
    before, begin, rest = content.partition(BEGIN)
    _, end, after = rest.partition(END)
    if not begin or not end:
        raise SystemExit(f"{readme} has no {BEGIN} ... {END} block")
    readme.write_text(f"{before}{BEGIN}\n{text}\n{END}{after}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m soak.report", description=__doc__)
    parser.add_argument("--readme", action="store_true", help="replace the README's table")
    arguments = parser.parse_args()
    text = table(json.loads(RESULTS.read_text()))
    if arguments.readme:
        replace_in_readme(text)
    print(text)


if __name__ == "__main__":
    main()
