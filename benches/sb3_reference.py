#!/usr/bin/env python3
"""Reference benchmark: time to solve, Stable-Baselines3 PPO vs. rewardsmith train.

Purpose
    Puts rewardsmith's end-to-end training speed (environment steps and wall
    time until the task is solved) next to Stable-Baselines3 PPO with RL-Zoo's
    tuned hyperparameters, on the same machine in the same run:
        gymnasium InvertedPendulum-v5 (solved: mean eval return >= 950 of 1000)
            vs. rewardsmith cartpole (solved: mean eval fitness >= 475 of 500
            steps balanced, the same 95%);
        gymnasium Pendulum-v1 (solved: mean eval return >= -200)
            vs. rewardsmith pendulum (solved: mean eval return >= -200 under
            reward_scripts/pendulum/human.rhai, which is Pendulum-v1's reward:
            the same pole (1 m, 1 kg rod), torque limit (2 N.m), control period
            (0.05 s), episode (200 steps) and start distribution; gravity is
            9.81 instead of Pendulum-v1's 10, and there is no speed clip).
    The tasks are alike, not identical: the step counts and wall times are
    comparable as orders of magnitude, the ratio says who is faster, not by
    exactly how much.

Usage
    pip install stable-baselines3 "gymnasium[mujoco]"
    cargo build --release && python3 benches/sb3_reference.py
    Tested with stable-baselines3 2.9.2, torch 2.15.0 (the PyPI wheel that pip
    pulls in; CUDA build, ~3 GB, runs on the CPU), gymnasium 1.4.0, mujoco 4.0.0,
    numpy 2.4.6, Python 3.11: no pin was needed.
    Options: --json, --sb3-only (skip rewardsmith), --rewardsmith PATH (binary,
    default <repo>/target/release/rewardsmith), --tasks, --seeds (default 0 1 2),
    --max-steps (default 200000), --eval-every (per task, see below),
    --eval-episodes (default 5), --threads (torch threads, default 1),
    --target-inverted-pendulum/--target-pendulum and
    --target-cartpole/--target-rs-pendulum (thresholds).

What is measured
    SB3: for each task and seed, PPO built from RL-Zoo's hyperparameters
    (ZOO_HYPERPARAMS below, copied verbatim, honoured as rl_zoo3's
    ExperimentManager does: n_envs copies in a DummyVecEnv made by
    make_vec_env(seed=SEED), VecNormalize(gamma=<zoo gamma>) when the entry says
    normalize, use_sde/sde_sample_freq/policy_kwargs passed to PPO). The
    evaluation env is a separate make_vec_env(n_envs=1, seed=SEED + 10000); when
    training normalises, it is wrapped in VecNormalize(training=False,
    norm_reward=False) and its observation statistics are synced from the
    training env before each evaluation (sync_envs_normalization), as the zoo's
    EvalCallback does. Evaluation: evaluate_policy, eval-episodes episodes,
    deterministic actions, raw (unnormalised) returns.
    Evaluations happen at the start of a rollout, i.e. right after a PPO update,
    once at least eval-every environment steps (summed over the n_envs copies)
    have passed since the last one; the first evaluation whose mean return
    reaches the threshold stops training, and "steps" is the env-step count at
    that evaluation. If the step cap is reached first, the final policy is
    evaluated once more (rewardsmith gets no such extra chance, which can only
    favour SB3); unsolved seeds are shown as "-" (their wall time is the
    time to the cap). Wall time: from building the envs and the model to the end
    of training, evaluations included (rewardsmith's evaluations count too).
    torch runs with 1 intra-op thread by default (--threads); SB3 steps its
    envs in the main thread (DummyVecEnv, as the zoo does). rewardsmith train
    runs with the env file's tuned [ppo] table and one VecEnv worker thread
    (--rs-threads, default 1; 0 = one per core).
    Default eval-every: InvertedPendulum-v5 2048 steps (the zoo's rollout is only
    32 steps, the policy changes every 32 steps; 2048 keeps the evaluation cost
    modest: an unsolved 5-episode evaluation costs at most 5000 env steps);
    Pendulum-v1 2048 steps (SB3 still evaluates only once per zoo rollout of 4 envs
    x 1024 steps, since evaluations happen at rollout starts and its policy only
    changes then; rewardsmith's pendulum rollout is 1024 steps, so each tool is
    evaluated as soon as its policy has changed, at most every 2048 steps).
    The rewardsmith runs get the same --eval-every.
    rewardsmith, per task and seed:
        rewardsmith train --env cartpole|pendulum --steps MAX_STEPS --seed S
            --out TMPDIR --eval-every N --eval-episodes E --set threads=K
            (--target 475 for cartpole, --target-return -200 for pendulum)
    reading TMPDIR/summary.json: "wall_seconds", "global_step" and
    "target_reached_at" (env steps at the first evaluation that reached the
    target, or null).
    Headline per task: ratio of median wall time, rewardsmith/SB3 (< 1.0:
    rewardsmith solves faster). Medians are over all seeds, unsolved ones
    counted at their time to the cap.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

import bench_common
import numpy as np

try:
    import gymnasium as gym
    import stable_baselines3
    import torch
    import torch.nn as nn  # noqa: F401  (policy_kwargs strings may name nn.*)
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.vec_env import VecNormalize, sync_envs_normalization
except ImportError as e:
    sys.exit(f"{e}: pip install stable-baselines3 'gymnasium[mujoco]'")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The zoo's InvertedPendulum entry has batch_size 64 > n_steps * n_envs = 32, so each
# epoch is one 32-sample minibatch; SB3 warns about it on every model built.
warnings.filterwarnings("ignore", message="You have specified a mini-batch size")

# RL-Zoo's tuned PPO hyperparameters, copied verbatim from rl-baselines3-zoo
# hyperparams/ppo.yml (as shipped in the rl_zoo3 2.9.2 wheel on PyPI, file
# rl_zoo3/hyperparams/ppo.yml; the same entries are in the GitHub repository
# DLR-RM/rl-baselines3-zoo at commit 208b6fdf3a9aa24de44b2e068c6e5f6a07d97fcc).
# The zoo has no InvertedPendulum-v4/-v5 entry: its only InvertedPendulum entry
# is "InvertedPendulum-v2" (in the "Tuned / 10 mujoco envs" block), which is
# used here for InvertedPendulum-v5 (same model and task; v5 only fixes details
# of the MuJoCo bindings and the reset noise).
ZOO_HYPERPARAMS = {
    # InvertedPendulum-v2:
    "InvertedPendulum-v2": dict(
        normalize=True,
        n_envs=1,
        policy="MlpPolicy",
        n_timesteps=1e6,
        batch_size=64,
        n_steps=32,
        gamma=0.999,
        learning_rate=0.000222425,
        ent_coef=1.37976e-07,
        clip_range=0.4,
        n_epochs=5,
        gae_lambda=0.9,
        max_grad_norm=0.3,
        vf_coef=0.19816,
    ),
    # Tuned
    # Pendulum-v1:
    "Pendulum-v1": dict(
        n_envs=4,
        n_timesteps=1e5,
        policy="MlpPolicy",
        n_steps=1024,
        gae_lambda=0.95,
        gamma=0.9,
        n_epochs=10,
        ent_coef=0.0,
        learning_rate=1e-3,
        clip_range=0.2,
        use_sde=True,
        sde_sample_freq=4,
    ),
}

# task -> gymnasium id, zoo entry, threshold, default eval-every, rewardsmith env, rewardsmith target
TASKS = {
    "InvertedPendulum-v5": dict(zoo="InvertedPendulum-v2", threshold=950.0, eval_every=2048,
                                rs_env="cartpole", rs_target=475.0, rs_flag="--target"),
    "Pendulum-v1": dict(zoo="Pendulum-v1", threshold=-200.0, eval_every=2048,
                        rs_env="pendulum", rs_target=-200.0, rs_flag="--target-return"),
}


def zoo_kwargs(entry):
    """Split a zoo entry the way rl_zoo3's ExperimentManager does."""
    hp = dict(ZOO_HYPERPARAMS[entry])
    n_envs = hp.pop("n_envs", 1)
    hp.pop("n_timesteps")
    normalize = hp.pop("normalize", False)
    normalize_kwargs = {}
    if isinstance(normalize, str):
        normalize_kwargs, normalize = eval(normalize), True
    elif isinstance(normalize, dict):
        normalize_kwargs, normalize = dict(normalize), True
    if normalize and "gamma" in hp:
        normalize_kwargs["gamma"] = hp["gamma"]
    if isinstance(hp.get("policy_kwargs"), str):
        hp["policy_kwargs"] = eval(hp["policy_kwargs"])
    for key in ("learning_rate", "clip_range"):
        if isinstance(hp.get(key), str):  # the zoo's "lin_X" schedules (none used here)
            start = float(hp[key].split("_")[1])
            hp[key] = lambda progress, s=start: progress * s
    policy = hp.pop("policy")
    return policy, n_envs, (normalize_kwargs if normalize else None), hp


