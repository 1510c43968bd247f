"""GymnaxEnv and step_mdp: TorchRL's environment interface over gymnax, as pure functions.

One jitted rollout of 64 CartPole environments under a QValueActor + EGreedyModule policy is
compiled once and shared by the tests that read it. The episodes are capped at 12 steps (this
policy drops the pole after 8 to 18) so that both terminations and truncations happen.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_modules import MLP, EGreedyModule, QValueActor, TensorDict, TensorDictSequential
from jaxrl_modules.data.specs import Bounded, Categorical, OneHot, Unbounded
from jaxrl_modules.envs import GymnaxEnv, spec_from_space, step_mdp

N_ENVS, T, MAX_EPISODE = 64, 64, 12

ENV = GymnaxEnv("CartPole-v1", batch_size=(N_ENVS,))
ENV = GymnaxEnv("CartPole-v1", params=ENV.params.replace(max_steps_in_episode=MAX_EPISODE), batch_size=(N_ENVS,))
ACTOR = TensorDictSequential(
    QValueActor(MLP(out_features=2, num_cells=[16]), spec=ENV.action_spec),
    EGreedyModule(ENV.action_spec, eps_init=0.2, eps_end=0.2),
)
VARIABLES = ACTOR.init({"params": jax.random.key(0), "exploration": jax.random.key(1)}, ENV.reset(jax.random.key(0)))


def _policy(td, key):
    return ACTOR.apply(VARIABLES, td, rngs={"exploration": key})


ROLLOUT = jax.jit(lambda key: ENV.rollout(T, _policy, key=key))
OUT = ROLLOUT(jax.random.key(3))


def test_rollout_keys_shapes_dtypes():
    assert OUT.batch_size == (N_ENVS, T)
    for key in (
        "observation",
        "action",
        "action_value",
        "is_init",
        "done",
        "terminated",
        "truncated",
        ("next", "observation"),
        ("next", "reward"),
        ("next", "done"),
        ("next", "terminated"),
        ("next", "truncated"),
    ):
        assert key in OUT, key
    assert OUT["observation"].shape == OUT["next", "observation"].shape == (N_ENVS, T, 4)
    assert OUT["action"].shape == (N_ENVS, T, 2)  # QValueActor's one-hot is int32, as TorchRL's int64
    np.testing.assert_array_equal(OUT["action"].sum(-1), 1)
    assert OUT["next", "reward"].shape == (N_ENVS, T, 1) and OUT["next", "reward"].dtype == jnp.float32
    for key in ("done", "terminated", "truncated"):
        assert OUT["next", key].shape == OUT[key].shape == OUT["is_init"].shape == (N_ENVS, T, 1)
        assert OUT["next", key].dtype == jnp.bool_
    np.testing.assert_array_equal(OUT["next", "reward"], 1.0)  # CartPole pays 1 per step, final included


def test_terminated_and_truncated_kept_apart():
    nxt = jax.device_get(OUT["next"].to_dict())
    obs, state = nxt["observation"], nxt["_env_state"]
    fell = (np.abs(obs[..., 0]) > 2.4) | (np.abs(obs[..., 2]) > 12 * 2 * np.pi / 360)
    np.testing.assert_array_equal(nxt["terminated"][..., 0], fell)
    np.testing.assert_array_equal(nxt["truncated"][..., 0], state["time"] >= MAX_EPISODE)
    np.testing.assert_array_equal(nxt["done"], nxt["terminated"] | nxt["truncated"])
    assert nxt["terminated"].any() and nxt["truncated"].any()
    assert (nxt["truncated"] & ~nxt["terminated"]).any()  # a time limit alone is not a termination


def test_resets_mid_rollout():
    out = jax.device_get(OUT.exclude("_rng", ("next", "_rng")).to_dict())
    done, is_init = out["next"]["done"][..., 0], out["is_init"][..., 0]
    assert is_init[:, 0].all() and done.any()
    np.testing.assert_array_equal(is_init[:, 1:], done[:, :-1])  # is_init exactly on the step after done
    # Without a reset the next root is the last "next"; after one it is a new episode's start.
    cont = ~done[:, :-1]
    np.testing.assert_array_equal(out["observation"][:, 1:][cont], out["next"]["observation"][:, :-1][cont])
    np.testing.assert_array_equal(out["_env_state"]["time"][:, 1:][~cont], 0)
    assert np.all(np.abs(out["observation"][:, 1:][~cont]) <= 0.05)  # CartPole starts in [-0.05, 0.05]
    assert not np.any(out["done"])  # the root's flags are cleared by the reset


def test_same_key_same_rollout():
    again = ROLLOUT(jax.random.key(3))
    other = ROLLOUT(jax.random.key(4))
    for a, b in zip(
        jax.tree.leaves(OUT.exclude("_rng", ("next", "_rng"))), jax.tree.leaves(again.exclude("_rng", ("next", "_rng")))
    ):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(OUT["observation"], other["observation"])


def test_step_mdp_follows_torchrl_defaults():
    td = TensorDict(
        {
            "observation": jnp.zeros((2, 3)),
            "action": jnp.zeros((2,)),
            "reward": jnp.ones((2, 1)),
            "done": jnp.zeros((2, 1), bool),
            "extra": jnp.ones((2,)),
            "next": {
                "observation": jnp.ones((2, 3)),
                "reward": jnp.ones((2, 1)),
                "done": jnp.ones((2, 1), bool),
                "truncated": jnp.ones((2, 1), bool),
            },
        },
        batch_size=[2],
    )
    assert step_mdp(td).keys() == ["done", "extra", "observation", "truncated"]
    assert bool(step_mdp(td)["done"].all())
    assert step_mdp(td, keep_other=False, exclude_action=False).keys() == ["action", "done", "observation", "truncated"]
    assert step_mdp(td, exclude_reward=False, exclude_done=True).keys() == [
        "extra",
        "observation",
        "reward",
        "truncated",
    ]


def test_specs_from_gymnax_spaces():
    env = GymnaxEnv("Pendulum-v1", categorical_action_encoding=True)
    assert isinstance(env.action_spec, Bounded) and env.action_spec.shape == (1,)
    assert isinstance(ENV.observation_spec["observation"], Bounded)
    assert isinstance(GymnaxEnv("CartPole-v1", categorical_action_encoding=True).action_spec, Categorical)
    assert isinstance(ENV.action_spec, OneHot) and isinstance(ENV.reward_spec, Unbounded)
    assert ENV.done_spec.keys() == ["done", "terminated", "truncated"]
    with pytest.raises(TypeError, match="Tuple"):
        from gymnax.environments import spaces

        spec_from_space(spaces.Tuple([spaces.Discrete(2)]))


def test_random_policy_rollout_unbatched():
    env = GymnaxEnv("CartPole-v1", categorical_action_encoding=True)
    out = env.rollout(3, key=jax.random.key(0))
    assert out.batch_size == (3,) and out["action"].shape == (3,) and out["action"].dtype == jnp.int32


def test_unknown_environment_lists_registered():
    with pytest.raises(ValueError, match=r"unknown environment 'CartPole-v9'.*'Acrobot-v1'"):
        GymnaxEnv("CartPole-v9")


def test_action_outside_spec():
    env = GymnaxEnv("CartPole-v1", batch_size=(2,), categorical_action_encoding=True)
    td = env.reset(jax.random.key(0))
    with pytest.raises(ValueError, match=r"outside the action spec.*\[0, 5\]"):
        env.step(td.set("action", jnp.array([0, 5], jnp.int32)))
    with pytest.raises(ValueError, match=r"'action' has shape \(2, 2\), expected \(2,\)"):
        env.step(td.set("action", jnp.zeros((2, 2), jnp.int32)))
    with pytest.raises(KeyError, match="no 'action'"):
        env.step(td)
    # Under jit values cannot raise: they are projected onto the spec (5 -> 1).
    step = jax.jit(env.step)
    out = step(td.set("action", jnp.array([0, 5], jnp.int32)))
    ref = step(td.set("action", jnp.array([0, 1], jnp.int32)))
    np.testing.assert_array_equal(out["next", "observation"], ref["next", "observation"])


def test_policy_must_write_action():
    with pytest.raises(KeyError, match="policy did not write the action key 'action'"):
        ENV.rollout(2, lambda td, k: td.set("act", jnp.zeros((N_ENVS,))), key=jax.random.key(0))
    with pytest.raises(ValueError, match="break_when_any_done=True is not supported"):
        ENV.rollout(2, _policy, key=jax.random.key(0), break_when_any_done=True)


def test_model_step_is_the_envs_own_transition():
    env = GymnaxEnv("Pendulum-v1", batch_size=(3,))
    td = env.reset(jax.random.key(0)).set("action", jnp.array([[2.0], [-1.0], [0.5]]))
    next_state, reward, done = jax.vmap(env.model_step)(td["_env_state"], td["action"])
    out = env.step(td)
    np.testing.assert_array_equal(np.asarray(reward), np.asarray(out["next", "reward"][:, 0]))
    np.testing.assert_array_equal(np.asarray(done), np.asarray(out["next", "done"][:, 0]))
    for name in next_state.keys():
        np.testing.assert_array_equal(np.asarray(next_state[name]), np.asarray(out["next", "_env_state", name]))
