"""Reproduce `rewardsmith eval`'s actions from a policy.safetensors file with numpy alone.

    python docs/numpy_policy.py RUN/policy.safetensors ROLLOUT.npz

reads the file (safetensors is an 8-byte header length, a JSON header, then raw little-endian
tensors), then acts on the observations of an exported rollout (`rewardsmith export`) and prints
the largest difference from the actions recorded there. Everything the forward pass needs is in
the file's metadata: see docs/policies.md.
"""

import json
import struct
import sys

import numpy as np

DTYPES = {"F32": "<f4", "F64": "<f8"}


def load_policy(path):
    """The file's tensors (name -> array) and its metadata (str -> str)."""
    raw = open(path, "rb").read()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + length])
    metadata = header.pop("__metadata__")
    data = raw[8 + length :]
    tensors = {}
    for name, t in header.items():
        start, end = t["data_offsets"]
        tensors[name] = np.frombuffer(data[start:end], dtype=DTYPES[t["dtype"]]).reshape(t["shape"])
    return tensors, metadata


def act(tensors, metadata, obs):
    """The deterministic actions for observations `obs` ([n, obs_dim] or [obs_dim]), as `eval` takes them."""
    assert metadata["format"] == "rewardsmith-policy-2", metadata["format"]
    assert metadata["weight_layout"].startswith("[out, in]")
    eps, clip = float(metadata["obs_norm_epsilon"]), float(metadata["obs_clip"])
    # The normalisation runs in float64 and is cast to float32 before the clip.
    z = (np.asarray(obs, dtype=np.float64) - tensors["obs_rms.mean"]) / np.sqrt(tensors["obs_rms.var"] + eps)
    x = np.clip(z.astype(np.float32), -clip, clip)
    layers = len(metadata["actor_sizes"].split(",")) - 1
    for l in range(layers):
        # nn.Sequential numbering: Linear modules at 0, 2, 4…, a Tanh between them.
        x = x @ tensors[f"actor_mean.{2 * l}.weight"].T + tensors[f"actor_mean.{2 * l}.bias"]
        if l + 1 < layers:
            assert metadata["hidden_activation"] == "tanh"
            x = np.tanh(x)
    low, high = (float(v) for v in metadata["action_clip"].split(","))
    return np.clip(x, low, high)


if __name__ == "__main__":
    tensors, metadata = load_policy(sys.argv[1])
    rollout = np.load(sys.argv[2])
    actions = act(tensors, metadata, rollout["observations"])
    error = float(np.max(np.abs(actions - rollout["actions"])))
    print(f"{len(actions)} steps, largest difference from the recorded actions: {error:.3g}")
    sys.exit(0 if error <= 1e-5 else 1)
