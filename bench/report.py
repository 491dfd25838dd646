"""The results as a table a person reads at the end of make bench."""

from __future__ import annotations

from typing import Any


def table(results: dict[str, Any]) -> str:
    machine = results["machine"]
    generator = machine["load_generator"]
    server = machine["server"]
    lines = [
        f"machine: {machine['cores']} cores ({machine['cpu']}), Python {machine['python']}, "
        f"numpy {machine['numpy']}; load: {generator['name']} {generator['version']}; "
        f"server: {server['workers']} uvicorn worker, {server['loop']}, {server['http']}",
        "python loop µs before each step (lower is faster; about 7 on a quiet core): "
        + ", ".join(f"{step} {us}" for step, us in machine.get("python_loop_us", {}).items()),
        "",
        _single(results["http_single"], results["framework_floor"]),
        _flask_floor(results["framework_floor"], results["flask_floor"]),
        _correct_floor(
            results["http_single"], results["correct_floor"], results["framework_floor"]
        ),
        _prediction_log(results["prediction_log"]),
        "",
        _stages(results["stages"]),
        "",
        _batch(results["http_batch"], results["codec_bound"]),
        _event_loop(results["event_loop"]),
        "",
    ]
    lines += [_stream(results), ""]
    cold = results["cold_start_ms"]
    lines.append(
        f"cold start  import main {cold['import']:,.0f} ms; "
        f"spawn → first prediction {cold['first_prediction']:,.0f} ms"
    )
    lines += [families(results), "", many_models(results), "", scoring(results["scoring"]), ""]
    lines += [search(results["search"]), ""]
    lines.append("train       fit and export on the first model's rows, held-out R²:")
    for family, trained in results["train"].items():
        lines.append(f"  {family:<24} {trained['seconds'] * 1000:9,.1f} ms  R² {trained['r2']:.4f}")
    return "\n".join(lines)


def families(results: dict[str, Any]) -> str:
    """Each family's serving figures, then what onnxruntime adds to a tree's instance."""
    setup, cost = results["families_setup"], results["onnx_cost"]
    level, floor = setup["concurrency"], setup["floor"]["req_per_s"][0]
    rows = [
        f"families: {len(setup['features'])} diabetes features, {setup['params']}; "
        f"served pinned by ?version=N; 1 instance at concurrency {level}, floor {floor:,.0f} req/s",
        f"{'':<25}{'R²':>7}{'req/s':>8}{'÷floor':>8}{'µs/req':>8}{'10k rows/s':>12}"
        f"{'sklearn':>12}{'artifact':>12}{'bytes':>11}{'load ms':>9}",
        f"{'':<25}{'':>7}{'':>8}{'':>8}{'+linear':>8}{'HTTP JSON':>12}"
        f"{'in process':>12}{'in process':>12}{'':>11}{'':>9}",
    ]
    for name, family in results["families"].items():
        rows.append(
            f"{'  ' + name:<25}{family['r2']:>7.3f}{family['single_req_per_s']:>8,.0f}"
            f"{family['single_over_floor']:>8.2f}{family['single_us_over_linear']:>8,.0f}"
            f"{family['batch_10k_rows_per_s']:>12,}{family['sklearn_rows_per_s']:>12,}"
            f"{family['artifact_rows_per_s']:>12,}{family['artifact_bytes']:>11,}"
            f"{family['load_ms']:>9.1f}"
        )
    imports = ", ".join(f"{name} {ms:,.0f} ms" for name, ms in cost["import_ms"].items())
    loads = ", ".join(f"{name} {ms:,.0f} ms" for name, ms in cost["load_ms"].items())
    installed = ", ".join(f"{name} {_mb(size)}" for name, size in cost["installed_bytes"].items())
    theirs = ", ".join(
        f"{name} {_mb(size)}" for name, size in cost["dependencies_installed_bytes"].items()
    )
    rows += [
        f"onnx cost: import after main {imports}; then a tree version's load {loads}",
        f"  installed {installed}; their dependencies nothing else needs: {theirs or 'none'}",
    ]
    return "\n".join(rows)


