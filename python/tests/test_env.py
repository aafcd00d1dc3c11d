"""The single environment: Gymnasium's checker, seeds, Stable-Baselines3, errors, registration."""

import subprocess
import sys
import warnings

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import rewardsmith
from rewardsmith import _native

ALL_IDS = rewardsmith.ids()


def test_there_are_eight_builtin_envs():
    assert len(ALL_IDS) == 8, ALL_IDS


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_gymnasium_env_checker_passes(env_id):
    env = rewardsmith.make(env_id)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env, skip_render_check=True)
    # The checker reports many of its findings as warnings: none may come from it but the two
    # about the observation bounds, which are infinite by design (observations are unbounded
    # physical quantities).
    unbounded = {"A Box observation space minimum value is -infinity. This is probably too low.",
                 "A Box observation space maximum value is infinity. This is probably too high."}
    found = [str(w.message) for w in caught if not any(u in str(w.message) for u in unbounded)]
    assert found == []
    assert env.observation_space == gymnasium.spaces.Box(-np.inf, np.inf, (env.model.obs_dim,), np.float32)
    assert env.action_space == gymnasium.spaces.Box(-1.0, 1.0, (env.model.action_dim,), np.float32)
    assert len(env.obs_names) == env.model.obs_dim and len(env.action_names) == env.model.action_dim


def test_step_info_holds_every_reward_term_and_the_fitness():
    env = rewardsmith.make("cartpole")
    obs, info = env.reset(seed=3)
    assert obs.dtype == np.float32 and obs.shape == (4,) and info == {}
    obs, reward, terminated, truncated, info = env.step(np.zeros(1, np.float32))
    assert sorted(info) == ["fitness", "reward_alive", "reward_calm", "reward_effort", "reward_upright"]
    assert reward == pytest.approx(sum(v for k, v in info.items() if k.startswith("reward_")))
    assert info["fitness"] == 1.0
    assert isinstance(reward, float) and terminated is False and truncated is False


def test_no_reward_script_gives_reward_zero_and_keeps_the_fitness():
    env = rewardsmith.make("cartpole", reward=False)
    env.reset(seed=0)
    _, reward, _, _, info = env.step([0.0])
    assert reward == 0.0 and info == {"fitness": 1.0}


def test_builtin_script_by_file_name_and_inline_source():
    sparse = rewardsmith.make("cartpole", reward="sparse.rhai")
    assert sparse.reward_script.endswith("cartpole/sparse.rhai")
    inline = rewardsmith.make("cartpole", reward_source="fn compute_reward(s) {\n    #{ lean: -s.pole_angle.abs() }\n}")
    inline.reset(seed=0)
    _, reward, _, _, info = inline.step([0.0])
    assert set(info) == {"reward_lean", "fitness"} and reward == info["reward_lean"] <= 0.0


def _native_episode_obs(seed, episodes):
    """First observation of episodes 0..episodes-1 of run `seed`, straight from the Rust Env."""
    env = _native.Env(_native.Model("cartpole"))
    return [env.reset(rewardsmith.episode_seed(seed, e)) for e in range(episodes)]


def test_seeded_reset_matches_a_fresh_env_and_rollout_episode_seeds():
    """reset(seed=S) is episode episode_seed(S, 0), and seedless resets continue the run with
    episode_seed(S, 1), episode_seed(S, 2), ... as `rewardsmith rollout --seed S` does. (A
    comparison with rollout's own exported observations can build on this.)"""
    seed = 7
    expected = _native_episode_obs(seed, 4)
    env = rewardsmith.make("cartpole")
    env.reset(seed=123)
    env.step(env.action_space.sample())
    first, _ = env.reset(seed=seed)
    fresh, _ = rewardsmith.make("cartpole").reset(seed=seed)
    np.testing.assert_array_equal(first, fresh)
    np.testing.assert_array_equal(first, expected[0])
    assert env.run_seed == seed and env.episode_index == 0
    for k in range(1, 4):
        done = False
        while not done:  # play the episode out, as a training would
            _, _, terminated, truncated, _ = env.step(np.ones(1, np.float32))
            done = terminated or truncated
        obs, _ = env.reset()
        np.testing.assert_array_equal(obs, expected[k], err_msg=f"episode {k}")
        assert env.episode_index == k


