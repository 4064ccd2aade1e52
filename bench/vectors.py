"""Vector search benchmark: HNSW (cosine) recall@10 and speed against an exact scan, and how well the
offline embedder separates the demo's failure kinds.

1. Recall and speed. ``--rows`` (default 200000) failure-message-like vectors of ``--dim`` (default 1536,
   the embedding columns' size) are made in the server, with the structure of embedded error messages:
   ``--clusters`` failure kinds, each with 40 message templates, each message a template plus variation
   (``vector + vector`` of pgvector; reproducible from ``--seed``). ``--queries`` new messages made the
   same way are searched for their 10 nearest neighbours by cosine distance: first by an exact scan (no
   index), then through an HNSW index (m=16, ef_construction=64, pgvector's defaults, as the raw schema
   creates them) at each ``hnsw.ef_search`` of ``--ef``. It prints recall@10 against the exact scan and
   queries per second for each, and the smallest ef_search reaching recall@10 >= 0.95 at >= 20x the
   exact scan's speed, next to ``arc_eval.core.HNSW_EF_SEARCH``, the value the loader's nearest-neighbour
   queries set.
2. Cluster purity. Failures of the demo's simulated history (``arc_eval.simulator``) are embedded with
   the offline embedder and clustered as the loader clusters them (nearest earlier failure, similarity
   >= the cluster threshold); purity (share of failures whose cluster's majority kind is their own kind)
   and the number of clusters per kind are printed. An OpenAI-compatible embedder (ARC_EVAL_EMBEDDING_MODEL,
   _BASE_URL, _API_KEY, _DIMENSIONS) is measured the same way with ``--embedder env``.

Run: ``python bench/vectors.py [--rows 200000] [--dim 1536] [--queries 100] [--ef 10,20,40,80,160,320]``.
The server comes from ARC_EVAL_DSN, PG* or TIMESCALEDB_* variables, else the embedded server; the
benchmark works in a throwaway database.
"""

from __future__ import annotations

import argparse
import collections
import csv
import sys
import time
import uuid
from pathlib import Path

import psycopg

from arc_eval import core, simulator
from arc_eval.connection import resolve
from arc_eval.embeddings import HashingEmbedder, cosine_similarity, embedder_from_env

TEMPLATES_PER_CLUSTER = 40
POOL = 1000
MIN_RECALL = 0.95
MIN_SPEEDUP = 20.0


def make_vectors(
    conn: psycopg.Connection, rows: int, queries: int, dim: int, clusters: int, seed: int
) -> None:
    """Tables vecs (id, cluster, v) with ``rows`` vectors and queries (id, v) with ``queries`` more."""
    conn.execute("select setseed(%s)", (1 / (seed + 1),))
    # One random vector per correlated subquery row (the 0 * key makes it re-evaluated per row).
    rand = "array(select (random() * 2 - 1) * {scale} + 0 * k from generate_series(1, {dim}))::vector({dim})"
    for name, count, scale in (
        ("centers", clusters, 1.0),
        ("templates", clusters * TEMPLATES_PER_CLUSTER, 0.7),
        ("pool_a", POOL, 0.3),
        ("pool_b", POOL, 0.3),
    ):
        conn.execute(
            f"create temp table {name} as select k, {rand.format(scale=scale, dim=dim)} as v"
            f" from generate_series(0, {count - 1}) as k"
        )
        conn.execute(f"create unique index on {name} (k)")
    point = f"""select i, i %% {clusters} as cluster, c.v + t.v + a.v + b.v as v
        from generate_series(%s::bigint, %s::bigint) as i
        join centers as c on c.k = i %% {clusters}
        join templates as t on t.k = (i %% {clusters}) * {TEMPLATES_PER_CLUSTER}
             + (hashint8extended(i, {seed}) & 1023) %% {TEMPLATES_PER_CLUSTER}
        join pool_a as a on a.k = (hashint8extended(i, {seed + 1}) & 1023) %% {POOL}
        join pool_b as b on b.k = (hashint8extended(i, {seed + 2}) & 1023) %% {POOL}"""
    conn.execute(f"create table vecs (id bigint primary key, cluster int, v vector({dim}))")
    conn.execute(f"insert into vecs {point}", (0, rows - 1))
    conn.execute(f"create table queries as {point}", (rows, rows + queries - 1))
    conn.commit()
    conn.autocommit = True
    conn.execute("vacuum analyze vecs")


