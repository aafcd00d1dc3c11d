"""rewardsmith's environments for Gymnasium and Stable-Baselines3.

- ``rewardsmith.make(env, reward=None, **kwargs)``: one env, a ``gymnasium.Env``
  (:class:`RewardsmithEnv`);
- ``rewardsmith.make_vec(env, num_envs, reward=None, threads=None, seed=None)``: many instances
  stepped together in Rust, a ``gymnasium.vector.VectorEnv`` (:class:`VectorEnv`);
- importing the package registers ``rewardsmith/<id>-v<version>`` for every built-in env, so
  ``gymnasium.make("rewardsmith/cartpole-v1")`` and ``gymnasium.make_vec(...)`` work too;
- ``rewardsmith.read_rollout(path)``: a rollout file's steps as numpy arrays (observations
  included, re-simulated bit for bit), as ``rewardsmith export --format npz`` writes them;
- :class:`RewardsmithError` (a ``ValueError``) is raised for invalid env files and reward
  scripts, with the message naming the file (and the script's line:column).

``env`` is a built-in id (:func:`ids`) or a path to an env ``.toml`` file; ``reward`` a path to a
``.rhai`` script, a built-in script's file name (``"sparse.rhai"``), ``None`` for the env's
``human.rhai`` or ``False`` for none (reward 0).
"""

from __future__ import annotations

import io
import json
import os
import warnings
from typing import Any, Optional, Union

import numpy as np

from . import _native
from ._common import RewardArg
from ._native import RewardsmithError, derive_seed, episode_seed
from .env import RewardsmithEnv
from .vector import VectorEnv

__version__ = _native.__version__

__all__ = [
    "RewardsmithEnv",
    "RewardsmithError",
    "VectorEnv",
    "derive_seed",
    "episode_seed",
    "ids",
    "make",
    "make_vec",
    "read_rollout",
    "registered_ids",
]


def ids() -> list[str]:
    """Ids of the built-in environments, sorted."""
    return list(_native.builtin_ids())


def make(env: Union[str, "os.PathLike[str]"], reward: RewardArg = None, **kwargs: Any) -> RewardsmithEnv:
    """One environment (see :class:`RewardsmithEnv`); ``kwargs``: ``reward_source=`` (a script's
    text instead of a file), ``render_mode=None``."""
    return RewardsmithEnv(env, reward, **kwargs)


def make_vec(
    env: Union[str, "os.PathLike[str]"],
    num_envs: int,
    reward: RewardArg = None,
    threads: Optional[int] = None,
    seed: Optional[int] = None,
    **kwargs: Any,
) -> VectorEnv:
    """``num_envs`` instances stepped in Rust on ``threads`` threads (``None``: one per core),
    the first reset seeded ``seed`` unless it is given one (see :class:`VectorEnv`)."""
    return VectorEnv(env, num_envs, reward, threads=threads, seed=seed, **kwargs)


def read_rollout(path: Union[str, "os.PathLike[str]"], env: Optional[str] = None) -> dict:
    """The steps of the rollout file at ``path`` (``rewardsmith rollout``, ``eval --record``, a
    search's ``eval.rollout``) as numpy arrays, exactly what ``rewardsmith export --format npz``
    writes (docs/rollouts.md): ``observations`` (what the policy saw, re-simulated and checked
    bit for bit against the recording), ``next_observations``, ``actions``, ``term_<name>``,
    ``reward``, ``fitness``, ``terminated``, ``truncated``, ``poses``, ``episode``, ``step``…,
    and ``header``, a dict. ``env`` replaces the recorded env file (the same environment)."""
    with np.load(io.BytesIO(_native.export_npz(os.fspath(path), env))) as npz:
        table = {name: npz[name] for name in npz.files}
    table["header"] = json.loads(str(table["header"]))
    return table


_REGISTERED: list[str] = []


def registered_ids() -> list[str]:
    """The Gymnasium ids registered on import: ``rewardsmith/<id>-v<version>``."""
    return list(_REGISTERED)


def _register() -> None:
    import gymnasium

    for env_id in _native.builtin_ids():
        try:
            name, version, _episode_length = _native.env_header(env_id)
        except RewardsmithError as e:
            # A broken $REWARDSMITH_ENVIRONMENTS copy must not break `import rewardsmith`.
            warnings.warn(f"rewardsmith: not registering {env_id}: {e}", stacklevel=2)
            continue
        gym_id = f"rewardsmith/{name}-v{version}"
        if gym_id in gymnasium.registry:
            continue
        # No max_episode_steps: the env truncates itself at its episode length, and a TimeLimit
        # would only wrap it twice (RewardsmithEnv.spec reports the length instead).
        gymnasium.register(
            id=gym_id,
            entry_point="rewardsmith.env:RewardsmithEnv",
            vector_entry_point="rewardsmith.vector:VectorEnv",
            kwargs={"env": env_id},
        )
        _REGISTERED.append(gym_id)


_register()