def test_unseeded_resets_follow_np_random():
    a, b = rewardsmith.make("cartpole"), rewardsmith.make("cartpole")
    a.np_random, _ = gymnasium.utils.seeding.np_random(5)
    b.np_random, _ = gymnasium.utils.seeding.np_random(5)
    np.testing.assert_array_equal(a.reset()[0], b.reset()[0])
    np.testing.assert_array_equal(a.reset()[0], b.reset()[0])
    c = rewardsmith.make("cartpole")
    assert not np.array_equal(c.reset()[0], rewardsmith.make("cartpole").reset()[0])


class _RecordResets(gymnasium.Wrapper):
    """Keeps the observation of every reset."""

    def __init__(self, env):
        super().__init__(env)
        self.resets = []

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self.resets.append(obs.copy())
        return obs, info


def test_stable_baselines3_ppo_trains_2048_steps_from_the_episodes_of_rewardsmith_rollout(cli, tmp_path):
    torch = pytest.importorskip("torch")
    sb3 = pytest.importorskip("stable_baselines3")
    torch.set_num_threads(1)
    seed = 11
    env = _RecordResets(rewardsmith.make("cartpole"))
    model = sb3.PPO("MlpPolicy", env, n_steps=1024, batch_size=64, n_epochs=2, seed=seed, device="cpu")
    model.learn(total_timesteps=2048)
    assert model.num_timesteps == 2048
    # SB3 resets with seed=seed first, then without: the run's episodes in order, which are the
    # episodes `rewardsmith rollout --seed` plays (its exported observations at each step 0).
    assert len(env.resets) > 2, "a random policy ends many cartpole episodes in 2048 steps"
    cli("rollout", "--env", "cartpole", "--seed", seed, "--steps", 2048, "--out", tmp_path / "r.rollout")
    table = rewardsmith.read_rollout(tmp_path / "r.rollout")
    starts = table["observations"][table["step"] == 0]
    assert len(starts) >= 3
    for k in range(3):
        np.testing.assert_array_equal(env.resets[k], starts[k], err_msg=f"episode {k}")
    for k, obs in enumerate(_native_episode_obs(seed, len(env.resets))):
        np.testing.assert_array_equal(env.resets[k], obs, err_msg=f"episode {k}")


def test_actions_are_clipped_and_nan_counts_as_zero():
    def first_step(action):
        env = rewardsmith.make("cartpole")
        env.reset(seed=2)
        return env.step(np.asarray(action, np.float32))[0]

    np.testing.assert_array_equal(first_step([5.0]), first_step([1.0]))
    np.testing.assert_array_equal(first_step([np.nan]), first_step([0.0]))
    np.testing.assert_array_equal(first_step(np.float64([0.5])), first_step([0.5]))


