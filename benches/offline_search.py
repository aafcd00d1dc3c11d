#!/usr/bin/env python3
"""Does the offline proposer find rewards that beat sparse.rhai? A minimal search with the CLI.

Usage
    cargo build --release && python3 benches/offline_search.py [--env pendulum] [--json]
    Needs only Python 3. Options: --env, --generations (3), -k (6), --steps (50000 per
    training), --seed, --elite (2 parents kept per generation), --rewardsmith PATH.

What it does
    Generation 0: `rewardsmith propose --env ENV -k K --seed S` (parents: the env's sparse.rhai and
    template-assembled scripts, never human.rhai). Every candidate is trained with
    `rewardsmith train --reward cand-NN/reward.rhai --steps STEPS --seed 1` and scored by the
    final evaluation's mean fitness (10 deterministic episodes, the env's ground truth). The best
    ELITE candidates become the parents (`--parent`) of the next generation, proposed with seed
    1000 S + generation. Baselines trained the same way: sparse.rhai and human.rhai (the yardstick the
    search is scored against; never shown to the proposer).

    This is not the search of the search issue (no reflection text, one training seed per
    candidate, no re-evaluation of the best on other seeds); it measures whether the offline
    proposer's operators and templates move fitness in the right direction.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sh(cmd):
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode not in (0, 1):
        sys.exit(f"`{' '.join(cmd)}` failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


def train(binary, env, script, steps, out):
    sh([binary, "train", "--env", env, "--reward", script, "--steps", str(steps), "--seed", "1", "--out", out])
    path = os.path.join(out, "summary.json")
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        s = json.load(f)
    return s["eval_fitness_mean"] if s["status"] == "ok" else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rewardsmith", default=os.path.join(REPO, "target", "release", "rewardsmith"))
    ap.add_argument("--env", default="pendulum")
    ap.add_argument("--generations", type=int, default=3)
    ap.add_argument("-k", type=int, default=6)
    ap.add_argument("--steps", type=int, default=50_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--elite", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    binary = os.path.abspath(args.rewardsmith)
    if not os.path.isfile(binary):
        sys.exit(f"no binary at {binary}: run `cargo build --release` first")

    work = tempfile.mkdtemp(prefix="rs-offline-search-")
    baselines = {}
    for name in ("sparse", "human"):
        script = os.path.join(REPO, "reward_scripts", args.env, f"{name}.rhai")
        baselines[name] = train(binary, args.env, script, args.steps, os.path.join(work, f"baseline-{name}"))
        print(f"baseline {name}.rhai: fitness {baselines[name]}", file=sys.stderr)

    parents, history = [], []
    for g in range(args.generations):
        gen = os.path.join(work, f"gen-{g:02d}")
        # Seeds 0 and 1 of this script must not share proposer seeds: 1000 · seed + generation.
        cmd = [binary, "propose", "--env", args.env, "-k", str(args.k), "--seed", str(1000 * args.seed + g), "--out", gen]
        for p in parents:
            cmd += ["--parent", p]
        sh(cmd)
        scored = []
        for c in sorted(os.listdir(gen)):
            script = os.path.join(gen, c, "reward.rhai")
            if os.path.isfile(script):
                fitness = train(binary, args.env, script, args.steps, os.path.join(gen, c, "train"))
                scored.append((fitness if fitness is not None else float("-inf"), script))
        if not scored:
            sys.exit(f"generation {g}: no candidate was written (see {gen})")
        scored.sort(key=lambda x: -x[0])
        best = scored[0][0]
        history.append({"generation": g, "best": best, "all": [f for f, _ in scored]})
        print(f"generation {g}: best {best:.3f}, all {[round(f, 3) for f, _ in scored]}", file=sys.stderr)
        parents = [s for _, s in scored[: args.elite]]

    best_overall = max(h["best"] for h in history)
    result = {"env": args.env, "steps": args.steps, "baselines": baselines, "generations": history,
              "best": best_overall, "beats_sparse": best_overall > baselines["sparse"], "work_dir": work}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{args.env}, {args.steps} steps per training, k={args.k}, elite {args.elite}")
    print(f"baselines: sparse {baselines['sparse']:.3f}, human {baselines['human']:.3f}")
    for h in history:
        print(f"generation {h['generation']}: best {h['best']:.3f}  (all: {', '.join(f'{f:.3f}' for f in h['all'])})")
    print(f"best {best_overall:.3f}: {'beats' if result['beats_sparse'] else 'does not beat'} sparse.rhai "
          f"({baselines['sparse']:.3f}); human.rhai {baselines['human']:.3f}. Scripts under {work}")


if __name__ == "__main__":
    main()
