#!/usr/bin/env python3
"""Reference benchmark: PPO update throughput, PyTorch CPU vs. rewardsmith's MLP.

Purpose
    Puts the speed of rewardsmith's hand-written MLP + Adam PPO update next to
    PyTorch on the CPU doing the same update, measured on the same machine in
    the same run. Only the update (the epochs of minibatch gradient steps) is
    timed: no environment, no rollout, no GAE.

Usage
    pip install torch        # PyPI; on x86-64 Linux this is the CUDA build (~3 GB
                             # with its nvidia-* wheels), which runs fine on the CPU.
                             # Where download.pytorch.org is reachable the CPU-only
                             # wheel is smaller and equivalent here:
                             #   pip install torch --index-url https://download.pytorch.org/whl/cpu
    python3 benches/ppo_update_reference.py
    Tested with torch 2.15.0 (PyPI wheel), numpy 2.4.6, Python 3.11.
    Options: --json (machine-readable output), --torch-only (skip rewardsmith),
    --threads N (torch intra-op threads, default 1), --repeats R (default 5),
    --batch/--minibatch/--epochs/--obs/--act/--hidden (workload),
    --rewardsmith PATH (the binary, default <repo>/target/release/rewardsmith: build it
    with `cargo build --release`), --rewardsmith-cmd "CMD" (another counterpart).

What is measured
    PyTorch: the update of CleanRL's ppo_continuous_action.py, same Agent:
    actor obs-64-64-act (tanh hidden, linear output, orthogonal init, last layer
    std 0.01) with a state-independent log_std (act params), critic obs-64-64-1
    (tanh). Per minibatch: forward both nets, Normal log-prob and entropy,
    advantage normalisation over the minibatch, clipped surrogate (clip 0.2),
    clipped value loss (vf_coef 0.5), entropy term (ent_coef 0, still computed
    as CleanRL does), the clip-fraction statistic CleanRL logs, backward, global
    grad-norm clip 0.5, Adam (lr 3e-4, eps 1e-5). Per epoch the batch is
    reshuffled and minibatches are gathered by index (as CleanRL does).
    Data: a synthetic, seeded batch of `batch` samples (random obs, actions,
    old log-probs near the initial policy's, advantages, returns, values), float32.
    One warm-up update, then `repeats` timed updates of `epochs` x
    (batch / minibatch) gradient steps, each from the same initial weights and
    Adam state; the best (min) is reported, the median alongside.
    samples/s = batch x epochs / seconds; ms/minibatch = seconds / (epochs x
    batch / minibatch) x 1000.
    rewardsmith: by default
        target/release/rewardsmith bench --ppo
            --obs 16 --act 4 --hidden 64,64 --batch 16384 --minibatch 1024
            --epochs 10 --repeats 5 --json
    (sizes follow this script's options), run in the repository root; its stdout
    must hold one JSON object {"samples_per_s": float, "ms_per_minibatch": float}.
    Headline: ratio rewardsmith/torch of samples/s (> 1.0: rewardsmith faster).
"""
import argparse
import copy
import json
import os
import shlex
import statistics
import subprocess
import sys
import time

import bench_common
import numpy as np

try:
    import torch
    import torch.nn as nn
    from torch.distributions.normal import Normal
except ImportError:
    sys.exit("torch not found: pip install torch (see the docstring of this script)")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# CleanRL ppo_continuous_action.py defaults used by the update.
CLIP_COEF = 0.2
VF_COEF = 0.5
ENT_COEF = 0.0
MAX_GRAD_NORM = 0.5
LEARNING_RATE = 3e-4
ADAM_EPS = 1e-5


def layer_init(layer, std=np.sqrt(2), bias_const=0.0):
    torch.nn.init.orthogonal_(layer.weight, std)
    torch.nn.init.constant_(layer.bias, bias_const)
    return layer


def mlp(sizes, out_std):
    layers = []
    for i in range(len(sizes) - 1):
        last = i == len(sizes) - 2
        layers.append(layer_init(nn.Linear(sizes[i], sizes[i + 1]), std=out_std if last else np.sqrt(2)))
        if not last:
            layers.append(nn.Tanh())
    return nn.Sequential(*layers)


class Agent(nn.Module):
    """CleanRL ppo_continuous_action.py's Agent, with configurable sizes."""

    def __init__(self, obs, act, hidden):
        super().__init__()
        self.critic = mlp([obs, *hidden, 1], out_std=1.0)
        self.actor_mean = mlp([obs, *hidden, act], out_std=0.01)
        self.actor_logstd = nn.Parameter(torch.zeros(1, act))

    def get_value(self, x):
        return self.critic(x)

    def get_action_and_value(self, x, action=None):
        action_mean = self.actor_mean(x)
        action_logstd = self.actor_logstd.expand_as(action_mean)
        action_std = torch.exp(action_logstd)
        probs = Normal(action_mean, action_std)
        if action is None:
            action = probs.sample()
        return action, probs.log_prob(action).sum(1), probs.entropy().sum(1), self.critic(x)


