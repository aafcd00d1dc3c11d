#!/usr/bin/env bash
# The GPU measurement of BENCHMARKS.md ("GPU"), as one script for a machine with a CUDA GPU:
#   1. PPO update throughput, torch on the GPU vs the native CPU backend, for 64×64 and 256×256
#      networks at minibatches of 1,024 and 65,536 samples;
#   2. whether a CUDA training repeats bit for bit for a seed (twice the same `train`), and
#      whether its weights evaluate in the native backend;
#   3. a whole search on ant with --device cuda against the same search on the native CPU
#      backend, run at the same time with half the cores each: wall time and HNS;
#   4. one ant training with 256 × 256 networks, native CPU then torch CUDA.
#
# Needs the `rewardsmith` binary built with the torch feature (README, "GPU training"), and a Python whose torch is 2.11 (for libtorch's folder).
#
#   BIN=target/release OUT=gpu-results bash benches/gpu.sh
#   STEPS="3 4" ANT_STEPS=300000 bash benches/gpu.sh      # some of the steps, another budget
#
# Every step writes into $OUT as it goes, so a run cut short keeps what it measured.
set -uo pipefail

BIN="${BIN:-target/release}"
OUT="${OUT:-gpu-results}"
PYTHON="${PYTHON:-python3}"
# Budget of the ant searches (environment steps per training); the env's default is 300k.
ANT_STEPS="${ANT_STEPS:-100000}"
STEPS="${STEPS:-1 2 3 4}"
step() { [[ " $STEPS " == *" $1 "* ]]; }
mkdir -p "$OUT"
log="$OUT/gpu.log"
say() { echo "== $*" | tee -a "$log"; }

TORCH_LIB="$("$PYTHON" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))' 2>/dev/null)"
export LD_LIBRARY_PATH="${TORCH_LIB}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
RS="$BIN/rewardsmith"

say "machine: $(date -u +%FT%TZ), $(nproc) cores, torch lib $TORCH_LIB"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | tee -a "$log"
"$PYTHON" -c 'import torch; print("python torch", torch.__version__)' 2>&1 | tee -a "$log"
ldd "$RS" | grep -E "torch|gomp|not found" | tee -a "$log"
lscpu | grep -E "Model name" | tee -a "$log"

if step 1; then
say "1. update throughput (samples/s; best of the repeats after a warm-up)"
# batch × epochs per repeat kept small for the slow native rows; samples/s does not depend on it.
throughput() { # hidden minibatch batch epochs repeats backend device
    local line
    line=$(timeout 120 "$RS" bench --ppo --obs 16 --act 4 --hidden "$1" --minibatch "$2" --batch "$3" --epochs "$4" --repeats "$5" \
        --backend "$6" --device "$7" --json 2>&1 | tail -1)
    echo "{\"hidden\": \"$1\", \"minibatch\": $2, \"backend\": \"$6\", \"result\": $line}" | tee -a "$OUT/throughput.jsonl"
}
for hidden in 64,64 256,256; do
    throughput "$hidden" 1024 16384 4 3 native cpu
    throughput "$hidden" 1024 16384 4 3 torch cuda
    throughput "$hidden" 65536 131072 2 2 native cpu
    throughput "$hidden" 65536 131072 4 3 torch cuda
done

fi

if step 2; then
say "2. determinism on CUDA: the same training twice (pendulum, 40k steps, seed 3)"
for run in a b; do
    timeout 180 "$RS" train --env pendulum --steps 40000 --seed 3 --backend torch --device cuda --out "$OUT/det-$run" \
        >"$OUT/det-$run.log" 2>&1
    tail -2 "$OUT/det-$run.log" | tee -a "$log"
done
"$PYTHON" - "$OUT" <<'EOF' 2>&1 | tee -a "$log"
import json, sys, filecmp
out = sys.argv[1]
def lines(run):
    rows = [json.loads(l) for l in open(f"{out}/det-{run}/metrics.jsonl")]
    for r in rows:
        r.pop("charts/SPS", None)
    return rows
a, b = lines("a"), lines("b")
first = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), None)
print(f"metrics: {len(a)} vs {len(b)} iterations, identical: {a == b}, first differing iteration: {first}")
print("policy.safetensors identical:", filecmp.cmp(f"{out}/det-a/policy.safetensors", f"{out}/det-b/policy.safetensors", shallow=False))
EOF
grep -h "training pendulum on" "$OUT/det-a.log" | tee -a "$log"
say "CUDA-trained weights evaluated by the native backend (eval reads policy.safetensors on the CPU)"
timeout 60 "$RS" eval "$OUT/det-a" --episodes 5 --seed 11 2>&1 | tail -1 | tee -a "$log"

fi

if step 3; then
say "3. ant search, K=4 x G=2, $ANT_STEPS steps, 3 final seeds: native CPU and torch CUDA at once, $(( $(nproc) / 2 )) cores each"
half=$(( $(nproc) / 2 ))
search() { # name extra-flags...
    local name=$1; shift
    local start end
    start=$(date +%s%N)
    timeout 240 "$RS" search --env ant -k 4 --generations 2 --steps "$ANT_STEPS" --final-seeds 3 --confirm-top 2 --confirm-seeds 1 \
        --seed 0 --threads "$half" --no-cache --out "$OUT/ant-$name" "$@" >"$OUT/ant-$name.txt" 2>&1
    local rc=$?
    end=$(date +%s%N)
    echo "ant-$name: exit $rc, wall $(( (end - start) / 1000000 )) ms" >>"$OUT/ant-$name.txt"
}
search cpu &
search cuda --device cuda &
wait
for name in cpu cuda; do
    echo "-- ant-$name" | tee -a "$log"
    grep -E "human-normalised|^  (best|human|sparse)|wall|best:|training on" "$OUT/ant-$name.txt" | tee -a "$log"
done
fi

if step 4; then
say "4. one ant training, 256 x 256 networks, $ANT_STEPS steps, $(nproc) cores: native CPU, then torch CUDA"
for device in cpu cuda; do
    timeout 300 "$RS" train --env ant --steps "$ANT_STEPS" --seed 1 --set "hidden=[256,256]" --device "$device" \
        --out "$OUT/ant-wide-$device" >"$OUT/ant-wide-$device.log" 2>&1
    tail -1 "$OUT/ant-wide-$device.log" | tee -a "$log"
done
fi
say "done $(date -u +%FT%TZ)"