class SolveCallback(BaseCallback):
    """Evaluates right after each update once eval_every steps have passed; stops at the threshold."""

    def __init__(self, eval_env, threshold, eval_every, episodes):
        super().__init__()
        self.eval_env, self.threshold = eval_env, threshold
        self.eval_every, self.episodes = eval_every, episodes
        self.next_eval = eval_every
        self.solved_at = None
        self.history = []  # (steps, mean return)

    def evaluate(self):
        if isinstance(self.eval_env, VecNormalize):
            sync_envs_normalization(self.training_env, self.eval_env)
        rewards, _ = evaluate_policy(self.model, self.eval_env, n_eval_episodes=self.episodes,
                                     deterministic=True, warn=False)
        mean = float(np.mean(rewards))
        steps = int(self.model.num_timesteps)  # BaseCallback.num_timesteps is only refreshed in on_step
        self.history.append((steps, mean))
        if mean >= self.threshold and self.solved_at is None:
            self.solved_at = steps
        return mean

    def _on_rollout_start(self):
        steps = self.model.num_timesteps
        if self.solved_at is None and steps >= self.next_eval:
            self.evaluate()
            while self.next_eval <= steps:
                self.next_eval += self.eval_every

    def _on_step(self):
        return self.solved_at is None  # False ends learn() at the first step after solving


