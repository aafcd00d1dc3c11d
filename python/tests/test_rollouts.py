"""Rollouts and policies outside rewardsmith: `rewardsmith export`, `rewardsmith.read_rollout`,
and the numpy-only forward pass of docs/policies.md against the actions `eval` recorded."""

import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest

import rewardsmith
from conftest import REPO


def _load_numpy_policy():
    """docs/numpy_policy.py, the snippet docs/policies.md documents, as a module."""
    spec = importlib.util.spec_from_file_location("numpy_policy", REPO / "docs" / "numpy_policy.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def evaluated(cli, tmp_path_factory):
    """A short pendulum training, and two of its evaluation episodes recorded and exported."""
    out = tmp_path_factory.mktemp("evaluated")
    cli("train", "--env", "pendulum", "--steps", "2048", "--seed", "3", "--out", out / "run")
    cli("eval", out / "run", "--episodes", "2", "--seed", "5", "--record", out / "eval.rollout")
    cli("export", out / "eval.rollout", "--format", "npz")
    return out


def test_numpy_snippet_reproduces_the_recorded_eval_actions(evaluated):
    snippet = _load_numpy_policy()
    tensors, metadata = snippet.load_policy(evaluated / "run" / "policy.safetensors")
    exported = np.load(evaluated / "eval.npz")
    assert exported["observations"].shape[0] == 2 * 200, "two whole pendulum episodes"
    actions = snippet.act(tensors, metadata, exported["observations"])
    np.testing.assert_allclose(actions, exported["actions"], rtol=0, atol=1e-5)
    # The documented command line does the same and says so by its exit code.
    done = subprocess.run([sys.executable, REPO / "docs" / "numpy_policy.py", evaluated / "run" / "policy.safetensors", evaluated / "eval.npz"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_torch_loads_the_policy_with_load_state_dict(evaluated):
    torch = pytest.importorskip("torch")
    safetensors_torch = pytest.importorskip("safetensors.torch")
    tensors = safetensors_torch.load_file(evaluated / "run" / "policy.safetensors")
    obs_dim, act_dim = tensors["actor_mean.0.weight"].shape[1], tensors["actor_logstd"].shape[1]
    nn = torch.nn
    actor_mean = nn.Sequential(nn.Linear(obs_dim, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, act_dim))
    actor_mean.load_state_dict({k.removeprefix("actor_mean."): v for k, v in tensors.items() if k.startswith("actor_mean.")})
    snippet = _load_numpy_policy()
    _, metadata = snippet.load_policy(evaluated / "run" / "policy.safetensors")
    exported = np.load(evaluated / "eval.npz")
    eps, clip = float(metadata["obs_norm_epsilon"]), float(metadata["obs_clip"])
    mean, var = tensors["obs_rms.mean"].numpy(), tensors["obs_rms.var"].numpy()
    norm = np.clip(((exported["observations"] - mean) / np.sqrt(var + eps)).astype(np.float32), -clip, clip)
    with torch.no_grad():
        actions = actor_mean(torch.from_numpy(norm)).clamp(-1, 1).numpy()
    np.testing.assert_allclose(actions, exported["actions"], rtol=0, atol=1e-5)


def test_read_rollout_gives_what_export_writes(evaluated):
    table = rewardsmith.read_rollout(evaluated / "eval.rollout")
    exported = np.load(evaluated / "eval.npz")
    assert set(exported.files) <= set(table), sorted(set(exported.files) - set(table))
    for name in set(exported.files) - {"header"}:
        np.testing.assert_array_equal(table[name], exported[name], err_msg=name)
    assert table["header"] == json.loads(str(exported["header"]))
    assert table["header"]["rollout"]["env_id"] == "pendulum"


def test_read_rollout_of_a_missing_file_raises_naming_it(tmp_path):
    with pytest.raises(rewardsmith.RewardsmithError, match="nothing.rollout"):
        rewardsmith.read_rollout(tmp_path / "nothing.rollout")


def test_first_observations_are_those_of_rewardsmith_rollout(cli, tmp_path):
    """`rewardsmith rollout --seed S` and a Gymnasium env reset with seed=S, then without, start
    the same episodes: the package follows the CLI's episode seeds."""
    seed = 11
    cli("rollout", "--env", "cartpole", "--seed", seed, "--steps", 300, "--out", tmp_path / "r.rollout")
    table = rewardsmith.read_rollout(tmp_path / "r.rollout")
    starts = table["observations"][table["step"] == 0]
    assert len(starts) > 2, "a random policy ends several cartpole episodes in 300 steps"
    env = rewardsmith.make("cartpole")
    np.testing.assert_array_equal(env.reset(seed=seed)[0], starts[0])
    for k in range(1, len(starts)):
        np.testing.assert_array_equal(env.reset()[0], starts[k], err_msg=f"episode {k}")
