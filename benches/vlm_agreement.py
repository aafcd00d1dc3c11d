#!/usr/bin/env python3
"""Agreement of a vision model's rankings with the ground truth, and what drawing them costs.

    python3 benches/vlm_agreement.py RUN [RUN ...] [--viewer PATH]

For every generation of the given `search --feedback vlm` runs whose ranking.json has
"source": "vlm", Kendall's tau between the model's order and the order by evaluated fitness
(result.json's `fitness`; ties count as neither concordant nor discordant, tau-a). Then the
wall time of drawing one generation's contact sheets in one viewer process, as the judge does
(`rewardsmith-viewer sheet A.rollout=a.png ...`), for the first run's generation 0.
Standard library only.
"""

import argparse
import itertools
import json
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def kendall_tau(order_a, order_b):
    """tau-a between two orders of the same items (most preferred first)."""
    pos_b = {x: i for i, x in enumerate(order_b)}
    pairs = list(itertools.combinations(order_a, 2))
    if not pairs:
        return None
    score = sum(1 if pos_b[x] < pos_b[y] else -1 for x, y in pairs)
    return score / len(pairs)


def agreement(run):
    rows = []
    for ranking_path in sorted(run.glob("gen-*/ranking.json")):
        ranking = json.loads(ranking_path.read_text())
        if ranking.get("source") != "vlm":
            continue
        fitness = {}
        for c in ranking["order"]:
            result = json.loads((ranking_path.parent / c / "result.json").read_text())
            fitness[c] = result.get("fitness")
        by_fitness = sorted(ranking["order"], key=lambda c: -(fitness[c] if fitness[c] is not None else float("-inf")))
        rows.append((ranking_path.parent.name, kendall_tau(ranking["order"], by_fitness), ranking["vlm"]["model"], len(ranking["order"])))
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--viewer", default=str(REPO / "target" / "release" / "rewardsmith-viewer"))
    args = p.parse_args()
    taus = []
    print(f"{'run':<30} {'generation':<10} {'model':<20} {'K':>3} {'tau':>6}")
    for run in args.runs:
        for gen, tau, model, k in agreement(run):
            taus.append(tau)
            print(f"{str(run):<30} {gen:<10} {model:<20} {k:>3} {tau:>6.2f}")
    if taus:
        print(f"mean tau over {len(taus)} generations: {sum(taus) / len(taus):.2f}")
    rollouts = sorted(args.runs[0].glob("gen-00/cand-*/eval.rollout"))
    if rollouts and Path(args.viewer).is_file():
        with tempfile.TemporaryDirectory() as out:
            pairs = [f"{r}={Path(out) / (r.parent.name + '.png')}" for r in rollouts]
            start = time.perf_counter()
            subprocess.run([args.viewer, "sheet", *pairs], check=True, capture_output=True)
            print(f"drawing generation 0's {len(rollouts)} sheets: {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
