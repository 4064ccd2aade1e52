"""The offline rule set behind the ``rules`` provider.

Each rule reads the inputs dictionary built by :mod:`arc_eval.recommend.inputs` and emits items in the
same shape an LLM must answer with (see :class:`arc_eval.recommend.validate.Recommendation`); they pass the
same validation. Rules, per configuration in scope (current version = the one the patch applies to):

1. timeouts: >= 10% of the current version's runs, or >= 20% of a scenario's runs in 30 days (at least
   2 timeouts either way) -> performance_tuning raising the configuration's timeout by half (or
   setting ``timeout_ms``).
2. failing tool: a tool whose success rate on the current version over the window is < 80% over >= 3
   runs -> tool_optimization: restore a higher tool timeout an earlier version had, else double a tool
   timeout the failures name, else raise the tool's retries (``tool_config.<tool>``).
3. temperature regression: a version of the configuration raised the temperature and its paired
   comparison is a 'regression', or reliability fell by >= 0.03 with more scenarios worse than better
   (lower confidence), and the current temperature is still that high -> config_change back to the
   predecessor's temperature.
4. cheaper model: another version of the same configuration with a different model, reliability no
   more than 0.02 lower and average cost at most 60% of the current one -> config_change to that model
   (proposed only when the patch allow-list allows ``model``; the default does not).
5. never-failing scenarios: scenarios with >= 3 runs and no failure in the last 30 days ->
   scenario_addition asking for harder variants of them.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

from .patch import PatchError, current_policy, dump_patch, parse_patch

RULES_MODEL = "arc-eval-rules-v1"
TIMEOUT_RATE = 0.10
MIN_TIMEOUTS = 2
SCENARIO_TIMEOUT_RATE = 0.20
TOOL_SUCCESS_FLOOR = 0.80
MIN_TOOL_USES = 3
RELIABILITY_TOLERANCE = 0.02
CHEAPER_RATIO = 0.60
MIN_EXECUTIONS = 5
MIN_SCENARIO_RUNS = 3
TIMEOUT_KEYS = ("timeout_ms", "timeout_seconds", "timeout_s", "timeout")
MAX_TOOL_RETRIES = 5
TOOL_KEYS = ("tools", "tool_config", "tool_overrides")


def _num(value: Any, default: float = 0.0) -> float:
    try:
        result = float(value)
    except (TypeError, ValueError):
        return default
    return result if math.isfinite(result) else default


def _item(
    config_id: str,
    rec_type: str,
    source_type: str,
    source_id: str,
    description: str,
    patch: Mapping[str, Any],
    metric: str,
    expected_delta: float,
    basis: str,
    confidence: float,
) -> dict[str, Any]:
    return {
        "config_id": config_id,
        "recommendation_type": rec_type,
        "source_type": source_type,
        "source_id": source_id,
        "description": description,
        "suggested_yaml_changes": dump_patch(patch),
        "impact_estimate": {"metric": metric, "expected_delta": round(expected_delta, 4), "basis": basis},
        "confidence": round(min(max(confidence, 0.0), 1.0), 3),
    }


def _current_perf(inputs: Mapping[str, Any], cfg: Mapping[str, Any]) -> dict[str, Any] | None:
    for row in inputs.get("version_performance", []):
        if row.get("version_id") == cfg["version_id"]:
            return row
    return None


def _find_timeout(config: Any, prefix: str = "") -> tuple[str, float] | None:
    """The first numeric run timeout setting, depth-first, as (dotted path, value); tool settings excluded."""
    if isinstance(config, Mapping):
        for key in TIMEOUT_KEYS:
            value = config.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
                return f"{prefix}{key}", float(value)
        for key, value in config.items():
            if (
                isinstance(key, str)
                and "." not in key
                and key not in TOOL_KEYS
                and isinstance(value, Mapping)
            ):
                found = _find_timeout(value, f"{prefix}{key}.")
                if found:
                    return found
    return None


def _cluster_for(inputs: Mapping[str, Any], category: str, version_id: str, needle: str = "") -> str | None:
    best: tuple[int, str] | None = None
    for cluster in inputs.get("failure_clusters", []):
        if cluster.get("failure_category") != category:
            continue
        versions = cluster.get("version_ids") or []
        if versions and version_id not in versions:
            continue
        if needle and needle.lower() not in str(cluster.get("sample_error_message") or "").lower():
            continue
        count = int(_num(cluster.get("failure_count")))
        if best is None or count > best[0]:
            best = (count, str(cluster["pattern_cluster_id"]))
    return best[1] if best else None


def timeout_rule(inputs: Mapping[str, Any], cfg: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    perf = _current_perf(inputs, cfg) or {}
    executions = _num(perf.get("executions"))
    timeouts = _num(perf.get("timeout_count"))
    version_rate = timeouts / executions if executions > 0 else 0.0
    slow = sorted(
        (
            row
            for row in inputs.get("scenario_health", [])
            if row.get("config_id") == cfg["config_id"]
            and _num(row.get("timeouts")) >= MIN_TIMEOUTS
            and _num(row.get("timeouts")) / max(_num(row.get("executions")), 1) >= SCENARIO_TIMEOUT_RATE
        ),
        key=lambda r: (
            -_num(r.get("timeouts")) / max(_num(r.get("executions")), 1),
            str(r.get("scenario_id")),
        ),
    )
    version_hit = timeouts >= MIN_TIMEOUTS and version_rate >= TIMEOUT_RATE
    if not version_hit and not slow:
        return
    found = _find_timeout(cfg["config"])
    if found:
        path, current = found
        new_value: float = math.ceil(current * 1.5)
        change = f"raise {path} from {current:g} to {new_value:g}"
    else:
        path = "timeout_ms"
        avg_ms = _num(perf.get("avg_execution_time_ms"))
        new_value = max(60000, int(math.ceil(avg_ms * 2 / 1000.0)) * 1000)
        change = f"set timeout_ms to {new_value:g} (about twice the average run time of {avg_ms:.0f} ms)"
    evidence = []
    if version_hit:
        evidence.append(
            f"{int(timeouts)} of {int(executions)} runs of v{cfg['version_number']} ({version_rate:.0%}) timed out"
        )
    if slow:
        evidence.append(
            "in the 30-day scenario window "
            + ", ".join(
                f"{r['scenario_id']} timed out {int(_num(r.get('timeouts')))} of {int(_num(r.get('executions')))} times"
                for r in slow[:3]
            )
        )
    worst = max([version_rate] + [_num(r.get("timeouts")) / max(_num(r.get("executions")), 1) for r in slow])
    cluster = _cluster_for(inputs, "timeout", cfg["version_id"])
    source = ("pattern_analysis", cluster) if cluster else ("time_series_analysis", cfg["version_id"])
    yield _item(
        cfg["config_id"],
        "performance_tuning",
        *source,
        f"{cfg['name']}: {'; '.join(evidence)}; {change}.",
        {path: new_value},
        "timeout_rate",
        -worst / 2,
        "timeouts on the current configuration; assume half of them are slow runs, not stuck ones",
        min(0.9, 0.5 + worst / 2),
    )


def _tool_setting(config: Mapping[str, Any], tool: str, key: str) -> float | None:
    settings = config.get("tool_config")
    entry = settings.get(tool) if isinstance(settings, Mapping) else None
    value = entry.get(key) if isinstance(entry, Mapping) else None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None


def _tool_change(
    cfg: Mapping[str, Any], tool: str, cluster_message: str
) -> tuple[dict[str, Any], str] | None:
    """The patch for a failing tool and a sentence saying what it does; None if nothing is left to raise.

    A tool timeout that an earlier version of the configuration had higher is restored; a tool timeout
    named by the failures is doubled; otherwise the tool's retries (``tool_config.<tool>.max_retries``)
    go up by one.
    """
    config = cfg["config"]
    timeout = _tool_setting(config, tool, "timeout_ms")
    if timeout is not None:
        earlier = [
            _tool_setting(h.get("config") or {}, tool, "timeout_ms")
            for h in cfg.get("history", [])
            if h.get("version_id") != cfg["version_id"]
        ]
        higher = [t for t in earlier if t is not None and t > timeout]
        if higher:
            restored = max(higher)
            return (
                {f"tool_config.{tool}.timeout_ms": int(restored)},
                f"restore tool_config.{tool}.timeout_ms from {timeout:g} to {restored:g} ms, "
                "the value of an earlier version",
            )
        if any(word in cluster_message.lower() for word in ("timeout", "timed out", "within")):
            return (
                {f"tool_config.{tool}.timeout_ms": int(timeout * 2)},
                f"double tool_config.{tool}.timeout_ms from {timeout:g} to {timeout * 2:g} ms",
            )
    retries = _tool_setting(config, tool, "max_retries") or 0
    if retries >= MAX_TOOL_RETRIES:
        return None
    new = int(max(retries + 1, 2))
    return {
        f"tool_config.{tool}.max_retries": new
    }, f"raise tool_config.{tool}.max_retries from {retries:g} to {new}"


def _cluster_message(inputs: Mapping[str, Any], cluster_id: str | None) -> str:
    for cluster in inputs.get("failure_clusters", []):
        if str(cluster.get("pattern_cluster_id")) == cluster_id:
            return str(cluster.get("sample_error_message") or "")
    return ""


def tool_rule(inputs: Mapping[str, Any], cfg: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    for tool in inputs.get("tool_performance", []):
        if tool.get("version_id") != cfg["version_id"]:
            continue
        name = str(tool.get("tool_name") or "")
        uses = _num(tool.get("usage_count"))
        rate = _num(tool.get("avg_success_rate"), 1.0)
        if not name or "." in name or uses < MIN_TOOL_USES or rate >= TOOL_SUCCESS_FLOOR:
            continue
        cluster = _cluster_for(inputs, "tool_error", cfg["version_id"], needle=name)
        change = _tool_change(cfg, name, _cluster_message(inputs, cluster))
        if change is None:
            continue
        patch, sentence = change
        source = ("pattern_analysis", cluster) if cluster else ("time_series_analysis", cfg["version_id"])
        yield _item(
            cfg["config_id"],
            "tool_optimization",
            *source,
            f"Tool {name} succeeded in only {rate:.0%} of calls over {int(uses)} runs of "
            f"{cfg['name']} v{cfg['version_number']} in the window; {sentence}.",
            patch,
            f"tool_success_rate:{name}",
            (TOOL_SUCCESS_FLOOR + 0.1 - rate) / 2,
            f"average success rate {rate:.2f} over {int(uses)} runs of the current version",
            # A failure cluster naming the tool backs the diagnosis; the confidence grows with the shortfall.
            (0.6 if cluster else 0.5) + (TOOL_SUCCESS_FLOOR - rate),
        )


def temperature_rule(inputs: Mapping[str, Any], cfg: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    current_temp = cfg["config"].get("temperature")
    if not isinstance(current_temp, (int, float)) or isinstance(current_temp, bool):
        return
    perf = {row.get("version_id"): row for row in inputs.get("version_performance", [])}
    found = []
    for comp in inputs.get("version_comparisons", []):
        if comp.get("config_id") != cfg["config_id"]:
            continue
        after, before = perf.get(comp.get("version_id")), perf.get(comp.get("previous_version_id"))
        if after is None or before is None:
            continue
        raised_to = _num(after.get("temperature"), float("nan"))
        raised_from = _num(before.get("temperature"), float("nan"))
        if not (raised_from < raised_to <= float(current_temp)):
            continue
        delta = _num(comp.get("reliability_delta"))
        significant = comp.get("verdict") == "regression"
        falling = delta <= -0.03 and _num(comp.get("scenarios_regressed")) > _num(
            comp.get("scenarios_improved")
        )
        if significant or falling:
            found.append(
                (int(_num(after.get("version_number"))), comp, after, before, raised_from, delta, significant)
            )
    if not found:
        return
    number, comp, after, before, previous_temp, delta, significant = max(found, key=lambda f: f[0])
    diff_id = next(
        (
            d["diff_id"]
            for d in inputs.get("config_diffs", [])
            if d.get("version_before") == comp.get("previous_version_id")
            and d.get("version_after") == comp.get("version_id")
        ),
        None,
    )
    source = ("config_diff", diff_id) if diff_id else ("time_series_analysis", str(comp["version_id"]))
    p_value = comp.get("p_value")
    test = (
        f" (p={_num(p_value):.3g}" + (", significant)" if significant else ", not significant)")
        if p_value is not None
        else ""
    )
    yield _item(
        cfg["config_id"],
        "config_change",
        *source,
        f"{cfg['name']} v{number} raised temperature from {previous_temp:g} to {_num(after.get('temperature')):g} "
        f"and mean reliability on the same scenarios fell by {abs(delta):.3f}{test}; the current version still "
        f"runs at {float(current_temp):g}. Go back to temperature {previous_temp:g}.",
        {"temperature": previous_temp},
        "avg_reliability",
        abs(delta),
        f"paired comparison of v{number} with v{before.get('version_number')} on the scenarios both ran",
        0.85 if significant else 0.55,
    )


def cheaper_model_rule(inputs: Mapping[str, Any], cfg: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    current = _current_perf(inputs, cfg)
    model = cfg["config"].get("model")
    if not current or not isinstance(model, str) or _num(current.get("executions")) < MIN_EXECUTIONS:
        return
    cost = _num(current.get("avg_cost_usd"))
    reliability = _num(current.get("avg_reliability"))
    if cost <= 0:
        return
    best = None
    for row in inputs.get("version_performance", []):
        other_model = row.get("model")
        if row.get("config_id") != cfg["config_id"]:
            continue
        if not isinstance(other_model, str) or other_model == model:
            continue
        if _num(row.get("executions")) < MIN_EXECUTIONS:
            continue
        if _num(row.get("avg_reliability")) < reliability - RELIABILITY_TOLERANCE:
            continue
        other_cost = _num(row.get("avg_cost_usd"))
        if other_cost > cost * CHEAPER_RATIO:
            continue
        if best is None or other_cost < _num(best.get("avg_cost_usd")):
            best = row
    if best is None:
        return
    other_cost = _num(best.get("avg_cost_usd"))
    yield _item(
        cfg["config_id"],
        "config_change",
        "time_series_analysis",
        str(best["version_id"]),
        f"{cfg['name']} v{cfg['version_number']} on {model} costs ${cost:.4f} per run at reliability "
        f"{reliability:.3f}; {best.get('config_name')} v{best.get('version_number')} on {best['model']} "
        f"costs ${other_cost:.4f} at reliability {_num(best.get('avg_reliability')):.3f}. Switch to {best['model']}.",
        {"model": best["model"]},
        "avg_cost_usd",
        other_cost - cost,
        f"observed average cost per run of {best['model']} over {int(_num(best.get('executions')))} runs",
        0.7,
    )


def scenario_rule(inputs: Mapping[str, Any], cfg: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    easy = [
        row
        for row in inputs.get("scenario_health", [])
        if row.get("config_id") == cfg["config_id"]
        and _num(row.get("executions")) >= MIN_SCENARIO_RUNS
        and _num(row.get("failures")) == 0
        and row.get("last_simulation_id")
    ]
    if not easy:
        return
    easy.sort(key=lambda r: (-_num(r.get("executions")), str(r.get("scenario_id"))))
    names = [str(r["scenario_id"]) for r in easy]
    evaluation = cfg["config"].get("evaluation")
    existing = evaluation.get("harder_variants_of") if isinstance(evaluation, Mapping) else None
    existing = list(existing) if isinstance(existing, list) else []
    wanted = existing + [n for n in names if n not in existing]
    if wanted == existing:
        return
    runs = int(sum(_num(r.get("executions")) for r in easy))
    yield _item(
        cfg["config_id"],
        "scenario_addition",
        "simulation",
        str(easy[0]["last_simulation_id"]),
        f"{'Scenario' if len(names) == 1 else 'Scenarios'} {', '.join(names)} had no failure in the 30-day"
        f" scenario window ({runs} runs on {cfg['name']}); "
        "add harder variants of them so the evaluation still discriminates.",
        {"evaluation.harder_variants_of": wanted},
        "scenario_coverage",
        float(len(names)),
        "scenarios that never fail measure nothing; harder variants restore signal",
        0.6,
    )


RULES = (timeout_rule, tool_rule, temperature_rule, cheaper_model_rule, scenario_rule)


def recommend(inputs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """All items the rules derive from ``inputs``, configuration by configuration, except those whose
    patch the allow-list in force refuses (a model switch, unless the policy allows ``model``)."""
    policy = current_policy()
    items: list[dict[str, Any]] = []
    for cfg in inputs.get("configurations", []):
        for rule in RULES:
            for item in rule(inputs, cfg):
                try:
                    parse_patch(item["suggested_yaml_changes"], policy)
                except PatchError:
                    continue
                items.append(item)
    return items