def test_bad_env_file_raises_naming_the_file(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text('id = "broken"\nversion = 1\nnot_a_key = 3\n')
    with pytest.raises(rewardsmith.RewardsmithError) as e:
        rewardsmith.make(path)
    assert str(path) in str(e.value)
    assert isinstance(e.value, ValueError)
    with pytest.raises(rewardsmith.RewardsmithError, match="no built-in environment with this id"):
        rewardsmith.make("no-such-env")


def test_bad_env_file_toml_syntax_names_file_and_line(tmp_path, short_cartpole):
    path = tmp_path / "syntax.toml"
    path.write_text(short_cartpole.read_text().replace("gravity = [0.0, 0.0, -9.81]", "gravity = [0.0, 0.0,"))
    with pytest.raises(rewardsmith.RewardsmithError) as e:
        rewardsmith.make(path)
    assert str(path) in str(e.value)


def test_bad_script_raises_naming_file_line_and_column(tmp_path):
    path = tmp_path / "broken.rhai"
    path.write_text("fn compute_reward(s) {\n    let x = s.pole_angle +;\n    #{ x: x }\n}\n")
    for make in (lambda: rewardsmith.make("cartpole", reward=path), lambda: rewardsmith.make_vec("cartpole", 4, reward=path)):
        with pytest.raises(rewardsmith.RewardsmithError) as e:
            make()
        message = str(e.value)
        assert message.startswith(f"{path}:2:"), message
    with pytest.raises(rewardsmith.RewardsmithError, match="no such reward script file"):
        rewardsmith.make("cartpole", reward=tmp_path / "missing.rhai")


def test_script_failing_while_stepping_raises_and_the_env_recovers():
    source = "fn compute_reward(s) {\n    if s.cart_position > 0.0 { throw \"boom\"; }\n    #{ a: 1.0 }\n}\n"
    env = rewardsmith.make("cartpole", reward_source=source, reward="throws.rhai")
    env.reset(seed=0)
    with pytest.raises(rewardsmith.RewardsmithError, match="throws.rhai:2:"):
        for _ in range(500):
            env.step([1.0])
    env.reset(seed=0)


def test_misuse_raises_python_exceptions_not_aborts():
    env = rewardsmith.make("cartpole")
    with pytest.raises(rewardsmith.RewardsmithError, match="call reset"):
        env.step([0.0])
    env.reset(seed=0)
    with pytest.raises(rewardsmith.RewardsmithError, match="2 components"):
        env.step([0.0, 0.0])
    with pytest.raises(ValueError, match="seed must be in"):
        env.reset(seed=-1)
    assert env.reset(seed=np.uint64(3))[0].tolist() == env.reset(seed=3)[0].tolist(), "numpy integer seeds are seeds"
    with pytest.raises(ValueError, match="2\\*\\*64"):
        env.reset(seed=2**64)
    with pytest.raises(ValueError):
        rewardsmith.make("cartpole", render_mode="human")


def test_gymnasium_ids_are_registered_for_every_builtin_env():
    expected = sorted(f"rewardsmith/{_native.Model(i).id}-v{_native.Model(i).version}" for i in ALL_IDS)
    assert sorted(rewardsmith.registered_ids()) == expected
    for gym_id in expected:
        assert gym_id in gymnasium.registry
    env = gymnasium.make("rewardsmith/cartpole-v1")
    assert isinstance(env.unwrapped, rewardsmith.RewardsmithEnv)
    assert env.spec.max_episode_steps == 500
    wrapper = env
    while isinstance(wrapper, gymnasium.Wrapper):
        assert not isinstance(wrapper, gymnasium.wrappers.TimeLimit), "the env truncates itself"
        wrapper = wrapper.env
    obs, _ = env.reset(seed=4)
    np.testing.assert_array_equal(obs, rewardsmith.make("cartpole").reset(seed=4)[0])
    sparse = gymnasium.make("rewardsmith/cartpole-v1", reward="sparse.rhai")
    assert sparse.unwrapped.reward_script.endswith("sparse.rhai")
    vec = gymnasium.make_vec("rewardsmith/cartpole-v1", num_envs=3)
    assert isinstance(vec, rewardsmith.VectorEnv) and vec.num_envs == 3


def test_module_import_form_of_the_id_works_in_a_fresh_interpreter():
    code = (
        "import sys, gymnasium\n"
        "assert 'rewardsmith' not in sys.modules\n"
        "env = gymnasium.make('rewardsmith:rewardsmith/cartpole-v1')\n"
        "print(type(env.unwrapped).__name__, env.reset(seed=1)[0].shape)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "RewardsmithEnv (4,)"
