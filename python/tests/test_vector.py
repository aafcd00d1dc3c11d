"""The vector environment: same results as single envs, Gymnasium's SAME_STEP layout."""

import gymnasium
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode, SyncVectorEnv

import rewardsmith

NUM_ENVS = 256
SEED = 2024


def _actions(steps, num_envs, action_dim, seed=0):
    return np.random.default_rng(seed).uniform(-1.0, 1.0, (steps, num_envs, action_dim)).astype(np.float32)


@pytest.mark.parametrize("which", ["cartpole", "short-cartpole file"])
def test_vector_env_steps_like_256_single_envs(which, short_cartpole):
    """Instance i of a vector env seeded S is a single env reset with seed derive_seed(S, i) and
    then without a seed at every episode end: same observations, rewards, terms, fitness, flags
    and final observations, bit for bit, across auto-resets (by termination, and by truncation in
    the 25-step file)."""
    env = "cartpole" if which == "cartpole" else short_cartpole
    steps = 60
    venv = rewardsmith.make_vec(env, NUM_ENVS, seed=SEED, threads=2)
    singles = [rewardsmith.make(env) for _ in range(NUM_ENVS)]
    obs, info = venv.reset()
    assert info == {} and obs.shape == (NUM_ENVS, 4) and obs.dtype == np.float32
    expected = np.stack([e.reset(seed=rewardsmith.derive_seed(SEED, i))[0] for i, e in enumerate(singles)])
    np.testing.assert_array_equal(obs, expected)
    ended = {"terminated": 0, "truncated": 0}
    for t, actions in enumerate(_actions(steps, NUM_ENVS, 1)):
        obs, rewards, terminated, truncated, infos = venv.step(actions)
        assert rewards.dtype == np.float64 and terminated.dtype == np.bool_ and truncated.dtype == np.bool_
        for i, single in enumerate(singles):
            s_obs, s_reward, s_term, s_trunc, s_info = single.step(actions[i])
            assert (terminated[i], truncated[i]) == (s_term, s_trunc), (t, i)
            assert rewards[i] == s_reward, (t, i)
            done = s_term or s_trunc
            info = infos["final_info"] if done else infos
            for key, value in s_info.items():
                assert info[key][i] == value and info["_" + key][i], (t, i, key)
            if done:
                ended["terminated" if s_term else "truncated"] += 1
                np.testing.assert_array_equal(infos["final_obs"][i], s_obs)
                s_obs, _ = single.reset()
            else:
                assert "final_obs" not in infos or infos["final_obs"][i] is None
            np.testing.assert_array_equal(obs[i], s_obs, err_msg=f"step {t}, instance {i}")
    assert ended["terminated"] > 0, "random actions end cartpole episodes"
    if which != "cartpole":
        assert ended["truncated"] >= NUM_ENVS // 2, ended


@pytest.mark.parametrize("actions", ["random", "zero"])
def test_info_layout_is_that_of_gymnasiums_sync_vector_env_in_same_step_mode(actions, short_cartpole):
    """Against SyncVectorEnv over single envs (autoreset SAME_STEP, the same per-instance seeds):
    identical arrays and identical info dictionaries, masks and final_obs/final_info included.
    With zero actions every instance truncates at step 25 at once (no top-level term entries)."""
    n, steps = 16, 40
    ours = rewardsmith.make_vec(short_cartpole, n, threads=1)
    assert ours.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    sync = SyncVectorEnv([lambda: rewardsmith.make(short_cartpole) for _ in range(n)], autoreset_mode=AutoresetMode.SAME_STEP)
    obs, info = ours.reset(seed=SEED)
    s_obs, s_info = sync.reset(seed=[rewardsmith.derive_seed(SEED, i) for i in range(n)])
    np.testing.assert_array_equal(obs, s_obs)
    assert info == s_info == {}
    saw_final = False
    saw_all_done = False
    for a in _actions(steps, n, 1, seed=1) if actions == "random" else np.zeros((steps, n, 1), np.float32):
        got = ours.step(a)
        want = sync.step(a)
        saw_all_done |= bool(np.all(got[2] | got[3]))
        for a, b in zip(got[:4], want[:4]):
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_array_equal(a, b)
        _assert_infos_equal(got[4], want[4])
        saw_final |= "final_obs" in got[4]
    assert saw_final
    assert saw_all_done == (actions == "zero")


