"""``RewardsmithEnv``: one rewardsmith environment as a ``gymnasium.Env``."""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Optional, Union

import gymnasium as gym
import numpy as np
from gymnasium.envs.registration import EnvSpec

from . import _native
from ._common import RewardArg, check_seed, draw_seed, gym_id, load_model, resolve_reward


class RewardsmithEnv(gym.Env):
    """A rewardsmith environment (a built-in id such as ``"cartpole"``, or a path to an env
    ``.toml`` file) with a reward script, stepped in Rust.

    - ``observation_space``: ``Box(-inf, inf, (obs_dim,), float32)``; ``action_space``:
      ``Box(-1, 1, (action_dim,), float32)`` (the env clips actions to it; NaN counts as 0).
    - ``reset(seed=S)`` starts episode ``episode_seed(S, 0)`` and later seedless resets continue
      with ``episode_seed(S, 1)``, ``episode_seed(S, 2)``, … : the episodes of
      ``rewardsmith rollout --seed S``. Without any seed, ``S`` is drawn from ``np_random``.
    - ``step`` returns the script's reward; ``info["reward_<term>"]`` holds each reward term and
      ``info["fitness"]`` the env's ground-truth per-step fitness. Episodes truncate at the env
      file's ``episode_length`` (no ``TimeLimit`` wrapper needed; ``spec.max_episode_steps``
      says it).
    - Rendering: only ``render_mode=None`` (use ``rewardsmith view``/``render`` on a rollout).

    Attributes beyond Gymnasium's: ``env_id``, ``env_version``, ``env_path``, ``env_hash``,
    ``obs_names``, ``action_names``, ``episode_length``, ``control_dt``, ``reward_script``
    (the script's name, or ``None``), ``model`` (the compiled ``_native.Model``).
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        env: Union[str, "os.PathLike[str]"] = "cartpole",
        reward: RewardArg = None,
        *,
        reward_source: Optional[str] = None,
        render_mode: Optional[str] = None,
    ) -> None:
        if render_mode is not None:
            raise ValueError(f"render_mode={render_mode!r}: rewardsmith envs render no frames (only None); use `rewardsmith render` on a rollout")
        self.model = load_model(env)
        name, source = resolve_reward(self.model, reward, reward_source)
        self._env = _native.Env(self.model, name, source)
        self.render_mode = None
        self.reward_script = name
        self.env_id = self.model.id
        self.env_version = self.model.version
        self.env_path = self.model.path
        self.env_hash = self.model.hash
        self.obs_names = list(self.model.obs_names)
        self.action_names = list(self.model.action_names)
        self.episode_length = self.model.episode_length
        self.control_dt = self.model.control_dt
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (self.model.obs_dim,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (self.model.action_dim,), np.float32)
        # The run seed and the number of episodes started from it (the next reset's index).
        self._seed: Optional[int] = None
        self._episode = 0
        self._spec: Optional[EnvSpec] = None
        kwargs = {"env": os.fspath(env)}
        if reward is not None:
            kwargs["reward"] = os.fspath(reward) if isinstance(reward, (str, os.PathLike)) else reward
        if reward_source is not None:
            kwargs["reward_source"] = reward_source
        self.spec = EnvSpec(id=gym_id(self.model), entry_point="rewardsmith.env:RewardsmithEnv", kwargs=kwargs, disable_env_checker=True, order_enforce=False)

    @property
    def spec(self) -> Optional[EnvSpec]:
        """Gymnasium's spec of this env, with ``max_episode_steps`` the env file's episode length."""
        return self._spec

    @spec.setter
    def spec(self, value: Optional[EnvSpec]) -> None:
        # `gymnasium.make` sets a spec with max_episode_steps=None (the ids are registered without
        # one so that no TimeLimit wraps an env that truncates itself); fill in the true length.
        if value is not None and value.max_episode_steps is None:
            value = dataclasses.replace(value, max_episode_steps=self.episode_length)
        self._spec = value

    @property
    def run_seed(self) -> Optional[int]:
        """The seed of the current run of episodes (``rewardsmith rollout --seed``'s)."""
        return self._seed

    @property
    def episode_index(self) -> int:
        """Index of the current episode in the run (-1 before the first reset)."""
        return self._episode - 1

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Starts an episode: ``seed`` starts a new run (episode ``episode_seed(seed, 0)``),
        no seed continues the current run (drawn from ``np_random`` if there is none yet)."""
        # Checked first: our message for a bad seed, and np.integer seeds, which np_random refuses.
        seed = None if seed is None else check_seed(seed)
        super().reset(seed=seed)
        if seed is not None:
            self._seed, self._episode = seed, 0
        elif self._seed is None:
            self._seed, self._episode = draw_seed(self.np_random), 0
        obs = self._env.reset(_native.episode_seed(self._seed, self._episode))
        self._episode += 1
        return obs, {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Applies ``action``; returns ``(obs, reward, terminated, truncated, info)``."""
        return self._env.step(np.asarray(action, dtype=np.float32))

    def render(self) -> None:
        """No frames: ``render_mode`` is always ``None``."""
        return None

    def __repr__(self) -> str:
        return f"<RewardsmithEnv {self.env_id} v{self.env_version} reward={self.reward_script}>"
