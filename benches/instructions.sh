#!/usr/bin/env bash
# Instructions per env step, counted by callgrind: repeatable whatever else the machine does
# (wall-clock on shared 2-core machines swings 2x between identical runs).
#
# usage: benches/instructions.sh ENV [rollout args...]     e.g. benches/instructions.sh cartpole
# Needs valgrind and a release build (cargo build --release). Prints the difference between a
# 3000-step and a 1000-step rollout divided by 2000, so start-up and file writing cancel out.
set -euo pipefail
bin="${REWARDSMITH_BIN:-$(dirname "$0")/../target/release/rewardsmith}"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
count() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" rollout --env "$1" --steps "$2" \
        --seed 1 --out "$out/r.rollout" "${@:3}" 2>&1 | awk '/Collected/ {print $4}'
}
short=$(count "$1" 1000 "${@:2}")
long=$(count "$1" 3000 "${@:2}")
echo "$1 $(( (long - short) / 2000 )) instructions/step"
