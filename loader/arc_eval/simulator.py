"""A simulated sandbox: plays agent runs over the seeded scenarios through the loader's public API.

Two halves:

* :func:`generate_plan` is pure. From a seed, a list of scenarios and a time anchor it builds every
  record (configurations and their versions, simulations, outcomes with trajectories, tool usage,
  failures). The same seed, scenarios and anchor always give the same plan.
* :func:`play` writes a plan with :class:`arc_eval.ArcEval`, exactly as sandbox code would.

The generated history has deliberate patterns that the analytics and the recommender should find:
latency and tokens depend on the model and cost follows the recommender's built-in price table
(:data:`arc_eval.recommend.pricing.DEFAULT_PRICES`); hard scenarios time out far
more often; the flaky tool ``web_search`` starts failing after the version of ``research-assistant``
that lowers its timeout; provider incidents cause model errors and retries; one temperature increase
lowers reliability; one model switch raises cost with no gain in reliability.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import random
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from . import raw_rules
from .recommend.pricing import DEFAULT_PRICES, Price

DEFAULT_SEED = 7
DEFAULT_SIMULATIONS = 90
WINDOW_DAYS = 30
MARGIN = timedelta(hours=6)
SIMULATOR_VERSION = "1"
# The owner of the simulated configurations, the same for every seed, so that histories of several
# seeds share the configurations (a configuration name is unique among active ones).
DEMO_USER_ID = uuid.UUID("0b5e7a1c-5e3d-4c1a-9d2e-a2c3e4f5d6b7")


@dataclass(frozen=True)
class ModelProfile:
    """How a model behaves in the simulation."""

    quality: float  # mean reliability of a clean run on an easy scenario
    token_factor: float  # multiplier on tokens per step
    ms_per_output_token: float
    base_latency_ms: float  # per LLM call, before output tokens
    error_rate: float  # chance that one LLM call fails with a provider error on a normal day


MODELS: dict[str, ModelProfile] = {
    "gpt-4o-mini": ModelProfile(0.80, 1.00, 7.0, 350.0, 0.006),
    "gpt-4o": ModelProfile(0.88, 1.10, 12.0, 550.0, 0.004),
    "gpt-4-turbo": ModelProfile(0.885, 1.20, 13.0, 700.0, 0.005),
    "claude-3-5-sonnet": ModelProfile(0.90, 1.15, 13.0, 650.0, 0.004),
    "claude-3-5-haiku": ModelProfile(0.82, 0.95, 6.0, 300.0, 0.006),
}


@dataclass(frozen=True)
class ToolProfile:
    """How a tool behaves: mean call duration, error rate per call, cost per call."""

    mean_ms: float
    error_rate: float
    cost_per_call: float = 0.0


TOOLS: dict[str, ToolProfile] = {
    "web_search": ToolProfile(1800.0, 0.03, 0.005),
    "http_request": ToolProfile(900.0, 0.02, 0.0),
    "code_interpreter": ToolProfile(2500.0, 0.03, 0.0),
    "file_reader": ToolProfile(300.0, 0.01, 0.0),
    "calculator": ToolProfile(60.0, 0.005, 0.0),
    "calendar": ToolProfile(400.0, 0.01, 0.0),
    "email_sender": ToolProfile(600.0, 0.01, 0.0),
    "sql_query": ToolProfile(800.0, 0.02, 0.0),
}
DEFAULT_TOOL = ToolProfile(800.0, 0.02, 0.0)
FLAKY_TOOL = "web_search"
# Below this configured timeout the flaky tool's calls fail often (its p90 latency is above it).
FLAKY_TIMEOUT_THRESHOLD_MS = 3000
FLAKY_ERROR_RATE = 0.4
# Chance that one LLM call fails on a day with a provider incident (two such days per model).
INCIDENT_ERROR_RATE = 0.15

DIFFICULTY = {
    # steps (min, max), chance of a looping agent, penalty on reliability, sandbox work when not estimated
    "easy": ((2, 4), 0.00, 0.00, 4000),
    "medium": ((4, 8), 0.03, 0.06, 15000),
    "hard": ((8, 14), 0.25, 0.15, 60000),
}

SYSTEM_PROMPTS = {
    "research-assistant": "You are a careful research assistant. Search, read primary sources and cite "
    "every claim; say when the evidence is thin.",
    "data-analyst": "You are a data analyst. Query the warehouse and files, check your numbers with code, "
    "and report results with the query or script that produced them.",
    "office-assistant": "You are an executive assistant. Manage the calendar and email on the user's "
    "behalf; confirm times in every attendee's time zone before sending.",
}


def _version(model: str, temperature: float, tools: list[str], **extra: Any) -> dict[str, Any]:
    config = {
        "model": model,
        "temperature": temperature,
        "tools": tools,
        "timeout_ms": 120000,
        "max_retries": 3,
    }
    config.update(extra)
    return config


def configuration_specs() -> list[dict[str, Any]]:
    """The three configurations and their versions, oldest version first (plain data, no prompt)."""
    research = ["web_search", "http_request"]
    analyst = ["sql_query", "code_interpreter", "file_reader"]
    office = ["calendar", "email_sender"]
    return [
        {
            "name": "research-assistant",
            "versions": [
                _version("gpt-4o", 0.2, research, tool_config={"web_search": {"timeout_ms": 8000}}),
                _version(
                    "gpt-4o", 0.2, [*research, "calculator"], tool_config={"web_search": {"timeout_ms": 8000}}
                ),
                # The version change after which the flaky tool fails: its timeout is cut to 2.5 s.
                _version(
                    "claude-3-5-sonnet",
                    0.2,
                    [*research, "calculator"],
                    tool_config={"web_search": {"timeout_ms": 2500}},
                ),
                _version(
                    "claude-3-5-sonnet",
                    0.4,
                    [*research, "calculator", "code_interpreter"],
                    tool_config={"web_search": {"timeout_ms": 2500}},
                ),
            ],
        },
        {
            "name": "data-analyst",
            "versions": [
                _version("gpt-4o", 0.1, analyst),
                # A model switch that costs about four times more for the same reliability.
                _version("gpt-4-turbo", 0.1, analyst),
                _version("gpt-4-turbo", 0.1, [*analyst, "calculator"]),
            ],
        },
        {
            "name": "office-assistant",
            "versions": [
                _version("gpt-4o-mini", 0.3, office),
                _version("gpt-4o-mini", 0.3, [*office, "file_reader", "calculator"]),
                # A temperature increase: more invalid outputs, lower reliability.
                _version("gpt-4o-mini", 0.9, [*office, "file_reader", "calculator"]),
            ],
        },
    ]


# ---------------------------------------------------------------------------------------------
# Plan records (plain data; equality is record equality)


@dataclass(frozen=True)
class Scenario:
    """What the simulator needs to know about a seeded scenario."""

    scenario_id: str
    difficulty: str = "medium"
    expected_tools: tuple[str, ...] = ()
    estimated_duration_ms: int | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Scenario:
        """Build from a row with ``scenario_id``, ``difficulty_level`` and ``expected_tools``.

        ``expected_tools`` may be a list of names, a list of ``{"name": ...}`` objects, an object
        keyed by tool name, or ``None``.
        """
        return cls(
            scenario_id=str(row["scenario_id"]),
            difficulty=str(row.get("difficulty_level") or row.get("difficulty") or "medium"),
            expected_tools=tuple(_tool_names(row.get("expected_tools"))),
            estimated_duration_ms=int(row["estimated_duration_ms"])
            if row.get("estimated_duration_ms")
            else None,
        )


def _tool_names(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, Mapping):
        if "tools" in value:
            return _tool_names(value["tools"])
        return [str(k) for k in value]
    if isinstance(value, str):
        return [value]
    names = []
    for item in value:
        if isinstance(item, Mapping):
            name = item.get("name") or item.get("tool") or item.get("tool_name")
            if name:
                names.append(str(name))
        else:
            names.append(str(item))
    return names


@dataclass(frozen=True)
class ToolUsageRecord:
    tool_name: str
    call_count: int
    avg_duration_ms: float
    success_rate: float
    tool_sequence: list[int]
    total_cost_usd: float
    error_types: list[str]


@dataclass(frozen=True)
class FailureRecord:
    failure_type: str
    failure_category: str
    error_message: str
    recovery_attempted: bool
    recovery_successful: bool
    resolution_steps: str | None


@dataclass(frozen=True)
class OutcomeRecord:
    scenario_id: str
    difficulty: str
    execution_time: datetime
    status: str  # success | error | timeout
    reliability_score: float
    execution_time_ms: float
    tokens_used: int
    cost_usd: float
    retry_count: int
    error_code: str | None
    error_category: str | None
    trajectory: dict[str, Any]
    metrics: dict[str, Any]
    modal_call_id: str
    sandbox_id: str
    tools: list[ToolUsageRecord]
    failures: list[FailureRecord]


@dataclass(frozen=True)
class SimulationRecord:
    simulation_id: uuid.UUID
    config_name: str
    version_index: int  # 0-based index into the configuration's versions
    simulation_name: str
    started_at: datetime
    completed_at: datetime
    scenario_ids: list[str]
    outcomes: list[OutcomeRecord]


@dataclass(frozen=True)
class ConfigurationRecord:
    name: str
    user_id: uuid.UUID
    sandbox_config: dict[str, Any]
    versions: list[dict[str, Any]]  # parsed YAML, oldest first
    version_starts: list[datetime]  # when each version went live in the simulated history
    suite: list[str]  # scenario ids each simulation of this configuration runs, in order


@dataclass(frozen=True)
class Plan:
    seed: int
    now: datetime
    user_id: uuid.UUID
    configurations: list[ConfigurationRecord]
    simulations: list[SimulationRecord]

    def counts(self) -> dict[str, int]:
        """Numbers of records of each kind in the plan."""
        outcomes = [o for s in self.simulations for o in s.outcomes]
        return {
            "configurations": len(self.configurations),
            "config_versions": sum(len(c.versions) for c in self.configurations),
            "simulations": len(self.simulations),
            "outcomes": len(outcomes),
            "tool_usage": sum(len(o.tools) for o in outcomes),
            "failure_patterns": sum(len(o.failures) for o in outcomes),
        }


# ---------------------------------------------------------------------------------------------
# Generation


def _hex(rng: random.Random, n: int) -> str:
    return f"{rng.getrandbits(4 * n):0{n}x}"


def _lognormal(rng: random.Random, mean: float, sigma: float = 0.35) -> float:
    """A lognormal draw whose mean is ``mean``."""
    return rng.lognormvariate(math.log(mean) - sigma * sigma / 2, sigma)


def _suite(rng: random.Random, tools: Sequence[str], scenarios: Sequence[Scenario], size: int) -> list[str]:
    """Scenarios for one configuration: the best tool matches, at least two of each difficulty."""
    toolset = set(tools)

    def coverage(s: Scenario) -> float:
        if not s.expected_tools:
            return 0.25
        return len(toolset.intersection(s.expected_tools)) / len(s.expected_tools)

    ranked = sorted(scenarios, key=lambda s: (-coverage(s), rng.random()))
    chosen: list[Scenario] = []
    for level in raw_rules.DIFFICULTY_LEVELS:
        chosen += [s for s in ranked if s.difficulty == level][:2]
    for s in ranked:
        if len(chosen) >= size:
            break
        if s not in chosen:
            chosen.append(s)
    order = {s.scenario_id: i for i, s in enumerate(scenarios)}
    return sorted((s.scenario_id for s in chosen), key=order.__getitem__)


def _incident_days(rng: random.Random) -> dict[str, set[int]]:
    """Per model, the days (counted back from ``now``) with a provider incident."""
    return {model: set(rng.sample(range(1, WINDOW_DAYS), 2)) for model in sorted(MODELS)}


def generate_plan(
    scenarios: Iterable[Scenario | Mapping[str, Any]],
    *,
    seed: int = DEFAULT_SEED,
    simulations: int = DEFAULT_SIMULATIONS,
    now: datetime | None = None,
    suite_size: int = 10,
) -> Plan:
    """Build the whole simulated history. Pure: same arguments, same plan.

    ``simulations`` is the total number of simulations, spread evenly over the configurations and
    over the ``WINDOW_DAYS`` days before ``now`` (less a six-hour margin). ``now`` defaults to the
    current minute (UTC).
    """
    scenario_list = [s if isinstance(s, Scenario) else Scenario.from_row(s) for s in scenarios]
    if not scenario_list:
        raise ValueError("no scenarios: seed them first (`arc-eval init`)")
    if simulations < 1:
        raise ValueError("simulations must be at least 1")
    scenario_list.sort(key=lambda s: s.scenario_id)
    by_id = {s.scenario_id: s for s in scenario_list}
    if now is None:
        now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    rng = random.Random(seed)
    user_id = DEMO_USER_ID
    # Start a little inside the window so that 30-day views still see the oldest run a while later.
    history = timedelta(days=WINDOW_DAYS) - MARGIN
    window_start = now - history
    incidents = _incident_days(rng)

    configurations: list[ConfigurationRecord] = []
    for spec in configuration_specs():
        versions = [{**v, "system_prompt": SYSTEM_PROMPTS[spec["name"]]} for v in spec["versions"]]
        span = history / len(versions)
        all_tools = sorted({t for v in versions for t in v["tools"]})
        configurations.append(
            ConfigurationRecord(
                name=spec["name"],
                user_id=user_id,
                sandbox_config={"image": "arc-eval-sandbox:latest", "cpu": 2.0, "memory_mb": 4096},
                versions=versions,
                version_starts=[window_start + i * span for i in range(len(versions))],
                suite=_suite(rng, all_tools, scenario_list, min(suite_size, len(scenario_list))),
            )
        )

    # Spread simulations round-robin over configurations and evenly over the window; the last one
    # starts at least an hour before ``now`` so that it ends before it.
    sims: list[SimulationRecord] = []
    step = (history - timedelta(hours=1)) / simulations
    for i in range(simulations):
        config = configurations[i % len(configurations)]
        started = window_start + step * i + timedelta(minutes=rng.uniform(0, step.total_seconds() / 120))
        started = started.replace(microsecond=0)
        version_index = max(j for j, start in enumerate(config.version_starts) if start <= started)
        sims.append(
            _simulate(rng, seed, simulations, i, config, version_index, started, by_id, incidents, now)
        )
    return Plan(seed=seed, now=now, user_id=user_id, configurations=configurations, simulations=sims)


def simulation_id(seed: int, simulations: int, index: int) -> uuid.UUID:
    """The id of simulation ``index`` of a plan: a function of the seed and the plan's size only."""
    digest = hashlib.sha256(f"arc-eval-simulator:{seed}:{simulations}:{index}".encode()).digest()
    return uuid.UUID(bytes=digest[:16], version=4)