def synthetic_batch(n, obs, act, agent, seed):
    g = torch.Generator().manual_seed(seed)
    b_obs = torch.randn(n, obs, generator=g)
    with torch.no_grad():
        # Actions sampled from the initial policy so that the ratios start near 1
        # and the clipping does real work, as in a real first update.
        mean = agent.actor_mean(b_obs)
        b_actions = mean + torch.randn(n, act, generator=g)
        _, b_logprobs, _, b_values = agent.get_action_and_value(b_obs, b_actions)
        b_logprobs = b_logprobs + 0.05 * torch.randn(n, generator=g)
        b_values = b_values.view(-1)
    b_advantages = torch.randn(n, generator=g)
    b_returns = b_values + b_advantages + 0.1 * torch.randn(n, generator=g)
    return b_obs, b_actions, b_logprobs, b_advantages, b_returns, b_values


def ppo_update(agent, optimizer, data, batch, minibatch, epochs, rng):
    """The inner loop of CleanRL's ppo_continuous_action.py ("Optimizing the policy and value network")."""
    b_obs, b_actions, b_logprobs, b_advantages, b_returns, b_values = data
    b_inds = np.arange(batch)
    clipfracs = []
    for _epoch in range(epochs):
        rng.shuffle(b_inds)
        for start in range(0, batch, minibatch):
            end = start + minibatch
            mb_inds = torch.from_numpy(b_inds[start:end])

            _, newlogprob, entropy, newvalue = agent.get_action_and_value(b_obs[mb_inds], b_actions[mb_inds])
            logratio = newlogprob - b_logprobs[mb_inds]
            ratio = logratio.exp()

            with torch.no_grad():
                clipfracs += [((ratio - 1.0).abs() > CLIP_COEF).float().mean().item()]

            mb_advantages = b_advantages[mb_inds]
            mb_advantages = (mb_advantages - mb_advantages.mean()) / (mb_advantages.std() + 1e-8)

            pg_loss1 = -mb_advantages * ratio
            pg_loss2 = -mb_advantages * torch.clamp(ratio, 1 - CLIP_COEF, 1 + CLIP_COEF)
            pg_loss = torch.max(pg_loss1, pg_loss2).mean()

            newvalue = newvalue.view(-1)
            v_loss_unclipped = (newvalue - b_returns[mb_inds]) ** 2
            v_clipped = b_values[mb_inds] + torch.clamp(newvalue - b_values[mb_inds], -CLIP_COEF, CLIP_COEF)
            v_loss_clipped = (v_clipped - b_returns[mb_inds]) ** 2
            v_loss = 0.5 * torch.max(v_loss_unclipped, v_loss_clipped).mean()

            entropy_loss = entropy.mean()
            loss = pg_loss - ENT_COEF * entropy_loss + v_loss * VF_COEF

            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(agent.parameters(), MAX_GRAD_NORM)
            optimizer.step()
    return float(np.mean(clipfracs)), float(loss.item())


