#!/usr/bin/env python3
"""The search benchmark of issue 15: `rewardsmith search` on every env × several search seeds,
one table of human-normalised scores (HNS), their median, and the wall time per search.

Usage
    cargo build --release && python3 benches/search_hns.py [--envs pendulum reacher] [--seeds 0 1 2]
    Needs only Python 3. Options: --envs (default: all eight), --seeds (default 0 1 2), -k and
    --generations (default 8 × 4 on the five small envs, 4 × 3 on quadcopter, pusher and ant),
    --steps (default: each env's budget), --extra="ARGS" (passed to every search, e.g.
    --extra="--feedback synthetic"; the "=" lets the value start with "--"), --out DIR (runs
    kept there; default a temporary folder), --json, --rewardsmith PATH.

What is measured
    For each env and seed:
        rewardsmith search --env ENV -k K --generations G --seed S --no-cache --no-gif -q --out DIR
    i.e. the whole search with the offline proposer (no API key), its confirmation round, and the
    final evaluation: the winner, human.rhai and sparse.rhai retrained on 5 fresh seeds. Read from
    DIR/summary.json: the HNS (best − sparse) / |human − sparse| on the final means, or "n/m" where
    the search itself says it is not meaningful (human and sparse within either's standard
    deviation, which counts as a miss); wall time is the search process's, build excluded.
    Target (issue 15): median HNS ≥ 1.0 on at least 6 of 8 envs; each small-env search under 10
    minutes on 2 cores.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import machine_info  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL = ["cartpole", "pendulum", "cartpole-swingup", "reacher", "ball-balance"]
LARGE = ["quadcopter", "pusher", "ant"]
# K × G per env group: the 8 × 4 on the small envs; a stated, smaller budget on the
# expensive ones (a search there is K·G + confirmations + 15 trainings of 300-400k steps).
GRID = {**{e: (8, 4) for e in SMALL}, **{e: (4, 3) for e in LARGE}}


def search(binary, env, seed, k, generations, steps, extra, out):
    cmd = [binary, "search", "--env", env, "-k", str(k), "--generations", str(generations), "--seed", str(seed),
           "--no-cache", "--no-gif", "-q", "--out", out] + (["--steps", str(steps)] if steps else []) + extra
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.monotonic() - start
    if proc.returncode != 0:
        return {"env": env, "seed": seed, "error": proc.stderr.strip()[-500:], "wall_s": wall}
    with open(os.path.join(out, "summary.json")) as f:
        summary = json.load(f)
    final = summary.get("final_evaluation") or {}
    return {
        "env": env, "seed": seed, "k": k, "generations": generations, "wall_s": round(wall, 1),
        "hns": final.get("human_normalized_score"),
        "not_meaningful": final.get("hns_not_meaningful"),
        "entries": {e["name"]: [e["fitness_mean"], e["fitness_std"]] for e in final.get("entries", [])},
        "best": summary.get("best"),
    }


def cell(r):
    if "error" in r:
        return "failed"
    if r["not_meaningful"]:
        return "n/m"
    return "-" if r["hns"] is None else f"{r['hns']:.2f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rewardsmith", default=os.path.join(REPO, "target", "release", "rewardsmith"))
    ap.add_argument("--envs", nargs="+", default=SMALL + LARGE)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("-k", type=int)
    ap.add_argument("--generations", type=int)
    ap.add_argument("--steps", type=int)
    ap.add_argument("--extra", default="", help="more arguments for every search, as one string")
    ap.add_argument("--out")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="search-hns-")
    rows = []
    for env in args.envs:
        k, generations = GRID.get(env, (4, 3))
        k, generations = args.k or k, args.generations or generations
        results = [search(args.rewardsmith, env, s, k, generations, args.steps, args.extra.split(), os.path.join(out, f"{env}-{s}"))
                   for s in args.seeds]
        for r in results:
            if "error" in r:
                print(f"{env} seed {r['seed']}: {r['error']}", file=sys.stderr)
        # A miss counts as below the target: n/m and failures sort as -inf for the median.
        scores = [r["hns"] if ("error" not in r and not r["not_meaningful"] and r["hns"] is not None) else float("-inf") for r in results]
        median = statistics.median(scores)
        rows.append({"env": env, "k": k, "generations": generations, "results": results,
                     "median": None if median == float("-inf") else median,
                     "met": median >= 1.0, "max_wall_s": max(r["wall_s"] for r in results)})
    report = {"machine": machine_info(), "runs": out, "rows": rows,
              "envs_met": sum(r["met"] for r in rows), "envs": len(rows)}
    if args.json:
        print(json.dumps(report, indent=1))
        return
    seeds = " | ".join(f"seed {s}" for s in args.seeds)
    print(f"| env | K × G | {seeds} | median | met (≥ 1.0) | slowest search (s) |")
    print("|---|---|" + "---|" * len(args.seeds) + "---|---|---|")
    for r in rows:
        cells = " | ".join(cell(x) for x in r["results"])
        median = "n/m" if r["median"] is None else f"{r['median']:.2f}"
        print(f"| {r['env']} | {r['k']} × {r['generations']} | {cells} | {median} | {'yes' if r['met'] else 'no'} | {r['max_wall_s']:.0f} |")
    print(f"\n{report['envs_met']} of {report['envs']} envs with median HNS ≥ 1.0; {machine_info()}; runs in {out}")


if __name__ == "__main__":
    main()