def _simulate(
    rng: random.Random,
    seed: int,
    total: int,
    index: int,
    config: ConfigurationRecord,
    version_index: int,
    started: datetime,
    scenarios: Mapping[str, Scenario],
    incidents: Mapping[str, set[int]],
    now: datetime,
) -> SimulationRecord:
    version = config.versions[version_index]
    clock = started
    outcomes = []
    for scenario_id in config.suite:
        clock += timedelta(seconds=rng.uniform(1, 5))
        day_back = (now - clock).days
        incident = day_back in incidents[version["model"]]
        outcome = _run_scenario(rng, scenarios[scenario_id], version, clock, incident)
        outcomes.append(outcome)
        clock += timedelta(milliseconds=outcome.execution_time_ms)
    completed = (clock + timedelta(seconds=2)).replace(microsecond=0)
    return SimulationRecord(
        simulation_id=simulation_id(seed, total, index),
        config_name=config.name,
        version_index=version_index,
        simulation_name=f"{config.name} v{version_index + 1} run {index + 1:03d}",
        started_at=started,
        completed_at=min(completed, now),
        scenario_ids=list(config.suite),
        outcomes=outcomes,
    )


def _tool_error_rate(tool: str, version: Mapping[str, Any]) -> float:
    profile = TOOLS.get(tool, DEFAULT_TOOL)
    if tool == FLAKY_TOOL:
        timeout = version.get("tool_config", {}).get(tool, {}).get("timeout_ms", 10000)
        if timeout < FLAKY_TIMEOUT_THRESHOLD_MS:
            return FLAKY_ERROR_RATE
    return profile.error_rate