def many_models(results: dict[str, Any]) -> str:
    """Many models on one server, and the Open Inference Protocol beside /predict."""
    many, v2 = results["many_models"], results["open_inference"]
    levels = v2["concurrency"]
    lines = [
        f"many models: {many['models']['linear']} linear, then {many['models']['tree']} "
        f"tree models, each first requested on a fresh predict_batch",
    ]
    for kind in ("linear", "tree"):
        first = many[f"{kind}_first_request_ms"]
        imports = f" (the first, importing onnx: {many['tree_first_kib']:,} KiB)"
        lines.append(
            f"  {kind:<7} first request ms: first {first[0]:,.1f}, median of the rest "
            f"{_median(first[1:]):,.1f}; memory {many[f'{kind}_kib_per_model']:,} KiB a model"
            + (imports if kind == "tree" else "")
        )
    lines += [
        f"  1 instance at concurrency {many['concurrency']}: one model "
        f"{many['one_model_req_per_s']:,.0f} req/s, {many['models']['linear']} models in turn "
        f"{many['models_in_turn_req_per_s']:,.0f} ({many['in_turn_over_one']:.2f} of it)",
        "open inference, 1 instance   "
        + "   ".join(
            f"c{level}: /predict {p:,.0f} (÷floor {pr:.2f}), v2 {v:,.0f} (÷floor {vr:.2f}), "
            f"v2 ÷ /predict {ratio:.2f}"
            for level, p, pr, v, vr, ratio in zip(
                levels,
                v2["predict_req_per_s"],
                v2["predict_over_floor"],
                v2["v2_infer_req_per_s"],
                v2["v2_infer_over_floor"],
                v2["v2_over_predict"],
                strict=True,
            )
        ),
        "  10,000 rows/s: "
        + ", ".join(f"{name} {rate:,}" for name, rate in v2["batch_10k_rows_per_s"].items()),
    ]
    return "\n".join(lines)


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else float("nan")


def search(result: dict[str, Any]) -> str:
    diabetes = result["diabetes"]
    by_hand = ", ".join(f"{name} {r2:.4f}" for name, r2 in diabetes["by_hand_cv_r2"].items())
    lines = [
        f"search      diabetes ({diabetes['rows']} rows, {diabetes['features']} features): "
        f"{diabetes['winner']['family']} CV R² {diabetes['winner_cv_r2']:.4f} "
        f"({diabetes['candidates']} candidates, {diabetes['seconds']:.1f} s, stopped by "
        f"{diabetes['stopped_by']}); by hand {by_hand}; winner − best by hand "
        f"{diabetes['winner_minus_best_by_hand']:+.4f}; optimism {diabetes['optimism']:+.4f}"
    ]
    for point in result["synthetic"]:
        lines.append(
            f"            {point['rows']:,} rows: {point['candidates']} candidates in "
            f"{point['seconds']:.1f} s (budget {point['time_budget']:.0f} s, cv {point['cv']}), "
            f"{point['winner']['family']} CV R² {point['winner_cv_r2']:.4f}"
        )
    return "\n".join(lines)


def _mb(size: int) -> str:
    return f"{size / 1e6:,.1f} MB"


def _single(http: dict[str, Any], floor: dict[str, Any]) -> str:
    rows = [
        f"{'POST /predict, 1 instance':<27}{'req/s':>10}{'floor':>10}{'ratio':>8}"
        f"{'p50 ms':>9}{'floor':>8}{'p99 ms':>9}{'floor':>8}{'ratio':>8}",
    ]
    for index, level in enumerate(http["concurrency"]):
        rps, floor_rps = http["req_per_s"][index], floor["req_per_s"][index]
        p99, floor_p99 = http["p99_ms"][index], floor["p99_ms"][index]
        rows.append(
            f"{'  concurrency ' + str(level):<27}{rps:>10,.0f}{floor_rps:>10,.0f}"
            f"{_ratio(rps, floor_rps):>8}{http['p50_ms'][index]:>9.2f}"
            f"{floor['p50_ms'][index]:>8.2f}{p99:>9.2f}{floor_p99:>8.2f}{_ratio(p99, floor_p99):>8}"
        )
    return "\n".join(rows)


def _flask_floor(floor: dict[str, Any], flask: dict[str, Any]) -> str:
    rates = ", ".join(
        f"{level}: {rate:,.0f} ({_ratio(asgi, rate).strip()}x)"
        for level, rate, asgi in zip(
            flask["concurrency"], flask["req_per_s"], floor["req_per_s"], strict=True
        )
    )
    return f"{'  Flask path empty function':<27}req/s by concurrency {rates} (ASGI floor ÷ it)"


def _correct_floor(http: dict[str, Any], correct: dict[str, Any], floor: dict[str, Any]) -> str:
    rates = ", ".join(
        f"{level}: {rate:,.0f} (÷ floor {_ratio(rate, empty).strip()}, "
        f"predict_batch ÷ it {_ratio(ours, rate).strip()})"
        for level, rate, empty, ours in zip(
            correct["concurrency"],
            correct["req_per_s"],
            floor["req_per_s"],
            http["req_per_s"],
            strict=True,
        )
    )
    return f"{'  correct floor':<27}req/s by concurrency {rates}"


