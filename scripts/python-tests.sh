#!/usr/bin/env bash
# The Python package's tests (python/tests): installs the package from this checkout into a
# virtual environment with its test dependencies, builds the `rewardsmith` binary the tests
# drive (rollout, train, eval, export), and runs pytest.
#
#   scripts/python-tests.sh            # venv: $REWARDSMITH_VENV, default ~/.cache/rewardsmith/python-venv
#
# Stable-Baselines3 needs torch; a venv that already has it (as CI's torch venv) keeps its version.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${REWARDSMITH_VENV:-$HOME/.cache/rewardsmith/python-venv}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
# pip builds the extension with maturin (a release build of the bindings, in $CARGO_TARGET_DIR
# when set); `[test]` adds pytest and Stable-Baselines3; safetensors for the torch loading test.
"$VENV/bin/pip" install -q --no-cache-dir "./python[test]" safetensors

cargo build -p rewardsmith-cli --locked
target="${CARGO_TARGET_DIR:-target}"
# From the repository root: inside python/ the source folder would shadow the installed package.
REWARDSMITH_BIN="$target/debug/rewardsmith" "$VENV/bin/python" -m pytest python/tests -q
