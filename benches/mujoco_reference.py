#!/usr/bin/env python3
"""Reference benchmark: MuJoCo on gymnasium's models vs. rewardsmith on comparable envs.

Purpose
    Puts rewardsmith's speed next to a well-known baseline measured on the same
    machine in the same run: MuJoCo's C-level batched rollout
    (``mujoco.rollout.rollout``) on gymnasium's own XML files, loaded from the
    pip-installed package. Pairs: ``cartpole`` vs ``inverted_pendulum.xml``
    (target ratio <= 0.8) and ``ant`` vs ``ant.xml`` (target <= 0.7). The scenes
    are comparable, not identical physics: each side runs its own solver with
    its own settings, which the output prints (MuJoCo: integrator, timestep,
    iteration cap; rewardsmith: f32 rapier, timestep, solver iterations, joint
    model, from the env file).

Usage
    pip install mujoco gymnasium && cargo build --release && python3 benches/mujoco_reference.py
    Options: --pairs cartpole ant (default both), --json (machine-readable output), --mujoco-only (skip rewardsmith),
    --rewardsmith PATH (binary, default <repo>/target/release/rewardsmith),
    --nbatch/--nstep/--repeats (MuJoCo workload size).

What is measured
    MuJoCo: ``nbatch`` rollouts of ``nstep`` physics steps each, from slightly
    perturbed initial states, with uniform random controls in the actuator's
    ctrlrange, in ONE thread (a single MjData, so no thread pool). Pure physics:
    no Python per step, no reward, no observation. Repeated ``repeats`` times
    after one warm-up. Figures: us per physics step, us per simulated second
    (= us per step / model.opt.timestep) and us per gymnasium action
    (frame_skip = 2 for InvertedPendulum).
    rewardsmith: ``rewardsmith bench --env cartpole --repeats N --json``: its
    us_per_step is per env action step INCLUDING the reward script, the
    expressions and the observation; us_per_physics_step is the physics alone.
    Both sides report the MEDIAN of ``repeats`` runs (one statistic for both).
    Ratios printed: the full step and the physics alone per simulated second
    (the headline: the full step, target <= 0.8 for cartpole), and the physics
    per physics step, which does not depend on the timestep each side chose
    (ant: rapier steps 25 ms, MuJoCo 10 ms). gymnasium is only used to locate
    the XML (it is not imported).
"""
import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time

import mujoco
import mujoco.rollout
import bench_common
import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# rewardsmith env -> (gymnasium XML, gymnasium's frame_skip for it, target ratio of us per simulated second)
PAIRS = {
    "cartpole": ("inverted_pendulum.xml", 2, 0.8),
    "ant": ("ant.xml", 5, 0.7),
}


def gym_xml(name):
    # Locate the file without importing gymnasium.envs.mujoco (that pulls in
    # rendering dependencies such as imageio).
    spec = importlib.util.find_spec("gymnasium")
    if spec is None or spec.origin is None:
        sys.exit("gymnasium not found: pip install mujoco gymnasium")
    path = os.path.join(os.path.dirname(spec.origin), "envs", "mujoco", "assets", name)
    if not os.path.isfile(path):
        sys.exit(f"{name} not found at {path}")
    return path


def bench_mujoco(xml_name, frame_skip, nbatch, nstep, repeats, seed=0):
    xml = gym_xml(xml_name)
    model = mujoco.MjModel.from_xml_path(xml)
    data = mujoco.MjData(model)  # one MjData -> rollout runs single-threaded
    rng = np.random.default_rng(seed)
    spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
    states = []
    for _ in range(nbatch):
        mujoco.mj_resetData(model, data)
        data.qpos[:] = rng.uniform(-0.01, 0.01, model.nq)
        data.qvel[:] = rng.uniform(-0.01, 0.01, model.nv)
        state = np.empty(mujoco.mj_stateSize(model, spec))
        mujoco.mj_getState(model, data, state, spec)
        states.append(state)
    initial_state = np.stack(states)
    lo, hi = model.actuator_ctrlrange[:, 0], model.actuator_ctrlrange[:, 1]
    control = rng.uniform(lo, hi, size=(nbatch, nstep, model.nu))
    out_state = np.empty((nbatch, nstep, initial_state.shape[1]))
    out_sensor = np.empty((nbatch, nstep, model.nsensordata))

    def once():
        t0 = time.perf_counter()
        mujoco.rollout.rollout(model, data, initial_state, control,
                               state=out_state, sensordata=out_sensor)
        return time.perf_counter() - t0

    once()  # warm-up
    times = [once() for _ in range(repeats)]
    steps = nbatch * nstep
    us_med = statistics.median(times) / steps * 1e6
    dt = model.opt.timestep
    integrators = {0: "Euler", 1: "RK4", 2: "implicit", 3: "implicitfast"}
    return {
        "id": f"mujoco_{xml_name}", "xml": xml, "timestep": dt,
        "integrator": integrators.get(int(model.opt.integrator), str(model.opt.integrator)),
        "iterations": int(model.opt.iterations), "precision": "f64",
        "frame_skip": frame_skip, "nbatch": nbatch, "nstep": nstep,
        "repeats": repeats, "threads": 1,
        "us_per_step_median": us_med, "us_per_sim_second": us_med / dt,
        "us_per_action": us_med * frame_skip,
    }


