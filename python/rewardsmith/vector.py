"""``VectorEnv``: many instances of one rewardsmith environment, stepped together in Rust."""

from __future__ import annotations

import os
from typing import Any, Optional, Sequence, Union

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from . import _native
from ._common import RewardArg, RewardsmithError, check_seed, draw_seed, gym_id, load_model, resolve_reward


class VectorEnv(gym.vector.VectorEnv):
    """``num_envs`` instances of one env on a Rust thread pool (``threads``; ``None``: one per
    core), stepped with the GIL released.

    Auto-reset is ``AutoresetMode.SAME_STEP`` (``metadata["autoreset_mode"]``), which is what the
    Rust ``VecEnv`` does: an instance whose episode ends is reset within the same ``step``, whose
    observation row is then the first of its next episode, while
    ``infos["final_obs"]`` (an object array, ``None`` for the others; mask ``"_final_obs"``) holds
    its last observation and ``infos["final_info"]`` (mask ``"_final_info"``) that step's info.
    As with Gymnasium's ``SyncVectorEnv`` in this mode, the top-level ``infos`` of a finished
    instance are those of its reset (none), so its ``reward_<term>`` and ``fitness`` entries are
    only in ``final_info``; ``rewards``, ``terminations`` and ``truncations`` are the step's.

    Seeds: ``reset(seed=S)`` runs instance ``i`` on the episodes of ``derive_seed(S, i)``
    (``episode_seed(derive_seed(S, i), k)`` for its ``k``-th episode), as
    ``RewardsmithEnv.reset(seed=derive_seed(S, i))`` followed by seedless resets would; Gymnasium's
    own vector envs use ``S + i`` instead. A seedless reset draws a new ``S`` from ``np_random``
    (the constructor's ``seed`` is used by the first reset when it has none).
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}

    def __init__(
        self,
        env: Union[str, "os.PathLike[str]"] = "cartpole",
        num_envs: int = 1,
        reward: RewardArg = None,
        *,
        reward_source: Optional[str] = None,
        threads: Optional[int] = None,
        seed: Optional[int] = None,
        render_mode: Optional[str] = None,
    ) -> None:
        if render_mode is not None:
            raise ValueError(f"render_mode={render_mode!r}: rewardsmith envs render no frames (only None)")
        if int(num_envs) < 1:
            raise ValueError(f"num_envs must be at least 1, got {num_envs}")
        if threads is not None and int(threads) < 1:
            raise ValueError(f"threads must be at least 1 (or None for one per core), got {threads}")
        self.model = load_model(env)
        self._reward = resolve_reward(self.model, reward, reward_source)
        if self._reward[0] is not None:
            # Report a broken script now, not at the first reset.
            self.model.check_reward(*self._reward)
        self.num_envs = int(num_envs)
        self.threads = 0 if threads is None else int(threads)
        self.render_mode = None
        self.reward_script = self._reward[0]
        self.env_id = self.model.id
        self.env_version = self.model.version
        self.obs_names = list(self.model.obs_names)
        self.action_names = list(self.model.action_names)
        self.episode_length = self.model.episode_length
        self.single_observation_space = gym.spaces.Box(-np.inf, np.inf, (self.model.obs_dim,), np.float32)
        self.single_action_space = gym.spaces.Box(-1.0, 1.0, (self.model.action_dim,), np.float32)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        kwargs: dict[str, Any] = {"env": os.fspath(env)}
        if reward is not None:
            kwargs["reward"] = os.fspath(reward) if isinstance(reward, (str, os.PathLike)) else reward
        if reward_source is not None:
            kwargs["reward_source"] = reward_source
        self.spec = gym.envs.registration.EnvSpec(
            id=gym_id(self.model), entry_point="rewardsmith.env:RewardsmithEnv", vector_entry_point="rewardsmith.vector:VectorEnv", kwargs=kwargs, max_episode_steps=self.episode_length
        )
        self._initial_seed = None if seed is None else check_seed(seed)
        self._venv: Optional[_native.VecEnv] = None
        self._venv_seed: Optional[int] = None
        self._needs_reset = False
        # Cached per term-name tuple: the info keys and masks.
        self._names: Optional[tuple] = None
        self._keys: list[str] = []
        self._all = np.ones(self.num_envs, dtype=np.bool_)

    @property
    def run_seed(self) -> Optional[int]:
        """The seed of the current run (instance ``i`` runs ``derive_seed(run_seed, i)``)."""
        return self._venv_seed

    def reset(self, *, seed: Optional[Union[int, Sequence[int]]] = None, options: Optional[dict] = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Resets every instance; see the class docs for ``seed``. Returns ``(obs, {})``."""
        if seed is not None and not isinstance(seed, (int, np.integer)):
            raise TypeError("reset takes one int seed (instance i runs derive_seed(seed, i)), not one per instance")
        if seed is None and self._venv is None and self._initial_seed is not None:
            seed = self._initial_seed
        # Checked first: our message for a bad seed, and np.integer seeds, which np_random refuses.
        seed = None if seed is None else check_seed(seed)
        super().reset(seed=seed)
        run_seed = draw_seed(self.np_random) if seed is None else seed
        if self._venv is None or run_seed != self._venv_seed:
            self._venv = _native.VecEnv(self.model, self.num_envs, run_seed, self.threads, *self._reward)
            self._venv_seed = run_seed
        self._needs_reset = False
        return self._venv.reset(), {}

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Steps every instance with its row of ``actions`` (``num_envs × action_dim``)."""
        if self._venv is None or self._needs_reset:
            raise gym.error.ResetNeeded("call reset before step" + (" (the last step failed)" if self._needs_reset else ""))
        actions = np.asarray(actions, dtype=np.float32)
        if actions.shape != self.action_space.shape:
            # Same size but another shape (transposed, flat) would hand rows to the wrong instances.
            raise ValueError(f"actions must have shape {self.action_space.shape} (num_envs, action_dim), got {actions.shape}")
        try:
            obs, rewards, terminated, truncated, fitness, terms, names, final_obs = self._venv.step(actions)
        except RewardsmithError:
            # Some instances stepped and some did not: only a reset makes the batch consistent.
            self._needs_reset = True
            raise
        if names is not self._names:
            self._names = names
            self._keys = [f"reward_{n}" for n in names]
        infos: dict[str, Any] = {}
        columns = terms.T
        done = terminated | truncated
        if not done.any():
            for key, column in zip(self._keys, columns):
                infos[key] = column.copy()
                infos["_" + key] = self._all.copy()
            infos["fitness"] = fitness
            infos["_fitness"] = self._all.copy()
            return obs, rewards, terminated, truncated, infos
        live = ~done
        # Laid out as SyncVectorEnv's `_add_info` would: the finished instances' step info goes to
        # final_info, their reset info (empty) to the top level.
        if live.any():
            for key, column in zip(self._keys, columns):
                infos[key] = np.where(live, column, 0.0)
                infos["_" + key] = live.copy()
            infos["fitness"] = np.where(live, fitness, 0.0)
            infos["_fitness"] = live.copy()
        final = np.full(self.num_envs, None, dtype=object)
        for i in np.flatnonzero(done):
            final[i] = final_obs[i].copy()
        final_info: dict[str, Any] = {}
        for key, column in zip(self._keys, columns):
            final_info[key] = np.where(done, column, 0.0)
            final_info["_" + key] = done.copy()
        final_info["fitness"] = np.where(done, fitness, 0.0)
        final_info["_fitness"] = done.copy()
        infos["final_obs"] = final
        infos["_final_obs"] = done.copy()
        infos["final_info"] = final_info
        infos["_final_info"] = done
        return obs, rewards, terminated, truncated, infos

    def render(self) -> None:
        """No frames: ``render_mode`` is always ``None``."""
        return None

    def close_extras(self, **kwargs: Any) -> None:
        """Drops the instances and their thread pool."""
        self._venv = None

    def __repr__(self) -> str:
        return f"<rewardsmith.VectorEnv {self.env_id} v{self.env_version}, num_envs={self.num_envs}>"