def _assert_infos_equal(got, want, path="infos"):
    assert sorted(got) == sorted(want), path
    for key, w in want.items():
        g = got[key]
        if isinstance(w, dict):
            _assert_infos_equal(g, w, f"{path}[{key!r}]")
        elif w.dtype == object:
            assert g.dtype == object and len(g) == len(w), key
            for x, y in zip(g, w):
                assert (x is None and y is None) or np.array_equal(x, y), (path, key)
        else:
            assert g.dtype == w.dtype, (path, key, g.dtype, w.dtype)
            np.testing.assert_array_equal(g, w, err_msg=f"{path}[{key!r}]")


def test_results_do_not_depend_on_the_thread_count():
    a, b = rewardsmith.make_vec("cartpole", 64, threads=1, seed=5), rewardsmith.make_vec("cartpole", 64, threads=2, seed=5)
    np.testing.assert_array_equal(a.reset()[0], b.reset()[0])
    for actions in _actions(40, 64, 1, seed=3):
        for x, y in zip(a.step(actions)[:4], b.step(actions)[:4]):
            np.testing.assert_array_equal(x, y)


def test_seeding_reset_and_spaces():
    venv = rewardsmith.make_vec("cartpole", 8)
    assert venv.single_observation_space == gymnasium.spaces.Box(-np.inf, np.inf, (4,), np.float32)
    assert venv.action_space.shape == (8, 1) and venv.observation_space.shape == (8, 4)
    first, _ = venv.reset(seed=3)
    again, _ = venv.reset(seed=3)
    np.testing.assert_array_equal(first, again)
    fresh, _ = venv.reset()
    assert not np.array_equal(first, fresh), "a seedless reset starts new episodes"
    other = rewardsmith.make_vec("cartpole", 8)
    other.reset(seed=3)
    np.testing.assert_array_equal(other.reset()[0], fresh)
    assert venv.spec.id == "rewardsmith/cartpole-v1" and venv.spec.max_episode_steps == 500
    with pytest.raises(TypeError):
        venv.reset(seed=[1, 2])


def test_vector_env_errors_are_python_exceptions():
    venv = rewardsmith.make_vec("cartpole", 4)
    with pytest.raises(gymnasium.error.ResetNeeded):
        venv.step(np.zeros((4, 1), np.float32))
    venv.reset(seed=0)
    with pytest.raises(ValueError, match=r"shape \(4, 1\)"):
        venv.step(np.zeros((4, 2), np.float32))
    # The right number of values in another shape would hand rows to the wrong instances.
    for shape in [(1, 4), (4,)]:
        with pytest.raises(ValueError, match=r"shape \(4, 1\)"):
            venv.step(np.zeros(shape, np.float32))
    with pytest.raises(ValueError):
        rewardsmith.make_vec("cartpole", 0)
    source = "fn compute_reward(s) {\n    if s.cart_velocity > 0.5 { throw \"boom\"; }\n    #{ a: 1.0 }\n}\n"
    venv = rewardsmith.make_vec("cartpole", 4, reward="throws.rhai", reward_source=source, seed=0)
    venv.reset()
    with pytest.raises(rewardsmith.RewardsmithError, match="throws.rhai:2:"):
        for _ in range(200):
            venv.step(np.ones((4, 1), np.float32))
    with pytest.raises(gymnasium.error.ResetNeeded, match="the last step failed"):
        venv.step(np.ones((4, 1), np.float32))
    venv.reset()
    venv.step(np.zeros((4, 1), np.float32))