def rewardsmith_settings(env_id):
    """The physics settings of a built-in env file (what its numbers mean)."""
    import tomllib
    with open(os.path.join(REPO, "environments", f"{env_id}.toml"), "rb") as f:
        physics = tomllib.load(f)["physics"]
    return {"timestep": physics["timestep"], "substeps": physics.get("substeps", 1),
            "solver_iterations": physics.get("solver_iterations", 4),
            "joints": physics.get("joints", "multibody"), "precision": "f32"}


def bench_rewardsmith(binary, env_id, repeats):
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        print(f"rewardsmith binary not found at {binary}\n"
              f"Run `cargo build --release` in {REPO} first "
              "(or pass --rewardsmith PATH, or use --mujoco-only).", file=sys.stderr)
        sys.exit(1)
    proc = subprocess.run([binary, "bench", "--env", env_id, "--repeats", str(repeats), "--json"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"`{binary} bench` failed ({proc.returncode}):\n{proc.stderr}")
    report = json.loads(proc.stdout)
    env = next((e for e in report.get("envs", []) if e.get("id") == env_id), None)
    if env is None:
        sys.exit(f"no {env_id} entry in rewardsmith output:\n{proc.stdout}")
    return {"machine": report.get("machine"), "settings": rewardsmith_settings(env_id), **env}


def machine_info():
    return bench_common.machine_info(mujoco=mujoco.__version__, numpy=np.__version__)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rewardsmith", default=os.path.join(REPO, "target", "release", "rewardsmith"),
                    help="rewardsmith binary (default: <repo>/target/release/rewardsmith)")
    ap.add_argument("--pairs", nargs="+", default=list(PAIRS), choices=list(PAIRS))
    ap.add_argument("--mujoco-only", action="store_true", help="skip the rewardsmith run")
    ap.add_argument("--json", action="store_true", help="print results as JSON")
    ap.add_argument("--nbatch", type=int, default=16)
    ap.add_argument("--nstep", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    binary = os.path.abspath(args.rewardsmith)

    result = {"machine": machine_info(), "pairs": {}}
    for env_id in args.pairs:
        xml_name, frame_skip, target = PAIRS[env_id]
        pair = {"mujoco": bench_mujoco(xml_name, frame_skip, args.nbatch, args.nstep, args.repeats), "target": target}
        if not args.mujoco_only:
            rs = bench_rewardsmith(binary, env_id, args.repeats)
            mj = pair["mujoco"]
            pair["rewardsmith"] = rs
            pair["ratio"] = rs["us_per_sim_second"] / mj["us_per_sim_second"]
            pair["ratio_physics"] = rs["us_per_sim_second_physics"] / mj["us_per_sim_second"]
            pair["ratio_per_physics_step"] = rs["us_per_physics_step"] / mj["us_per_step_median"]
        result["pairs"][env_id] = pair

    if args.json:
        print(json.dumps(result, indent=2))
        return
    m = result["machine"]
    print(f"machine : {m['cpu']} ({m['cores']} cores), python {m['python']}, "
          f"mujoco {m['mujoco']}, {m['date']}")
    for env_id, pair in result["pairs"].items():
        mj = pair["mujoco"]
        name = os.path.basename(mj["xml"])
        print(f"\n{env_id} vs MuJoCo {name}: {mj['nbatch']} x {mj['nstep']} steps, {mj['repeats']} repeats, 1 thread")
        print(f"  MuJoCo settings     : {mj['integrator']}, dt={mj['timestep']}s, iterations<={mj['iterations']}, "
              f"{mj['precision']}, frame_skip={mj['frame_skip']}")
        print(f"{'':36}{'us/step':>10}{'us/action':>11}{'us/sim-s':>11}")
        print(f"{'  MuJoCo (physics)':36}{mj['us_per_step_median']:10.3f}"
              f"{mj['us_per_action']:11.3f}{mj['us_per_sim_second']:11.2f}")
        if "rewardsmith" in pair:
            rs, st = pair["rewardsmith"], pair["rewardsmith"]["settings"]
            print(f"  rewardsmith settings: rapier {st['precision']}, dt={st['timestep']}s x {st['substeps']} substeps, "
                  f"{st['solver_iterations']} solver iterations, {st['joints']} joints")
            print(f"{'  rewardsmith ' + env_id + ' (physics)':36}{rs['us_per_physics_step']:10.3f}"
                  f"{rs['us_per_physics_step'] * st['substeps']:11.3f}{rs['us_per_sim_second_physics']:11.2f}")
            print(f"{'  rewardsmith ' + env_id + ' (full step)':36}{'-':>10}{rs['us_per_step']:11.3f}"
                  f"{rs['us_per_sim_second']:11.2f}")
            verdict = "OK" if pair["ratio"] <= pair["target"] else "over target"
            print(f"  ratio rewardsmith/MuJoCo, medians: full step per sim-s {pair['ratio']:.3f}"
                  f"  (target <= {pair['target']}: {verdict}); physics per sim-s {pair['ratio_physics']:.3f};"
                  f" physics per physics step {pair['ratio_per_physics_step']:.3f}")


if __name__ == "__main__":
    main()