def _run_scenario(
    rng: random.Random,
    scenario: Scenario,
    version: Mapping[str, Any],
    start: datetime,
    incident: bool,
) -> OutcomeRecord:
    model_name = version["model"]
    model = MODELS[model_name]
    price: Price = DEFAULT_PRICES[model_name]
    temperature = float(version["temperature"])
    tools = list(version["tools"])
    timeout_ms = int(version["timeout_ms"])
    max_retries = int(version["max_retries"])
    (lo, hi), loop_chance, penalty, work_ms = DIFFICULTY.get(scenario.difficulty, DIFFICULTY["medium"])
    n_steps = rng.randint(lo, hi)
    looping = rng.random() < loop_chance
    if looping:
        n_steps = int(n_steps * rng.uniform(2.5, 4.0))
    usable = [t for t in scenario.expected_tools if t in tools] or tools
    missing = [t for t in scenario.expected_tools if t not in tools]
    model_error_rate = INCIDENT_ERROR_RATE if incident else model.error_rate
    flaky_rate = {t: _tool_error_rate(t, version) for t in tools}

    steps: list[dict[str, Any]] = []
    tool_calls: dict[str, list[tuple[int, float, bool, str | None]]] = {}
    failures: list[FailureRecord] = []
    # Time the sandbox spends outside model and tool calls (setup, running code, waiting on I/O).
    elapsed = _lognormal(rng, 0.45 * (scenario.estimated_duration_ms or work_ms), 0.6)
    tokens_in = tokens_out = 0
    retries = 0
    status = "success"
    error_code = error_category = None
    context = 600 + 40 * len(tools)

    for i in range(n_steps):
        # One LLM call per step, with retries on provider errors.
        attempts = 0
        while True:
            out_tokens = int(_lognormal(rng, 220 * model.token_factor))
            call_ms = model.base_latency_ms + out_tokens * model.ms_per_output_token
            call_ms = _lognormal(rng, call_ms, 0.25)
            if rng.random() >= model_error_rate:
                break
            attempts += 1
            elapsed += call_ms * 0.3 + 1000 * 2 ** (attempts - 1)  # failed call + backoff
            kind = rng.choice(("RateLimitError", "APIError"))
            if attempts > max_retries:
                status, error_code, error_category = "error", "MODEL_UNAVAILABLE", "model_error"
                failures.append(_model_failure(rng, kind, model_name, attempts, recovered=False))
                break
            retries += 1
            failures.append(_model_failure(rng, kind, model_name, attempts, recovered=True))
        if status != "success":
            break
        tokens_in += int(context * model.token_factor)
        tokens_out += out_tokens
        context += out_tokens + 150
        elapsed += call_ms
        steps.append(
            {"index": len(steps), "type": "llm", "duration_ms": round(call_ms, 1), "tokens": out_tokens}
        )

        # Most steps call a tool; a looping agent keeps calling the same one.
        if i < n_steps - 1 and rng.random() < 0.8:
            tool = usable[0] if looping else rng.choice(usable)
            profile = TOOLS.get(tool, DEFAULT_TOOL)
            ms = _lognormal(rng, profile.mean_ms * (1.6 if scenario.difficulty == "hard" else 1.0), 0.5)
            ok = rng.random() >= flaky_rate[tool]
            error = None if ok else _tool_error(rng, tool, version)
            if not ok and tool == FLAKY_TOOL:
                ms = float(version.get("tool_config", {}).get(tool, {}).get("timeout_ms", ms))
            elapsed += ms
            tool_calls.setdefault(tool, []).append((len(steps), ms, ok, error))
            step = {"index": len(steps), "type": "tool", "tool": tool, "duration_ms": round(ms, 1), "ok": ok}
            if error:
                step["error"] = error
            steps.append(step)
            if not ok:
                # The agent retries the call once; a second failure ends the run.
                recovered = rng.random() >= flaky_rate[tool]
                failures.append(
                    FailureRecord(
                        failure_type=f"{tool}_error",
                        failure_category="tool_error",
                        error_message=error or "",
                        recovery_attempted=True,
                        recovery_successful=recovered,
                        resolution_steps="retried the tool call" if recovered else None,
                    )
                )
                retry_ms = _lognormal(rng, profile.mean_ms, 0.5)
                elapsed += retry_ms
                retry_error = None if recovered else _tool_error(rng, tool, version)
                tool_calls[tool].append((len(steps), retry_ms, recovered, retry_error))
                steps.append(
                    {"index": len(steps), "type": "tool", "tool": tool, "duration_ms": round(retry_ms, 1)}
                    | {"ok": recovered, "retry": True}
                    | ({"error": retry_error} if retry_error else {})
                )
                if not recovered:
                    status, error_code, error_category = "error", "TOOL_FAILED", "tool_error"
                    break
        if elapsed > timeout_ms:
            status, error_code, error_category = "timeout", "SCENARIO_TIMEOUT", "timeout"
            failures.append(
                FailureRecord(
                    failure_type="scenario_timeout",
                    failure_category="timeout",
                    error_message=(
                        f"TimeoutError: scenario {scenario.scenario_id} exceeded {timeout_ms} ms "
                        f"at step {len(steps)} (sandbox sb-{_hex(rng, 8)})"
                    ),
                    recovery_attempted=False,
                    recovery_successful=False,
                    resolution_steps=None,
                )
            )
            elapsed = float(timeout_ms)
            break

    # Outputs at high temperature fail validation more often.
    if status == "success" and rng.random() < 0.02 + max(0.0, temperature - 0.5) * 0.45:
        field_name = rng.choice(("answer", "citations", "resolution", "summary"))
        status, error_code, error_category = "error", "OUTPUT_INVALID", "validation_error"
        failures.append(
            FailureRecord(
                failure_type="output_validation",
                failure_category="validation_error",
                error_message=(
                    f"ValidationError: final output is missing required field '{field_name}' "
                    f"(scenario {scenario.scenario_id}, step {len(steps)})"
                ),
                recovery_attempted=False,
                recovery_successful=False,
                resolution_steps=None,
            )
        )

    tool_cost = sum(TOOLS.get(t, DEFAULT_TOOL).cost_per_call * len(calls) for t, calls in tool_calls.items())
    cost = (tokens_in * price.prompt_per_1k + tokens_out * price.completion_per_1k) / 1000 + tool_cost
    if status == "success":
        quality = model.quality - penalty - 0.06 * len(missing) - max(0.0, temperature - 0.5) * 0.35
        reliability = min(1.0, max(0.0, rng.gauss(quality, 0.05)))
    elif status == "timeout":
        reliability = rng.uniform(0.0, 0.2)
    else:
        reliability = rng.uniform(0.0, 0.3)
    usage = [
        ToolUsageRecord(
            tool_name=tool,
            call_count=len(calls),
            avg_duration_ms=round(sum(c[1] for c in calls) / len(calls), 1),
            success_rate=round(sum(1 for c in calls if c[2]) / len(calls), 4),
            tool_sequence=[c[0] for c in calls],
            total_cost_usd=round(TOOLS.get(tool, DEFAULT_TOOL).cost_per_call * len(calls), 6),
            error_types=sorted({c[3].split(":")[0] for c in calls if c[3]}),
        )
        for tool, calls in sorted(tool_calls.items())
    ]
    trajectory = {
        "start_time": start.isoformat(),
        "status": status,
        "model": model_name,
        "steps": steps,
        "tool_calls": sum(len(c) for c in tool_calls.values()),
        "final_answer": "completed the task" if status == "success" else None,
    }
    return OutcomeRecord(
        scenario_id=scenario.scenario_id,
        difficulty=scenario.difficulty,
        execution_time=start,
        status=status,
        reliability_score=round(reliability, 4),
        execution_time_ms=round(elapsed, 1),
        tokens_used=tokens_in + tokens_out,
        cost_usd=round(cost, 6),
        retry_count=retries,
        error_code=error_code,
        error_category=error_category,
        trajectory=trajectory,
        metrics={
            "steps": len(steps),
            "input_tokens": tokens_in,
            "output_tokens": tokens_out,
            "missing_tools": missing,
            "looping": looping,
        },
        modal_call_id=f"fc-{_hex(rng, 12)}",
        sandbox_id=f"sb-{_hex(rng, 8)}",
        tools=usage,
        failures=failures,
    )