def search(conn: psycopg.Connection, queries: dict[int, str]) -> tuple[dict[int, list[int]], float]:
    """The 10 nearest vecs of each query (cosine) and the queries per second."""
    found = {}
    began = time.perf_counter()
    for q, vector in queries.items():
        found[q] = [
            r[0] for r in conn.execute("select id from vecs order by v <=> %s::vector limit 10", (vector,))
        ]
    return found, len(queries) / (time.perf_counter() - began)


def recall_table(args: argparse.Namespace) -> int | None:
    server = resolve()
    name = f"arc_eval_vectors_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server.conninfo, autocommit=True) as admin:
        admin.execute(f'create database "{name}"')
    try:
        with psycopg.connect(server.with_database(name).conninfo, autocommit=True) as conn:
            conn.execute("create extension if not exists vector")
            version = conn.execute("select extversion from pg_extension where extname = 'vector'").fetchone()[
                0
            ]
            began = time.perf_counter()
            with psycopg.connect(server.with_database(name).conninfo) as maker:
                make_vectors(maker, args.rows, args.queries, args.dim, args.clusters, args.seed)
                # the temporary tables go with this session; the queries table is a plain one
            print(
                f"pgvector {version}: {args.rows:,} vectors of {args.dim} dims in {args.clusters} kinds made in "
                f"{time.perf_counter() - began:.1f}s",
                flush=True,
            )
            queries = dict(conn.execute("select i, v::text from queries order by i").fetchall())
            conn.execute("set max_parallel_workers_per_gather = 0")  # one core per query, as a web request
            exact, exact_qps = search(conn, queries)
            conn.execute(f"set maintenance_work_mem = '{args.maintenance_work_mem}'")
            began = time.perf_counter()
            conn.execute("create index vecs_hnsw on vecs using hnsw (v vector_cosine_ops)")
            build = time.perf_counter() - began
            print(f"HNSW (m=16, ef_construction=64) built in {build:.1f}s\n", flush=True)
            conn.execute("set enable_seqscan = off")  # a small table's scan may look cheaper to the planner
            print(f"{'search':<26}{'recall@10':>10}{'queries/s':>12}{'speed-up':>10}")
            print(f"{'exact scan':<26}{1.0:>10.3f}{exact_qps:>12.1f}{1.0:>9.1f}x")
            chosen = None
            for ef in args.ef:
                conn.execute(f"set hnsw.ef_search = {ef}")
                plan = "\n".join(
                    r[0]
                    for r in conn.execute(
                        "explain select id from vecs order by v <=> %s::vector limit 10",
                        (next(iter(queries.values())),),
                    )
                )
                if "vecs_hnsw" not in plan:
                    raise RuntimeError(f"the HNSW index is not used:\n{plan}")
                found, qps = search(conn, queries)
                recall = sum(len(set(found[q]) & set(exact[q])) for q in queries) / (10 * len(queries))
                speedup = qps / exact_qps
                ok = recall >= MIN_RECALL and speedup >= MIN_SPEEDUP
                if ok and chosen is None:
                    chosen = ef
                print(
                    f"{f'hnsw ef_search={ef}':<26}{recall:>10.3f}{qps:>12.1f}{speedup:>9.1f}x{'  ok' if ok else ''}"
                )
            print(
                f"\nsmallest ef_search with recall@10 >= {MIN_RECALL} at >= {MIN_SPEEDUP:.0f}x the exact scan: "
                f"{chosen if chosen is not None else 'none'} (set by the loader's clustering query: "
                f"{core.HNSW_EF_SEARCH})"
            )
            return chosen
    finally:
        with psycopg.connect(server.conninfo, autocommit=True) as admin:
            admin.execute(f'drop database if exists "{name}" with (force)')