def _event_loop(loop: dict[str, Any]) -> str:
    rows = [
        f"GET /health beside {loop['batch_rows']:,}-row batches   probes  p50 ms  p99 ms"
        f"  max ms  batch ms  (a thread hop: {loop['hop_us']} µs)"
    ]
    for name, probe in loop["probe_during_batch"].items():
        rows.append(
            f"  {name:<41}{probe['probes']:>7}{probe['p50_ms']:>8.2f}{probe['p99_ms']:>8.2f}"
            f"{probe['max_ms']:>8.2f}{probe['batch_ms']:>10,.0f}"
        )
    return "\n".join(rows)


def _prediction_log(log: dict[str, Any]) -> str:
    ratios = ", ".join(
        f"{level}: {ratio:.3f}"
        for level, ratio in zip(log["concurrency"], log["ratio"], strict=True)
    )
    dropped = "none dropped" if log["dropped_lines"] == 0 else "records dropped: see its log"
    return f"{'  prediction log on/off':<27}req/s ratio by concurrency {ratios} ({dropped})"


def _stages(stages: dict[str, Any]) -> str:
    """The stages of both paths side by side, µs per request."""
    http, stream = stages["http"], stages["stream"]
    rows = [f"{'stage, µs per one-instance request':<36}{'POST /predict':>14}{'stream':>10}"]
    names = list(http["stages_us"]) + [n for n in stream["stages_us"] if n not in http["stages_us"]]
    for name in names:
        rows.append(
            f"{'  ' + name:<36}{_us(http['stages_us'].get(name)):>14}"
            f"{_us(stream['stages_us'].get(name)):>10}"
        )
    for key, label in (
        ("sum_of_stages_us", "sum of the stages"),
        ("end_to_end_us", "the whole function"),
        ("sum_over_end_to_end", "sum ÷ whole"),
    ):
        rows.append(f"{'  ' + label:<36}{http[key]:>14}{stream[key]:>10}")
    rows.append(
        f"  building a prediction record (its thread): {stages['prediction_log_build_us']} µs"
    )
    return "\n".join(rows)


def _us(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _batch(http: dict[str, Any], codec: dict[str, Any]) -> str:
    rows = [
        f"{'POST /predict, batches':<27}{'JSON rows/s':>14}{'codec':>14}{'ratio':>8}"
        f"{'CSV rows/s':>14}{'codec':>14}{'ratio':>8}",
    ]
    for index, size in enumerate(http["instances"]):
        json_rate, json_codec = http["json_rows_per_s"][index], codec["rows_per_s"][index]
        csv_rate, csv_codec = http["csv_rows_per_s"][index], codec["csv_rows_per_s"][index]
        rows.append(
            f"{f'  {size:,} instances':<27}{json_rate:>14,}{json_codec:>14,}"
            f"{_ratio(json_rate, json_codec):>8}{csv_rate:>14,}{csv_codec:>14,}"
            f"{_ratio(csv_rate, csv_codec):>8}"
        )
    return "\n".join(rows)


def _stream(results: dict[str, Any]) -> str:
    stream, floor = results["stream"], results["stream_floor"]
    correct = results["stream_correct_floor"]
    rows = [
        f"{'stream, ' + format(stream['messages'], ',') + ' one-instance requests':<42}"
        f"{'msg/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'own p50':>9}{'own p99':>9}",
    ]
    for label, figures in (
        ("stream (publish → result)", stream),
        ("stream_floor (publish → pushed)", floor),
        ("stream_correct_floor (publish → result)", correct),
    ):
        own = (
            f"{figures['handler_p50_ms']:>9.2f}{figures['handler_p99_ms']:>9.2f}"
            if "handler_p50_ms" in figures
            else ""
        )
        rows.append(
            f"{'  ' + label:<42}{figures['msgs_per_s']:>8,.0f}"
            f"{figures['p50_ms']:>9,.0f}{figures['p99_ms']:>9,.0f}{own}"
        )
    rows.append(
        f"  stream ÷ stream_floor {_ratio(stream['msgs_per_s'], floor['msgs_per_s'])}; "
        f"stream ÷ stream_correct_floor {_ratio(stream['msgs_per_s'], correct['msgs_per_s'])} "
        "(target 0.90); "
        "own: the function's latency_ms"
    )
    return "\n".join(rows)


def _ratio(value: float, reference: float) -> str:
    return f"{value / reference:.2f}" if reference else "-"


def scoring(figures: dict[str, Any]) -> str:
    job = figures["job"]
    return (
        f"scoring   {figures['rows']:,} CSV rows, mlctl score on the local runner: "
        f"{figures['job_rows_per_s']:,} rows/s ({job['wall_seconds']} s, peak RSS "
        f"{job['peak_rss_mib']} MiB); predict_batch in requests of 100,000: "
        f"{figures['http_batch_rows_per_s']:,} rows/s (job ÷ it {figures['job_over_http_batch']}); "
        f"codec bound {figures['codec_bound_rows_per_s']:,} rows/s "
        f"(job ÷ it {figures['job_over_codec_bound']})"
    )