def _model_failure(
    rng: random.Random, kind: str, model: str, attempt: int, *, recovered: bool
) -> FailureRecord:
    if kind == "RateLimitError":
        message = (
            f"RateLimitError: rate limit exceeded for model {model} (request req_{_hex(rng, 10)}); "
            f"retry after {rng.randint(1, 30)} s"
        )
    else:
        message = f"APIError: upstream returned 50{rng.choice((2, 3))} for model {model} after {rng.randint(200, 9000)} ms"
    return FailureRecord(
        failure_type="rate_limit" if kind == "RateLimitError" else "provider_5xx",
        failure_category="model_error",
        error_message=message,
        recovery_attempted=True,
        recovery_successful=recovered,
        resolution_steps=f"retried with backoff (attempt {attempt})" if recovered else None,
    )


def _tool_error(rng: random.Random, tool: str, version: Mapping[str, Any]) -> str:
    if tool == FLAKY_TOOL:
        timeout = version.get("tool_config", {}).get(tool, {}).get("timeout_ms", 10000)
        return f"ToolTimeoutError: {tool} did not answer within {timeout} ms (query q_{_hex(rng, 8)})"
    if tool in ("http_request", "calendar", "email_sender", "sql_query"):
        return f"ToolError: {tool} failed: HTTP {rng.choice((500, 502, 504))} from upstream (request {_hex(rng, 12)})"
    return f"ToolError: {tool} exited with status {rng.randint(1, 2)} (job {rng.randint(10000, 99999)})"


