#!/usr/bin/env python3
"""Baseline tables: PPO with the hand-written rewards (human.rhai) and the fitness indicator alone
(sparse.rhai), either at each env's default budget (--budget: final fitness mean ± std) or up to
a fitness threshold (environment steps and wall time to reach it).

This is the table a reward search must beat: a candidate reward is better than the baselines when
its trainings reach the threshold in fewer steps (or reach it at all).

Usage
    cargo build --release && python3 benches/ppo_baselines.py [--seeds 1 2 3] [--json]
    cargo build --release && python3 benches/ppo_baselines.py --budget --seeds 1 2 3 4 5 --threads 2
    Needs only Python 3 (no packages). Options: --envs (default: every env with a threshold),
    --scripts (names or .rhai paths), --seeds, --max-steps, --eval-every, --eval-episodes,
    --threads (VecEnv workers, default 1; results do not depend on it), --set KEY=VALUE (PPO
    settings, repeatable), --steps (with --budget), --rewardsmith PATH.

What is measured with --budget
    For each env, script and seed:
        rewardsmith train --env ENV --reward reward_scripts/ENV/SCRIPT.rhai --seed S
            --set threads=K --out TMPDIR
    i.e. PPO with the env file's [ppo] table for its total_steps (the budget a search gives each
    candidate by default), then the final evaluation (10 seeded episodes, deterministic policy,
    ground-truth fitness). Reported per env and script: mean ± std (sample std over seeds) of
    that fitness, each seed's value, and the median of summary.json's wall_seconds (training and
    final evaluation, without process start-up).

What is measured without --budget
    For each env, script and seed:
        rewardsmith train --env ENV --reward reward_scripts/ENV/SCRIPT.rhai --steps MAX --seed S
            --target T --eval-every N --eval-episodes E --set threads=K --out TMPDIR
    i.e. PPO with the env file's tuned [ppo] table, evaluated (deterministic policy, E seeded
    episodes, the env's ground-truth fitness) every N steps, stopped at the first evaluation whose
    mean fitness reaches T. Reported: steps at that evaluation ("-" if MAX steps did not reach
    it), summary.json's wall_seconds (training and its evaluations; not process start-up or the
    final 10-episode evaluation), and the best evaluation. Per env and script: seeds solved, median steps over solved seeds, median wall.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# env -> (target fitness, what it means)
THRESHOLDS = {
    "cartpole": (475.0, "balanced ≥ 475 of 500 steps"),
    "pendulum": (0.75, "upright ≥ 75% of the episode"),
    "cartpole-swingup": (0.5, "upright and centred ≥ 50% of the episode"),
    "reacher": (-0.02, "fingertip within 2 cm of the target at the end"),
    "ball-balance": (0.5, "ball within 5 cm of the centre ≥ 50% of the episode"),
    "quadcopter": (0.3, "within 0.2 m of the target ≥ 30% of the episode"),
    "pusher": (-0.05, "puck within 5 cm of the goal at the end"),
    "ant": (1.0, "≥ 1 m forward while upright in 10 s"),
}


def train(binary, env, script, seed, args, *options):
    """`rewardsmith train` of `env` with reward_scripts/ENV/SCRIPT.rhai and `options`; its summary.json."""
    with tempfile.TemporaryDirectory(prefix="rs-baseline-") as out:
        path = script if script.endswith(".rhai") else os.path.join(REPO, "reward_scripts", env, f"{script}.rhai")
        overrides = [x for kv in args.set for x in ("--set", kv)]
        cmd = [binary, "train", "--env", env, "--reward", path, "--seed", str(seed), *options, *overrides,
               "--set", f"threads={args.threads}", "--out", out]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        path = os.path.join(out, "summary.json")
        if proc.returncode != 0 or not os.path.isfile(path):
            sys.exit(f"`{' '.join(cmd)}` failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
        with open(path) as f:
            return json.load(f)


def run(binary, env, script, seed, args):
    target = THRESHOLDS[env][0]
    s = train(binary, env, script, seed, args, "--steps", str(args.max_steps), "--target", f"{target:g}",
              "--eval-every", str(args.eval_every), "--eval-episodes", str(args.eval_episodes))
    best = max((e["fitness_mean"] for e in s["evaluations"]), default=None)
    return dict(env=env, script=script, seed=seed, target=target, steps=s["target_reached_at"],
                trained_steps=s["global_step"], wall=s["wall_seconds"], best_eval=best)


def run_budget(binary, env, script, seed, args):
    s = train(binary, env, script, seed, args, *(["--steps", str(args.steps)] if args.steps else []))
    return dict(env=env, script=script, seed=seed, steps=s["global_step"], wall=s["wall_seconds"],
                fitness=s["eval_fitness_mean"])


def groups(args, runs):
    """(env, script, that pair's runs in seed order), in the table's order."""
    for env in args.envs:
        for script in args.scripts:
            yield env, script, [r for r in runs if r["env"] == env and r["script"] == script]


def train_all(args, train, describe):
    """Every (env, script, seed) of `args`, trained by `train`, each reported on stderr."""
    runs = []
    for env in args.envs:
        for script in args.scripts:
            for seed in args.seeds:
                r = train(env, script, seed)
                runs.append(r)
                print(f"{env} {script} seed {seed}: {describe(r)}", file=sys.stderr)
    return runs


def budget_table(binary, args):
    runs = train_all(args, lambda env, script, seed: run_budget(binary, env, script, seed, args),
                     lambda r: f"fitness {r['fitness']:.4g} wall {r['wall']:.2f} s")
    if args.json:
        print(json.dumps(runs, indent=2))
        return
    print(f"each env's default budget ([ppo] total_steps), final evaluation 10 episodes, {args.threads} VecEnv "
          f"thread(s), seeds {' '.join(map(str, args.seeds))}\n")
    print("| env | budget (steps) | script | fitness mean ± std | per seed | median wall s |")
    print("|---|---|---|---|---|---|")
    for env, script, rs in groups(args, runs):
        f = [r["fitness"] for r in rs]
        std = statistics.stdev(f) if len(f) > 1 else 0.0
        per_seed = " / ".join(f"{x:.3g}" for x in f)
        print(f"| {env} | {rs[0]['steps']:,} | {script} | {statistics.mean(f):.3f} ± {std:.3f} | {per_seed} | "
              f"{statistics.median(r['wall'] for r in rs):.1f} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rewardsmith", default=os.path.join(REPO, "target", "release", "rewardsmith"))
    ap.add_argument("--envs", nargs="+", default=list(THRESHOLDS), choices=list(THRESHOLDS))
    ap.add_argument("--budget", action="store_true", help="train for each env's default budget; report final fitness")
    ap.add_argument("--scripts", nargs="+", default=["human", "sparse"],
                    help="baseline names (reward_scripts/ENV/NAME.rhai) or paths to .rhai files")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a PPO setting over the env file's [ppo] table (repeatable), as `rewardsmith train --set`")
    ap.add_argument("--steps", type=int, help="with --budget: this budget instead of the env file's total_steps")
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    ap.add_argument("--max-steps", type=int, default=300_000)
    ap.add_argument("--eval-every", type=int, default=4096)
    ap.add_argument("--eval-episodes", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    binary = os.path.abspath(args.rewardsmith)
    if not os.path.isfile(binary):
        sys.exit(f"no binary at {binary}: run `cargo build --release` first")

    if args.budget:
        return budget_table(binary, args)
    runs = train_all(args, lambda env, script, seed: run(binary, env, script, seed, args),
                     lambda r: f"steps {r['steps'] or '-'} wall {r['wall']:.2f} s best eval {r['best_eval']}")
    if args.json:
        print(json.dumps(runs, indent=2))
        return
    print(f"max {args.max_steps} steps, evaluation every {args.eval_every} steps ({args.eval_episodes} episodes), "
          f"{args.threads} VecEnv thread(s), seeds {' '.join(map(str, args.seeds))}\n")
    print("| env | threshold | script | solved | median steps (solved) | median wall s | steps per seed | best eval per seed |")
    print("|---|---|---|---|---|---|---|---|")
    for env, script, rs in groups(args, runs):
        solved = [r for r in rs if r["steps"] is not None]
        med_steps = f"{statistics.median(r['steps'] for r in solved):,.0f}" if solved else "-"
        med_wall = statistics.median(r["wall"] for r in rs)
        per_seed = " / ".join(f"{r['steps']:,}" if r["steps"] else "-" for r in rs)
        best = " / ".join(f"{r['best_eval']:.3g}" if r["best_eval"] is not None else "-" for r in rs)
        print(f"| {env} | {THRESHOLDS[env][0]:g} ({THRESHOLDS[env][1]}) | {script} | {len(solved)}/{len(rs)} | "
              f"{med_steps} | {med_wall:.2f} | {per_seed} | {best} |")


if __name__ == "__main__":
    main()