def run_sb3(task, seed, args):
    info = TASKS[task]
    policy, n_envs, normalize_kwargs, hp = zoo_kwargs(info["zoo"])
    t0 = time.perf_counter()
    env = make_vec_env(task, n_envs=n_envs, seed=seed)
    eval_env = make_vec_env(task, n_envs=1, seed=seed + 10_000)
    if normalize_kwargs is not None:
        env = VecNormalize(env, **normalize_kwargs)
        eval_env = VecNormalize(eval_env, **{**normalize_kwargs, "training": False, "norm_reward": False})
    model = PPO(policy, env, seed=seed, device="cpu", verbose=0, **hp)
    cb = SolveCallback(eval_env, args.threshold[task], args.eval_every[task], args.eval_episodes)
    model.learn(total_timesteps=args.max_steps, callback=cb)
    if cb.solved_at is None and (not cb.history or cb.history[-1][0] < model.num_timesteps):
        cb.evaluate()  # the policy after the last update, at the cap
        if cb.solved_at is not None and cb.solved_at > args.max_steps:
            cb.solved_at = None
    wall = time.perf_counter() - t0
    env.close()
    eval_env.close()
    return {"task": task, "seed": seed, "steps_to_threshold": cb.solved_at,
            "global_step": int(model.num_timesteps), "wall_seconds": wall,
            "evaluations": len(cb.history),
            "last_eval_return": cb.history[-1][1] if cb.history else None,
            "best_eval_return": max(r for _, r in cb.history) if cb.history else None,
            "eval_history": cb.history}


def run_rewardsmith(binary, task, seed, args):
    info = TASKS[task]
    target = args.rs_target[task]
    with tempfile.TemporaryDirectory(prefix="rs-sb3-ref-") as out:
        cmd = [binary, "train", "--env", info["rs_env"], "--steps", str(args.max_steps),
               "--seed", str(seed), "--out", out, "--eval-every", str(args.eval_every[task]),
               "--eval-episodes", str(args.eval_episodes), info["rs_flag"], f"{target:g}",
               "--set", f"threads={args.rs_threads}"]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        outer = time.perf_counter() - t0
        path = os.path.join(out, "summary.json")
        if proc.returncode != 0 or not os.path.isfile(path):
            sys.exit(f"`{' '.join(cmd)}` failed ({proc.returncode}):\n{proc.stderr[-4000:]}\n"
                     "(use --sb3-only to skip the rewardsmith half)")
        with open(path) as f:
            summary = json.load(f)
    for key in ("wall_seconds", "global_step", "target_reached_at"):
        if key not in summary:
            sys.exit(f"{path} has no {key!r} (is the binary too old for --target?)")
    reached = summary["target_reached_at"]
    return {"task": task, "env": info["rs_env"], "seed": seed, "target": target,
            "steps_to_threshold": reached if reached is not None and reached <= args.max_steps else None,
            "global_step": summary["global_step"], "wall_seconds": summary["wall_seconds"],
            "process_seconds": outer}


def machine_info():
    return bench_common.machine_info(stable_baselines3=stable_baselines3.__version__, torch=torch.__version__,
                                     gymnasium=gym.__version__, numpy=np.__version__)


def progress(name, r):
    steps = r["steps_to_threshold"]
    status = f"solved at {steps} steps" if steps is not None else f"unsolved after {r['global_step']} steps"
    print(f"{name} seed {r['seed']}: {status}, {r['wall_seconds']:.1f} s", file=sys.stderr, flush=True)