# ---------------------------------------------------------------------------------------------
# Playing a plan through the loader


Progress = Callable[[int, int], None]


def yaml_text(config: Mapping[str, Any]) -> str:
    """The YAML a user would write for a version (stable key order)."""
    import yaml

    order = ["model", "temperature", "system_prompt", "tools", "tool_config", "timeout_ms", "max_retries"]
    ordered = {k: config[k] for k in order if k in config}
    ordered.update({k: v for k, v in config.items() if k not in ordered})
    return yaml.safe_dump(ordered, sort_keys=False, width=100)


def play(plan: Plan, db: Any, *, progress: Progress | None = None) -> dict[str, int]:
    """Write ``plan`` through the loader client ``db`` (an open :class:`arc_eval.ArcEval`).

    Returns the number of records written of each kind, and ``skipped_simulations``: simulations whose
    id (see :func:`simulation_id`) the database already holds, so playing the same seed and size twice
    adds nothing. Configurations and versions are deduplicated by the loader. When it returns, every
    record has been flushed to the database.
    """
    written = {k: 0 for k in plan.counts()}
    written["skipped_simulations"] = 0
    versions: dict[tuple[str, int], Any] = {}
    for config in plan.configurations:
        config_id = db.create_configuration(
            config.name, config.user_id, sandbox_config=config.sandbox_config, modal_app_id="arc-eval-sandbox"
        )
        written["configurations"] += 1  # created, or the existing one of this name and owner
        for i, version in enumerate(config.versions):
            v = db.create_config_version(
                config_id, yaml_text(version), generated_by="api", user_id=config.user_id
            )
            versions[(config.name, i)] = v.version_id
            written["config_versions"] += int(v.created)  # 0 when the loader found identical content

    total = len(plan.simulations)
    for n, sim in enumerate(plan.simulations, start=1):
        if db.get_simulation(sim.simulation_id) is not None:
            written["skipped_simulations"] += 1
            if progress:
                progress(n, total)
            continue
        _write_simulation(db, sim, versions[(sim.config_name, sim.version_index)], plan.seed, written)
        if progress:
            progress(n, total)
    db.flush()
    return written


