#!/usr/bin/env bash
# Overhead of the Slurm executor per generation: the same search with --executor local and with
# --executor slurm on the loopback cluster of scripts/slurm-local.sh (one node, its cores = this
# machine's), one after the other, and each generation's training phase (timing.json's train_s)
# side by side. Both executors run two trainings at once on 2 cores, so the difference is what
# Slurm adds: sbatch, scheduling, starting the binary per task, polling.
#
#   cargo build --release && benches/slurm_overhead.sh [K] [GENERATIONS] [STEPS]
set -euo pipefail
cd "$(dirname "$0")/.."
k=${1:-4}; generations=${2:-3}; steps=${3:-8192}
bin=$PWD/target/release/rewardsmith
eval "$(scripts/slurm-local.sh start)"
out=$(mktemp -d)
common=(search --env pendulum -k "$k" --generations "$generations" --steps "$steps" --final-seeds 0 --confirm-top 1 --no-cache --no-gif -q)
for executor in local slurm; do
    start=$EPOCHREALTIME
    "$bin" "${common[@]}" --executor "$executor" --out "$out/$executor" >/dev/null
    python3 -c "print(f'$executor: {$EPOCHREALTIME - $start:.1f} s in all')"
done
python3 - "$out" <<'PY'
import json, sys
runs = {e: json.load(open(f"{sys.argv[1]}/{e}/timing.json")) for e in ("local", "slurm")}
print("| generation | local train (s) | slurm train (s) | overhead (s) |")
print("|---|---|---|---|")
for g, (l, s) in enumerate(zip(runs["local"]["generations"], runs["slurm"]["generations"])):
    print(f"| {g} | {l['train_s']:.1f} | {s['train_s']:.1f} | {s['train_s'] - l['train_s']:+.1f} |")
same = all(json.load(open(f"{sys.argv[1]}/local/gen-{g:02}/generation.json"))["ranking"] ==
           json.load(open(f"{sys.argv[1]}/slurm/gen-{g:02}/generation.json"))["ranking"] for g in range(len(runs["local"]["generations"])))
print("same rankings:", same)
PY
rm -rf "$out"