def median_wall(runs):
    return statistics.median(r["wall_seconds"] for r in runs) if runs else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rewardsmith", default=os.path.join(REPO, "target", "release", "rewardsmith"),
                    help="rewardsmith binary (default: <repo>/target/release/rewardsmith)")
    ap.add_argument("--sb3-only", action="store_true", help="skip the rewardsmith runs")
    ap.add_argument("--json", action="store_true", help="print results as JSON")
    ap.add_argument("--tasks", nargs="+", choices=list(TASKS), default=list(TASKS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--max-steps", type=int, default=200_000,
                    help="step cap per run; unsolved by then counts as unsolved (default 200000)")
    ap.add_argument("--eval-every", type=int, default=None,
                    help="env steps between evaluations, both tools (default: 2048 for "
                         "InvertedPendulum-v5, 2048 for Pendulum-v1)")
    ap.add_argument("--eval-episodes", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    ap.add_argument("--rs-threads", type=int, default=1,
                    help="rewardsmith VecEnv worker threads (default 1, like SB3's DummyVecEnv; "
                         "0 = one per core)")
    ap.add_argument("--target-inverted-pendulum", type=float, default=TASKS["InvertedPendulum-v5"]["threshold"])
    ap.add_argument("--target-pendulum", type=float, default=TASKS["Pendulum-v1"]["threshold"])
    ap.add_argument("--target-cartpole", type=float, default=TASKS["InvertedPendulum-v5"]["rs_target"],
                    help="rewardsmith cartpole target fitness (default 475 of 500)")
    ap.add_argument("--target-rs-pendulum", type=float, default=TASKS["Pendulum-v1"]["rs_target"],
                    help="rewardsmith pendulum target return under human.rhai (default -200)")
    args = ap.parse_args()
    args.threshold = {"InvertedPendulum-v5": args.target_inverted_pendulum,
                      "Pendulum-v1": args.target_pendulum}
    args.rs_target = {"InvertedPendulum-v5": args.target_cartpole,
                      "Pendulum-v1": args.target_rs_pendulum}
    args.eval_every = {t: args.eval_every or TASKS[t]["eval_every"] for t in TASKS}
    binary = os.path.abspath(args.rewardsmith)
    if not args.sb3_only and not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        print(f"rewardsmith binary not found at {binary}\n"
              f"Run `cargo build --release` in {REPO} first "
              "(or pass --rewardsmith PATH, or use --sb3-only).", file=sys.stderr)
        sys.exit(1)
    torch.set_num_threads(args.threads)

    result = {"machine": machine_info(), "threads": args.threads, "max_steps": args.max_steps,
              "eval_episodes": args.eval_episodes, "tasks": {}}
    for task in args.tasks:
        entry = {"zoo_entry": TASKS[task]["zoo"], "hyperparams": ZOO_HYPERPARAMS[TASKS[task]["zoo"]],
                 "threshold": args.threshold[task], "eval_every": args.eval_every[task], "sb3": []}
        for s in args.seeds:
            entry["sb3"].append(run_sb3(task, s, args))
            progress(f"SB3 {task}", entry["sb3"][-1])
        if not args.sb3_only:
            entry["rewardsmith"] = []
            for s in args.seeds:
                entry["rewardsmith"].append(run_rewardsmith(binary, task, s, args))
                progress(f"rewardsmith {TASKS[task]['rs_env']}", entry["rewardsmith"][-1])
            entry["ratio_median_wall"] = median_wall(entry["rewardsmith"]) / median_wall(entry["sb3"])
        result["tasks"][task] = entry

    if args.json:
        print(json.dumps(result, indent=2))
        return
    m = result["machine"]
    print(f"machine : {m['cpu']} ({m['cores']} cores), python {m['python']}, SB3 "
          f"{m['stable_baselines3']}, torch {m['torch']} ({args.threads} thread(s)), "
          f"gymnasium {m['gymnasium']}, {m['date']}")
    print(f"cap {args.max_steps} steps, {args.eval_episodes} deterministic evaluation episodes")
    print(f"{'task':22}{'tool':32}{'seed':>5}{'steps to threshold':>20}{'wall s':>9}")
    for task, entry in result["tasks"].items():
        rows = [(f"SB3 PPO (>= {entry['threshold']:g})", r) for r in entry["sb3"]]
        if "rewardsmith" in entry:
            rows += [(f"rewardsmith {r['env']} (>= {r['target']:g})", r) for r in entry["rewardsmith"]]
        for tool, r in rows:
            steps = "-" if r["steps_to_threshold"] is None else str(r["steps_to_threshold"])
            print(f"{task:22}{tool:32}{r['seed']:5}{steps:>20}{r['wall_seconds']:9.1f}")
        for name in ("sb3", "rewardsmith"):
            if name in entry:
                runs = entry[name]
                solved = sum(r["steps_to_threshold"] is not None for r in runs)
                print(f"{task:22}{name + ' median':32}{'':5}{f'{solved}/{len(runs)} solved':>20}"
                      f"{median_wall(runs):9.1f}")
        if "ratio_median_wall" in entry:
            print(f"{task}: ratio of median wall time rewardsmith/SB3: {entry['ratio_median_wall']:.3f}"
                  "  (< 1.0: rewardsmith faster)")


if __name__ == "__main__":
    main()