def bench_torch(args):
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    agent = Agent(args.obs, args.act, args.hidden)
    optimizer = torch.optim.Adam(agent.parameters(), lr=LEARNING_RATE, eps=ADAM_EPS)
    data = synthetic_batch(args.batch, args.obs, args.act, agent, args.seed)
    init_agent = copy.deepcopy(agent.state_dict())
    init_opt = copy.deepcopy(optimizer.state_dict())

    def once(k):
        agent.load_state_dict(init_agent)
        optimizer.load_state_dict(init_opt)
        rng = np.random.default_rng(args.seed + k)
        t0 = time.perf_counter()
        clipfrac, loss = ppo_update(agent, optimizer, data, args.batch, args.minibatch, args.epochs, rng)
        return time.perf_counter() - t0, clipfrac, loss

    _, clipfrac, loss = once(0)  # warm-up
    times = [once(k + 1)[0] for k in range(args.repeats)]
    n_updates = args.epochs * (args.batch // args.minibatch)
    samples = args.batch * args.epochs
    best, med = min(times), statistics.median(times)
    return {
        "id": "torch_ppo_update", "torch": torch.__version__, "threads": torch.get_num_threads(),
        "obs": args.obs, "act": args.act, "hidden": args.hidden, "batch": args.batch,
        "minibatch": args.minibatch, "epochs": args.epochs, "repeats": args.repeats,
        "params": sum(p.numel() for p in agent.parameters()),
        "seconds_min": best, "seconds_median": med,
        "samples_per_s": samples / best, "samples_per_s_median": samples / med,
        "ms_per_minibatch": best / n_updates * 1e3, "ms_per_minibatch_median": med / n_updates * 1e3,
        "warmup_clipfrac": clipfrac, "warmup_last_loss": loss,
    }


def default_rewardsmith_cmd(args):
    if not os.path.isfile(args.rewardsmith):
        sys.exit(f"no rewardsmith binary at {args.rewardsmith}: run `cargo build --release` "
                 "or pass --rewardsmith PATH (or --torch-only)")
    return (f"{shlex.quote(args.rewardsmith)} bench --ppo "
            f"--obs {args.obs} --act {args.act} --hidden {','.join(map(str, args.hidden))} "
            f"--batch {args.batch} --minibatch {args.minibatch} --epochs {args.epochs} "
            f"--repeats {args.repeats} --json")


def bench_rewardsmith(cmd):
    proc = subprocess.run(shlex.split(cmd), cwd=REPO, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"`{cmd}` failed ({proc.returncode}):\n{proc.stderr[-4000:]}\n"
                 "(use --torch-only to skip the rewardsmith half)")
    for line in reversed(proc.stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                report = json.loads(line)
            except json.JSONDecodeError:
                continue
            break
    else:
        try:
            report = json.loads(proc.stdout)
        except json.JSONDecodeError:
            sys.exit(f"no JSON object in the output of `{cmd}`:\n{proc.stdout[-4000:]}")
    for key in ("samples_per_s", "ms_per_minibatch"):
        if not isinstance(report.get(key), (int, float)):
            sys.exit(f"`{cmd}` printed no numeric {key!r}:\n{proc.stdout[-4000:]}")
    return {"cmd": cmd, **report}


def machine_info():
    return bench_common.machine_info(torch=torch.__version__, numpy=np.__version__)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--torch-only", action="store_true", help="skip the rewardsmith run")
    ap.add_argument("--rewardsmith", default=os.path.join(REPO, "target", "release", "rewardsmith"),
                    help="rewardsmith binary (default: <repo>/target/release/rewardsmith)")
    ap.add_argument("--rewardsmith-cmd", default=None,
                    help="command printing rewardsmith's JSON result instead (default: "
                         "`RS bench --ppo --json` with this script's sizes)")
    ap.add_argument("--json", action="store_true", help="print results as JSON")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--obs", type=int, default=16)
    ap.add_argument("--act", type=int, default=4)
    ap.add_argument("--hidden", type=lambda s: [int(x) for x in s.split(",")], default=[64, 64],
                    help="hidden layer sizes, comma-separated (default 64,64)")
    ap.add_argument("--batch", type=int, default=16384)
    ap.add_argument("--minibatch", type=int, default=1024)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if args.batch % args.minibatch:
        ap.error("--batch must be a multiple of --minibatch")

    result = {"machine": machine_info(), "torch": bench_torch(args)}
    if not args.torch_only:
        rs = bench_rewardsmith(args.rewardsmith_cmd or default_rewardsmith_cmd(args))
        result["rewardsmith"] = rs
        result["ratio"] = rs["samples_per_s"] / result["torch"]["samples_per_s"]

    if args.json:
        print(json.dumps(result, indent=2))
        return
    m, t = result["machine"], result["torch"]
    print(f"machine : {m['cpu']} ({m['cores']} cores), python {m['python']}, "
          f"torch {m['torch']}, {m['date']}")
    print(f"workload: {t['obs']}-{'-'.join(map(str, t['hidden']))}-{t['act']} actor + log_std, "
          f"{t['obs']}-{'-'.join(map(str, t['hidden']))}-1 critic ({t['params']} params), "
          f"batch {t['batch']}, minibatch {t['minibatch']}, {t['epochs']} epochs, "
          f"best of {t['repeats']}")
    print(f"{'':34}{'samples/s':>12}{'ms/minibatch':>14}")
    label = f"PyTorch CPU, {t['threads']} thread(s) (best)"
    print(f"{label:34}{t['samples_per_s']:12.0f}"
          f"{t['ms_per_minibatch']:14.3f}")
    print(f"{'PyTorch CPU (median)':34}{t['samples_per_s_median']:12.0f}"
          f"{t['ms_per_minibatch_median']:14.3f}")
    if "rewardsmith" in result:
        rs = result["rewardsmith"]
        print(f"{'rewardsmith MLP':34}{rs['samples_per_s']:12.0f}{rs['ms_per_minibatch']:14.3f}")
        verdict = "faster" if result["ratio"] >= 1.0 else "SLOWER"
        print(f"ratio rewardsmith/torch (samples/s): {result['ratio']:.3f}  (rewardsmith {verdict})")


if __name__ == "__main__":
    main()
