"""What `describe`, `leaderboard` and `performance` print for a person (`--json` prints the
data instead), and the aligned columns every table of mlctl uses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from model.leaderboard import HEADER, entries, rows, short_params

# describe shows the head of the leaderboard; `mlctl leaderboard N` shows it all.
DESCRIBED_CANDIDATES = 5


def columns(table: Sequence[tuple[str, ...]]) -> str:
    """Rows of cells, each column as wide as its widest cell."""
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in table
    )


def leaderboard(result: Mapping[str, Any]) -> str:
    """The leaderboard of a version (`mlctl leaderboard`), under what produced it."""
    lines = [f"model {result['model']} version {result['version']}: {_origin(result)}"]
    if result["leaderboard"]:
        lines.append(columns([HEADER, *rows(result["leaderboard"])]))
    search = result.get("search")
    if search:
        lines.append(_optimism(search))
    return "\n".join(lines)


def describe(described: Mapping[str, Any]) -> str:
    """A version (`mlctl describe`): what it is, how it scored, the gate's decision, the head
    of its leaderboard and its learning curve."""
    lineage = described.get("lineage", {})
    metrics = described.get("metrics", {})
    report = described.get("report") or {}
    evaluation = report.get("evaluation") or {}
    fields: list[tuple[str, str]] = [
        ("model", f"{described['model']} version {described['version']}"),
        ("family", f"{described['family']}: {short_params(described.get('params') or {})}"),
        ("format", str(described.get("format"))),
        ("features", ", ".join(described.get("features", []))),
        ("trained", _trained(lineage)),
        ("data", _data(lineage)),
    ]
    if metrics:
        fields.append(("test split", _test(metrics)))
    cv = evaluation.get("cv")
    if cv:
        fields.append((f"CV {cv['folds']}x{cv['repeats']}", _cv(cv)))
    if evaluation.get("search"):
        search = evaluation["search"]
        fields.append(("search", f"{_searched(search)}; {_optimism(search)}"))
    fields.append(("gate", described.get("gate", "pending")))
    fields += [("", reason) for reason in described.get("gate_reasons", [])]
    if not report:
        fields.append(("report", "none yet: the gate has not decided"))
    elif not evaluation:
        fields.append(("evaluation", "none: the attempt that trained this version died"))
    lines = [columns(fields)]
    found = entries(report)
    if found:
        shown = found[:DESCRIBED_CANDIDATES]
        more = f" ({len(shown)} of {len(found)}: mlctl leaderboard {described['version']})"
        lines += ["", "leaderboard" + (more if len(found) > len(shown) else "")]
        lines.append(columns([HEADER, *rows(shown)]))
    curve = evaluation.get("learning_curve")
    if curve:
        lines += ["", f"learning curve (R², mean ± std over {curve['folds']} folds)"]
        lines.append(columns(_curve_rows(curve)))
    return "\n".join(lines)


def _origin(result: Mapping[str, Any]) -> str:
    if result.get("search"):
        return f"{_searched(result['search'])}, cross-validation {result['cv']}"
    if result["leaderboard"]:
        return f"no search, the one model it trained, cross-validation {result['cv']}"
    return "no evaluation recorded: the attempt that trained this version died"


def _searched(search: Mapping[str, Any]) -> str:
    return (
        f"{search['candidates']} candidates of {', '.join(search['families'])} in "
        f"{search['seconds']:.2f} s (stopped by {search['stopped_by']})"
    )


def _optimism(search: Mapping[str, Any]) -> str:
    return (
        f"the winner's R² on fresh folds {search['winner_fresh_cv_r2']:.4f} "
        f"(optimism {search['optimism']:+.4f})"
    )


def _trained(lineage: Mapping[str, Any]) -> str:
    split = lineage.get("split", {})
    how = ", ".join(f"{key} {value}" for key, value in split.items() if key != "method")
    return (
        f"{lineage.get('created_at', '?')} on {lineage.get('rows', '?')} rows: "
        f"{lineage.get('train_rows', '?')} to train, {lineage.get('holdout_rows', '?')} to "
        f"test ({split.get('method', '?')}{', ' + how if how else ''})"
    )


def _data(lineage: Mapping[str, Any]) -> str:
    dataset = lineage.get("dataset") or {}
    where = f" from {dataset['uri']}" if dataset.get("uri") else ""
    return f"sha256 {str(lineage.get('data_sha256', '?'))[:16]}…{where}"


def _test(metrics: Mapping[str, Any]) -> str:
    return (
        f"R² {metrics['r2']:.4f}, RMSE {metrics['rmse']:.2f}, MAE {metrics['mae']:.2f} "
        f"on {metrics.get('rows', '?')} rows"
    )


def _cv(cv: Mapping[str, Any]) -> str:
    r2 = cv["r2"]
    low, high = r2["ci95"]
    return (
        f"R² {r2['mean']:.4f} ± {r2['std']:.4f} (95% interval of the mean {low:.4f} to "
        f"{high:.4f}), RMSE {cv['rmse']['mean']:.2f}, MAE {cv['mae']['mean']:.2f}"
    )


def _curve_rows(curve: Mapping[str, Any]) -> list[tuple[str, ...]]:
    table: list[tuple[str, ...]] = [("training rows", "train R²", "validation R²")]
    for size, train, train_std, validation, validation_std in zip(
        curve["sizes"],
        curve["train_r2_mean"],
        curve["train_r2_std"],
        curve["validation_r2_mean"],
        curve["validation_r2_std"],
        strict=True,
    ):
        table.append(
            (
                str(size),
                f"{train:.4f} ± {train_std:.4f}",
                f"{validation:.4f} ± {validation_std:.4f}",
            )
        )
    return table


def feedback_status(result: Mapping[str, Any]) -> str:
    """`mlctl feedback`: what the join made of the labels, or what was sent."""
    if "published" in result:
        return f"published {result['published']} labels to {result['topic']}"
    table = [("joined", str(result["joined"]))]
    table += [(f"  {model}", str(n)) for model, n in sorted(result["joined_by_model"].items())]
    table.append(("pending", str(result["pending"])))
    table.append(("unjoinable", str(result["unjoinable"])))
    reasons = result["unjoinable_by_reason"]
    table += [(f"  {reason}", str(n)) for reason, n in sorted(reasons.items())]
    return columns(table)


def quality_table(report: Mapping[str, Any]) -> str:
    """A live quality report (`mlctl performance`): one row per version and metric."""
    window = report["window"]
    lines = [
        f"model {report['model']}: {window['rows']} labels from {window['start']} to "
        f"{window['end']} ({window['invalid_rows']} unreadable), status {report['status']}",
        f"report {report['report']}",
        f"image  {report['image']}",
    ]
    table: list[tuple[str, ...]] = [
        ("version", "status", "labels", "metric", "live", "95% CI", "test", "worse past", "worse")
    ]
    for version in report["versions"]:
        for figure in version["metrics"]:
            low, high = figure["ci95"]
            table.append(
                (
                    str(version["version"]),
                    version["status"],
                    str(version["n"]),
                    figure["metric"],
                    f"{figure['value']:.4g}",
                    f"{low:.4g} to {high:.4g}",
                    _figure(figure["expected"]),
                    _figure(figure["threshold"]),
                    "yes" if figure["worse"] else "no",
                )
            )
    lines.append(columns(table))
    lines += [
        f"version {version['version']}: {version['message']}" for version in report["versions"]
    ]
    for key, label in (("alerts", "alerts sent"), ("in_cooldown", "in cooldown, not sent")):
        found = report.get(key) or []
        shown = ", ".join(f"version {alert['version']} {alert['metric']}" for alert in found)
        lines.append(f"{label}: {shown or 'none'}")
    return "\n".join(lines)


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"