def _write_simulation(
    db: Any, sim: SimulationRecord, version_id: Any, seed: int, written: dict[str, int]
) -> None:
    """Write one simulation of version ``version_id`` with its outcomes, tools and failures; count them."""
    sim_id = db.start_simulation(
        version_id,
        sim.scenario_ids,
        sim.simulation_name,
        simulation_id=sim.simulation_id,
        started_at=sim.started_at,
        modal_app_id="arc-eval-sandbox",
        metadata={"simulator": SIMULATOR_VERSION, "seed": seed},
    )
    written["simulations"] += 1
    for outcome in sim.outcomes:
        db.set_scenario_status(sim_id, outcome.scenario_id, "running", at=outcome.execution_time)
        outcome_id = db.record_outcome(
            simulation_id=sim_id,
            scenario_id=outcome.scenario_id,
            status=outcome.status,
            reliability_score=outcome.reliability_score,
            execution_time_ms=outcome.execution_time_ms,
            tokens_used=outcome.tokens_used,
            cost_usd=outcome.cost_usd,
            trajectory=outcome.trajectory,
            execution_time=outcome.execution_time,
            metrics=outcome.metrics,
            modal_call_id=outcome.modal_call_id,
            sandbox_id=outcome.sandbox_id,
            retry_count=outcome.retry_count,
            error_code=outcome.error_code,
            error_category=outcome.error_category,
            execution_metadata={"simulator": SIMULATOR_VERSION, "difficulty": outcome.difficulty},
        )
        written["outcomes"] += 1
        for usage in outcome.tools:
            db.record_tool_usage(
                outcome_id=outcome_id,
                execution_time=outcome.execution_time,
                tool_name=usage.tool_name,
                call_count=usage.call_count,
                avg_duration_ms=usage.avg_duration_ms,
                success_rate=usage.success_rate,
                tool_sequence=usage.tool_sequence,
                total_cost_usd=usage.total_cost_usd,
                error_types=usage.error_types or None,
            )
            written["tool_usage"] += 1
        for failure in outcome.failures:
            db.record_failure(
                outcome_id=outcome_id,
                execution_time=outcome.execution_time,
                failure_type=failure.failure_type,
                failure_category=failure.failure_category,
                error_message=failure.error_message,
                recovery_attempted=failure.recovery_attempted,
                recovery_successful=failure.recovery_successful,
                resolution_steps=failure.resolution_steps,
            )
            written["failure_patterns"] += 1
        finished = outcome.execution_time + timedelta(milliseconds=outcome.execution_time_ms)
        db.set_scenario_status(
            sim_id,
            outcome.scenario_id,
            "completed" if outcome.status == "success" else "failed",
            at=finished,
            retry_count=outcome.retry_count,
            modal_call_id=outcome.modal_call_id,
        )
    db.flush()
    db.finish_simulation(sim_id, "completed", completed_at=sim.completed_at)


