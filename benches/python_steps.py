#!/usr/bin/env python3
"""Benchmark: env steps per second through the Python package vs. Rust, and vs. MuJoCo.

Purpose
    How much the Python bindings (``python/``, module ``rewardsmith``) cost over Rust's own
    stepping, and where a Gymnasium user stands against MuJoCo's InvertedPendulum. Targets: the
    package's vector env within 1.5x of Rust's VecEnv (ratio >= 0.67); the single env is
    reported (its per-step cost is Python's call overhead, which no binding removes).

Usage
    pip install ./python mujoco "gymnasium[mujoco]"   # or `cd python && maturin develop --release`
    python3 benches/python_steps.py [--env cartpole] [--json] [--quick]
    Options: --env (rewardsmith env, default cartpole), --mujoco-id (default InvertedPendulum-v5),
    --num-envs 64 256, --threads 1 2, --single-steps, --vec-steps, --repeats, --rewardsmith PATH
    (also run the CLI's `rewardsmith bench`, default <repo>/target/release/rewardsmith if it
    exists), --json (machine-readable output), --quick (small workloads, a smoke run).

What is measured (all in this one process and run, the best of --repeats, after a warm-up)
    (a) the package's VectorEnv (``rewardsmith.make_vec``) with 64 and 256 instances on 1 and 2
        threads: ``step`` with uniform random actions generated before timing, Gymnasium's info
        dictionaries built (``reward_<term>``, ``fitness``, final_obs/final_info) included; also
        the raw ``_native.VecEnv.step`` (arrays only) to split the binding from the dict work;
    (b) the package's single env (``rewardsmith.make``, and through ``gymnasium.make`` with its
        checker and order wrappers): ``step`` with random actions, ``reset()`` at episode ends;
    (c) Rust itself: ``rewardsmith_sim::bench::bench_env`` (what ``rewardsmith bench`` runs),
        called through the module on the same build: µs per single-env step, VecEnv lock-step
        env-steps/s on 1 and 2 threads for the same instance counts; and the CLI's
        ``rewardsmith bench --json`` if its binary is there (it may be an older build);
    (d) Gymnasium's MuJoCo ``InvertedPendulum-v5`` single env (``gymnasium.make``, random
        actions, reset at episode ends), the scene our ``cartpole`` corresponds to (a cart on a
        rail with a hinged pole, one force actuator; MuJoCo integrates 2 substeps per action,
        cartpole 1 rapier step at 50 Hz).
    Every rewardsmith figure runs the env's built-in ``human.rhai`` reward, but for two rows
    that run none (``reward=False``), to show what the Rhai reward costs against MuJoCo, whose
    reward is a line of Python.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import machine_info  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def best_rate(fn, work, repeats):
    """Best work/second over `repeats` timed calls of fn (after one untimed warm-up)."""
    fn()
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = max(best, work / (time.perf_counter() - start))
    return best


def vec_rate(rewardsmith, env, num_envs, threads, steps, repeats, raw, reward=None):
    venv = rewardsmith.make_vec(env, num_envs, reward, threads=threads, seed=0)
    venv.reset()
    actions = np.random.default_rng(0).uniform(-1, 1, (steps, num_envs, venv.single_action_space.shape[0])).astype(np.float32)
    step = venv._venv.step if raw else venv.step

    def run():
        for a in actions:
            step(a)

    return best_rate(run, steps * num_envs, repeats)


def single_rate(make, steps, repeats):
    env = make()
    env.reset(seed=0)
    actions = np.random.default_rng(0).uniform(-1, 1, (steps, *env.action_space.shape)).astype(np.float32)

    def run():
        for a in actions:
            _, _, terminated, truncated, _ = env.step(a)
            if terminated or truncated:
                env.reset()

    return best_rate(run, steps, repeats)


def cli_bench(binary, env, num_envs, vec_steps, repeats):
    out = subprocess.run(
        [str(binary), "bench", "--env", env, "--json", "--num-envs", str(num_envs), "--vec-steps", str(vec_steps), "--repeats", str(repeats)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if out.returncode != 0:
        return {"error": out.stderr.strip()[-500:]}
    return json.loads(out.stdout)["envs"][0]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--env", default="cartpole")
    p.add_argument("--mujoco-id", default="InvertedPendulum-v5")
    p.add_argument("--num-envs", type=int, nargs="+", default=[64, 256])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--single-steps", type=int, default=20_000)
    p.add_argument("--vec-steps", type=int, default=200)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--rewardsmith", default=str(REPO / "target" / "release" / "rewardsmith"))
    p.add_argument("--json", action="store_true")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    if args.quick:
        args.single_steps, args.vec_steps, args.repeats = 2_000, 20, 2

    import gymnasium

    import rewardsmith
    from rewardsmith import _native

    versions = {"rewardsmith": rewardsmith.__version__, "gymnasium": gymnasium.__version__, "numpy": np.__version__}
    rows = []  # (label, steps/s, compared with label, ratio)
    results = {}

    # (c) Rust, in this process.
    model = _native.Model(args.env)
    human = model.builtin_script("human.rhai") or (None, None)
    rust = {}
    for n in args.num_envs:
        rust[n] = json.loads(_native.bench(model, *human, steps=args.single_steps, repeats=args.repeats, num_envs=n, vec_steps=args.vec_steps))
    first = rust[args.num_envs[0]]
    rust_single = 1e6 / first["us_per_step"]
    results["rust"] = rust

    # (a) the package's vector env.
    results["vector"] = {}
    for n in args.num_envs:
        for t in args.threads:
            full = vec_rate(rewardsmith, args.env, n, t, args.vec_steps, args.repeats, raw=False)
            raw = vec_rate(rewardsmith, args.env, n, t, args.vec_steps, args.repeats, raw=True)
            key = "vecenv_sps_1_thread" if t == 1 else "vecenv_sps_2_threads" if t == 2 else None
            ref = rust[n].get(key) if key else None
            results["vector"][f"{n}x{t}t"] = {"sps": full, "raw_sps": raw, "rust_sps": ref}
            rows.append((f"Rust VecEnv, {n} envs, {t} thread(s)", ref, None, None))
            rows.append((f"package VectorEnv, {n} envs, {t} thread(s)", full, "Rust VecEnv", full / ref if ref else None))
            rows.append((f"  _native.VecEnv.step only (no info dicts)", raw, "Rust VecEnv", raw / ref if ref else None))

    # (b) the package's single env.
    single = single_rate(lambda: rewardsmith.make(args.env), args.single_steps, args.repeats)
    gym_single = single_rate(lambda: gymnasium.make(f"rewardsmith/{model.id}-v{model.version}"), args.single_steps, args.repeats)
    results["single"] = {"rust_sps": rust_single, "package_sps": single, "gymnasium_make_sps": gym_single}
    rows.append(("Rust Env (single)", rust_single, None, None))
    rows.append(("package single env (rewardsmith.make)", single, "Rust Env", single / rust_single))
    rows.append(("package single env (gymnasium.make)", gym_single, "Rust Env", gym_single / rust_single))

    # (c') the CLI, if built.
    binary = Path(args.rewardsmith)
    if binary.is_file() or shutil.which(args.rewardsmith):
        cli = cli_bench(binary, args.env, args.num_envs[0], args.vec_steps, args.repeats)
        results["cli"] = cli
        if "us_per_step" in cli:
            rows.append((f"CLI `rewardsmith bench` single ({binary})", 1e6 / cli["us_per_step"], "Rust Env", 1e6 / cli["us_per_step"] / rust_single))
            rows.append((f"CLI `rewardsmith bench` VecEnv {args.num_envs[0]} envs 2t", cli["vecenv_sps_2_threads"], None, None))

    # (d) MuJoCo through Gymnasium.
    try:
        mujoco_single = single_rate(lambda: gymnasium.make(args.mujoco_id), args.single_steps, args.repeats)
        import mujoco

        versions["mujoco"] = mujoco.__version__
        results["mujoco"] = {"id": args.mujoco_id, "sps": mujoco_single}
        rows.append((f"MuJoCo {args.mujoco_id} (gymnasium.make)", mujoco_single, None, None))
        vs = f"MuJoCo {args.mujoco_id}"
        rows.append(("package single env (gymnasium.make)", gym_single, vs, gym_single / mujoco_single))
        n, t = max(args.num_envs), max(args.threads)
        best_vec = results["vector"][f"{n}x{t}t"]["sps"]
        rows.append((f"package VectorEnv, {n} envs, {t} thread(s)", best_vec, vs, best_vec / mujoco_single))
        # The same without a reward script: what the Rhai reward costs (issue 20 is about it);
        # MuJoCo's reward is a line of Python inside its step.
        bare_single = single_rate(lambda: rewardsmith.make(args.env, reward=False), args.single_steps, args.repeats)
        bare_vec = vec_rate(rewardsmith, args.env, n, t, args.vec_steps, args.repeats, raw=False, reward=False)
        results["no_reward_script"] = {"single_sps": bare_single, "vector_sps": bare_vec}
        rows.append(("package single env, no reward script", bare_single, vs, bare_single / mujoco_single))
        rows.append((f"package VectorEnv, {n} envs, {t} thread(s), no reward script", bare_vec, vs, bare_vec / mujoco_single))
    except Exception as e:  # noqa: BLE001 - MuJoCo is optional: say why it is missing
        results["mujoco"] = {"id": args.mujoco_id, "error": f"{type(e).__name__}: {e}"}
        rows.append((f"MuJoCo {args.mujoco_id}: not measured ({type(e).__name__}: {e})"[:100], None, None, None))

    info = machine_info(**versions)
    if args.json:
        print(json.dumps({"machine": info, "env": args.env, "results": results}, indent=1))
        return
    print(f"machine: {info['cpu']}, {info['cores']} cores, Python {info['python']}; " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    print(f"env: {args.env} (reward human.rhai); single {args.single_steps} steps, vector {args.vec_steps} steps per instance, best of {args.repeats}")
    print(f"{'measurement':<66} {'env steps/s':>12}  {'ratio':>7}  vs")
    for label, sps, ref, ratio in rows:
        s = f"{sps:12.0f}" if sps else f"{'-':>12}"
        r = f"{ratio:7.2f}" if ratio else f"{'':>7}"
        print(f"{label:<66} {s}  {r}  {ref or ''}")


if __name__ == "__main__":
    main()