def demo_failures(simulations: int, seed: int) -> list[tuple[str, str]]:
    """(failure_type, error_message) of every failure in the demo's simulated history."""
    seeds = Path(__file__).resolve().parent.parent / "seeds" / "scenarios.csv"
    with seeds.open(newline="") as f:
        scenarios = list(csv.DictReader(f))
    plan = simulator.generate_plan(scenarios, seed=seed, simulations=simulations)
    return [
        (f.failure_type, f.error_message) for s in plan.simulations for o in s.outcomes for f in o.failures
    ]


def purity(failures: list[tuple[str, str]], embedder: object, threshold: float) -> None:
    """Cluster as the loader does (nearest earlier failure, similarity >= threshold) and print purity."""
    vectors = embedder.embed([message for _, message in failures])
    clusters: list[int] = []
    members: list[tuple[list[float], int]] = []
    for vector in vectors:
        best, best_similarity = None, -1.0
        for other, cluster in members:
            similarity = cosine_similarity(vector, other)
            if similarity > best_similarity:
                best, best_similarity = cluster, similarity
        cluster = best if best is not None and best_similarity >= threshold else len({c for _, c in members})
        clusters.append(cluster)
        if best is None or best_similarity < 0.9999:  # identical vectors add nothing to the search
            members.append((vector, cluster))
    by_cluster: dict[int, collections.Counter] = collections.defaultdict(collections.Counter)
    for (kind, _), cluster in zip(failures, clusters, strict=True):
        by_cluster[cluster][kind] += 1
    pure = sum(c.most_common(1)[0][1] for c in by_cluster.values()) / len(failures)
    kinds = collections.Counter(kind for kind, _ in failures)
    clusters_per_kind = {
        kind: sum(1 for c in by_cluster.values() if c.most_common(1)[0][0] == kind) for kind in sorted(kinds)
    }
    print(
        f"\n{type(embedder).__name__} ({getattr(embedder, 'model', 'offline')}), threshold {threshold}: "
        f"{len(failures)} failures of {len(kinds)} kinds -> {len(by_cluster)} clusters, purity {pure:.3f}"
    )
    print(f"{'failure kind':<26}{'failures':>10}{'clusters':>10}")
    for kind in sorted(kinds):
        print(f"{kind:<26}{kinds[kind]:>10}{clusters_per_kind[kind]:>10}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="vectors in the table (default 200000)")
    parser.add_argument("--dim", type=int, default=1536, help="dimensions (default 1536)")
    parser.add_argument("--clusters", type=int, default=25, help="failure kinds (default 25)")
    parser.add_argument("--queries", type=int, default=100, help="searches per setting (default 100)")
    parser.add_argument("--ef", default="10,20,40,80,160,320", help="hnsw.ef_search values")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--maintenance-work-mem", default="1GB", help="for the index build (default 1GB)")
    parser.add_argument("--simulations", type=int, default=60, help="demo simulations for the purity table")
    parser.add_argument(
        "--embedder", choices=("offline", "env"), default="offline", help="purity of the offline or the env's"
    )
    args = parser.parse_args(argv)
    try:
        args.ef = [int(x) for x in args.ef.split(",")]
    except ValueError:
        parser.error("--ef: expected a comma-separated list of integers")
    if args.rows < 100 or args.queries < 1 or args.dim < 2 or args.clusters < 1:
        parser.error("--rows >= 100, --queries >= 1, --dim >= 2 and --clusters >= 1 are required")
    recall_table(args)
    embedder = HashingEmbedder() if args.embedder == "offline" else embedder_from_env()
    purity(demo_failures(args.simulations, args.seed), embedder, core.DEFAULT_CLUSTER_THRESHOLD)
    return 0


if __name__ == "__main__":
    sys.exit(main())