def simulate_version(
    version: Mapping[str, Any],
    scenarios: Sequence[Scenario],
    *,
    name: str,
    seed: int = DEFAULT_SEED,
    runs: int = 2,
    start: datetime,
) -> list[SimulationRecord]:
    """``runs`` simulations, one after the other from ``start``, of one configuration version (its parsed
    configuration) over ``scenarios``, with the same behaviour model as :func:`generate_plan` and no
    provider incident. Pure: the same arguments give the same records (ids from ``name``, ``seed`` and
    the run)."""
    rng = random.Random(f"{seed}:{name}")
    config = ConfigurationRecord(
        name=name,
        user_id=DEMO_USER_ID,
        sandbox_config={},
        versions=[dict(version)],
        version_starts=[start],
        suite=[s.scenario_id for s in scenarios],
    )
    by_id = {s.scenario_id: s for s in scenarios}
    quiet: dict[str, set[int]] = {str(version["model"]): set()}
    sims: list[SimulationRecord] = []
    clock = start
    for run in range(runs):
        sim = _simulate(rng, seed, runs, run, config, 0, clock, by_id, quiet, clock + timedelta(days=1))
        digest = hashlib.sha256(f"arc-eval-simulator:{name}:{seed}:{run}".encode()).digest()
        sims.append(
            dataclasses.replace(
                sim,
                simulation_id=uuid.UUID(bytes=digest[:16], version=4),
                simulation_name=f"{name} run {run + 1}",
            )
        )
        clock = sim.completed_at + timedelta(seconds=5)
    return sims


def play_version(
    db: Any, version_id: Any, simulations: Sequence[SimulationRecord], seed: int
) -> dict[str, int]:
    """Write ``simulations`` (from :func:`simulate_version`) of ``version_id`` through the loader client
    ``db``; skips those already written. Returns the records written of each kind."""
    written = {
        "simulations": 0,
        "outcomes": 0,
        "tool_usage": 0,
        "failure_patterns": 0,
        "skipped_simulations": 0,
    }
    for sim in simulations:
        if db.get_simulation(sim.simulation_id) is not None:
            written["skipped_simulations"] += 1
            continue
        _write_simulation(db, sim, version_id, seed, written)
    db.flush()
    return written


def stable_digest(plan: Plan) -> str:
    """A SHA-256 over every record of the plan: equal digests mean equal plans."""
    import dataclasses
    import json

    payload = json.dumps(dataclasses.asdict(plan), sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()
