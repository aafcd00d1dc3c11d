"""What the single and the vector environment share: loading an env and choosing its reward script."""

from __future__ import annotations

import os
from typing import Optional, Tuple, Union

import numpy as np

from . import _native
from ._native import RewardsmithError

#: What ``reward=`` accepts: a path to a ``.rhai`` file, the file name of one of the env's
#: built-in scripts (``"sparse.rhai"``), ``None`` for the env's ``human.rhai`` (as the
#: ``rewardsmith`` command line defaults to) or ``False`` for no script (reward 0, no terms).
RewardArg = Union[None, bool, str, "os.PathLike[str]"]

#: Seeds are u64 in Rust; a seed drawn from ``np_random`` covers that whole range.
SEED_BOUND = 2**64


def load_model(env: Union[str, "os.PathLike[str]"]) -> _native.Model:
    """Compiles ``env``: a built-in id (``"cartpole"``) or a path to an env ``.toml`` file."""
    return _native.Model(os.fspath(env))


def resolve_reward(model: _native.Model, reward: RewardArg, reward_source: Optional[str]) -> Tuple[Optional[str], Optional[str]]:
    """The reward script as ``(name, source)``, or ``(None, None)`` for none; ``name`` is what
    error messages call the script (its path for a file)."""
    if reward_source is not None:
        name = os.fspath(reward) if isinstance(reward, (str, os.PathLike)) else "<reward_source>"
        return name, reward_source
    if reward is False:
        return None, None
    if reward is None or reward is True:
        # As `reward_or_default` in the CLI: the env's built-in human.rhai if it has one, else none.
        found = model.builtin_script("human.rhai")
        return (found[0], found[1]) if found is not None else (None, None)
    path = os.fspath(reward)
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            return path, f.read()
    found = model.builtin_script(path)
    if found is not None:
        return found[0], found[1]
    builtin = ", ".join(model.builtin_scripts) or "none"
    raise RewardsmithError(f"{path}: no such reward script file, and {model.id} has no built-in script of this name (built-in: {builtin})")


def draw_seed(rng: np.random.Generator) -> int:
    """A run seed drawn from a Gymnasium ``np_random`` (so seeding that generator fixes it)."""
    return int(rng.integers(0, SEED_BOUND, dtype=np.uint64))


def check_seed(seed: object) -> int:
    """``seed`` as the u64 Rust takes, or a ``ValueError`` saying why not."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if not 0 <= int(seed) < SEED_BOUND:
        raise ValueError(f"seed must be in [0, 2**64), got {seed}")
    return int(seed)


def gym_id(model: _native.Model) -> str:
    """The Gymnasium id of an env: ``rewardsmith/<id>-v<version>``."""
    return f"rewardsmith/{model.id}-v{model.version}"
