"""LMHeadActorValueOperator over a tiny flax GPT-2 language model."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_modules import ExplorationType, Linear, TensorDict
from jaxrl_modules.models.decision_transformer import GPT2Model
from jaxrl_modules.tensordict_module.lm_head import LMHeadActorValueOperator

V = 11
CONFIG = {"n_embd": 16, "n_layer": 1, "n_head": 2, "n_inner": 32, "n_positions": 8}


class TinyLM(nn.Module):
    transformer: nn.Module
    lm_head: nn.Module

    def __call__(self, input_ids, attention_mask=None):
        return self.lm_head(self.transformer(input_ids=input_ids, attention_mask=attention_mask))


def tokens(seed=0):
    ids = jnp.asarray(np.random.default_rng(seed).integers(1, V, (2, 5)), jnp.int32)  # no per-shape compile
    mask = jnp.array([[1, 1, 1, 1, 1], [0, 0, 1, 1, 1]])  # the second row is left-padded
    return TensorDict({"input_ids": ids, "attention_mask": mask}, batch_size=[2])


@pytest.fixture(scope="module")
def setup():
    lm = TinyLM(GPT2Model(CONFIG, vocab_size=V, deterministic=True), Linear(V, use_bias=False))
    op = LMHeadActorValueOperator(lm)
    return lm, op, jax.jit(op.init)(jax.random.key(0), tokens())


# Shared compiled programs (each compile costs more than the tests' computations).
_applies = {}


def op_apply(op, variables, td, **kwargs):
    if op not in _applies:
        _applies[op] = jax.jit(op.apply, static_argnames="exploration_type")
    return _applies[op](variables, td, **kwargs)


def test_structure_keys_shapes_and_distribution(setup):
    _, op, variables = setup
    assert op.in_keys == ["input_ids", "attention_mask"]
    assert op.out_keys == ["x", "logits", "action", "action_log_prob", "state_value"]
    value_params = variables["params"]["modules_2"]["module"]
    assert list(value_params) == ["kernel"] and value_params["kernel"].shape == (16, 1)  # no bias
    td = tokens()
    out = op_apply(op, variables, td, exploration_type=ExplorationType.RANDOM, rngs={"sample": jax.random.key(1)})
    assert out["x"].shape == (2, 16) and out["logits"].shape == (2, V) and out["state_value"].shape == (2, 1)
    assert out["action"].shape == (2,) and out["action"].dtype == jnp.int32
    log_softmax = jax.nn.log_softmax(out["logits"])
    np.testing.assert_allclose(out["action_log_prob"], log_softmax[jnp.arange(2), out["action"]], rtol=1e-5)
    # The default (DETERMINISTIC) interaction takes the most likely token.
    np.testing.assert_array_equal(op_apply(op, variables, td)["action"], out["logits"].argmax(-1))


def test_heads_share_the_trunk_and_padding_is_ignored(setup):
    _, op, variables = setup
    td = tokens()
    out = op.apply(variables, td)  # eager, as the two sub-operators below
    np.testing.assert_allclose(op.get_policy_operator().apply(variables, td)["logits"], out["logits"], rtol=1e-6)
    np.testing.assert_allclose(
        op.get_value_operator().apply(variables, td)["state_value"], out["state_value"], rtol=1e-6
    )
    repadded = td.set("input_ids", td["input_ids"].at[1, :2].set(0))
    np.testing.assert_allclose(op_apply(op, variables, repadded)["logits"][1], out["logits"][1], atol=1e-5)


def test_import_base_variables(setup):
    lm, op, variables = setup
    td = tokens()
    lm_variables = jax.jit(lm.init)(jax.random.key(5), td["input_ids"], td["attention_mask"])
    imported = op.import_base_variables(variables, lm_variables)
    np.testing.assert_allclose(
        op_apply(op, imported, td)["logits"],
        jax.jit(lm.apply)(lm_variables, td["input_ids"], td["attention_mask"])[:, -1],
        rtol=1e-5,
        atol=1e-6,
    )
    np.testing.assert_array_equal(
        imported["params"]["modules_2"]["module"]["kernel"], variables["params"]["modules_2"]["module"]["kernel"]
    )
    other = TinyLM(GPT2Model(CONFIG, vocab_size=V + 1), Linear(V + 1))
    with pytest.raises(ValueError, match="base model's params/transformer does not match"):
        op.import_base_variables(variables, jax.eval_shape(other.init, jax.random.key(0), td["input_ids"]))


def test_jit_vmap_and_finite_grads(setup):
    _, op, variables = setup
    td = tokens()
    eager = op.apply(variables, td)
    jitted = op_apply(op, variables, td)
    for key in ("logits", "state_value", "action_log_prob"):
        np.testing.assert_allclose(jitted[key], eager[key], rtol=1e-5, atol=1e-6)
    vmapped = jax.jit(jax.vmap(op.apply, in_axes=(None, 0)))(variables, td)
    loop = jnp.stack([op_apply(op, variables, td[i])["state_value"] for i in range(2)])
    np.testing.assert_allclose(vmapped["state_value"], loop, rtol=1e-5, atol=1e-6)

    def loss(params):
        out = op.apply({"params": params}, td)
        return -out["action_log_prob"].mean() + (out["state_value"] ** 2).mean()

    grads = jax.jit(jax.grad(loss))(variables["params"])
    assert all(bool(jnp.isfinite(g).all()) for g in jax.tree_util.tree_leaves(grads))


def test_bad_base_models_and_inputs(setup):
    _, op, variables = setup

    class NoHead(nn.Module):
        transformer: nn.Module

    with pytest.raises(TypeError, match="base_model \\(NoHead\\) must expose a callable `lm_head`"):
        LMHeadActorValueOperator(NoHead(GPT2Model(CONFIG, vocab_size=V)))
    with pytest.raises(KeyError, match="in_key 'attention_mask' is missing"):
        op.apply(variables, tokens().exclude("attention_mask"))
    long = TensorDict({"input_ids": jnp.ones((1, 9), jnp.int32), "attention_mask": jnp.ones((1, 9))}, [1])
    with pytest.raises(ValueError, match="GPT2Model: a sequence of 9 tokens is longer than n_positions=8"):
        op.apply(variables, long)
