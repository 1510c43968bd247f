"""GPT2Model, DecisionTransformer, DTActor, OnlineDTActor and DecisionTransformerInferenceWrapper."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_modules import Bounded, ExplorationType, ProbabilisticActor, TensorDict, TensorDictModule
from jaxrl_modules.distributions import TanhNormal
from jaxrl_modules.models.decision_transformer import (
    DecisionTransformer,
    DTActor,
    DTConfig,
    GPT2Model,
    OnlineDTActor,
    gpt2_activation,
)
from jaxrl_modules.tensordict_module.decision_transformer import DecisionTransformerInferenceWrapper

S, A, B, T = 3, 2, 2, 4
CONFIG = {"n_embd": 16, "n_layer": 1, "n_head": 2, "n_inner": 32, "n_positions": 24}  # at most 8 steps
KEYS = ["observation", "action", "return_to_go"]

# One model per role, jitted once at module level and shared by the tests (each compile costs; the
# eager path runs once per shape, in test_jit_vmap_and_grad, to check that jit changes nothing).
MODEL = DecisionTransformer(S, A, CONFIG, deterministic=True)
ONLINE = OnlineDTActor(S, A, CONFIG, deterministic=True)
TRAIN = DecisionTransformer(S, A, CONFIG)  # dropout on
apply = jax.jit(MODEL.apply)
train_apply = jax.jit(TRAIN.apply)


def inputs(batch=(B,), steps=T, seed=0):
    # numpy draws: jax.random.normal would compile anew for every shape.
    rng = np.random.default_rng(seed)
    return tuple(jnp.asarray(rng.standard_normal((*batch, steps, d)), jnp.float32) for d in (S, A, 1))


@pytest.fixture(scope="module")
def online():
    """OnlineDTActor's variables: one init serves the actor, its DecisionTransformer and the wrapper."""
    return jax.jit(ONLINE.init)(jax.random.key(0), *inputs())


@pytest.fixture(scope="module")
def dt(online):
    return MODEL, {"params": online["params"]["transformer"]}


# ------------------------------------------------------------------------------ configuration


def test_default_configs_are_torchrls():
    c = DecisionTransformer.default_config()
    assert (c.n_embd, c.n_layer, c.n_head, c.n_inner, c.activation, c.n_positions) == (256, 4, 4, 1024, "relu", 1024)
    assert (c.resid_pdrop, c.attn_pdrop, c.embd_pdrop, c.layer_norm_epsilon) == (0.1, 0.1, 0.1, 1e-5)
    for actor in (DTActor, OnlineDTActor):
        c = actor.default_config()
        assert (c.n_embd, c.n_layer, c.n_head, c.n_inner, c.activation, c.n_positions) == (
            512,
            4,
            4,
            2048,
            "relu",
            1024,
        )
    assert DTActor(S, A).transformer_config.n_embd == 512
    assert DecisionTransformer.DTConfig is DTConfig
    # A partial dict takes the defaults; the module holds its own copy of a mutable config.
    assert DecisionTransformer(S, A, {"n_embd": 8}).config == DTConfig(n_embd=8)
    config = DTConfig(n_embd=8)
    model = DecisionTransformer(S, A, config)
    config.n_embd = 32
    assert model.config.n_embd == 8 and hash(model) == hash(DecisionTransformer(S, A, DTConfig(n_embd=8)))


def test_bad_configs_raise():
    with pytest.raises(TypeError, match=r"DecisionTransformer: unknown config keys \['n_embed'\]"):
        DecisionTransformer(S, A, {"n_embed": 8})
    with pytest.raises(ValueError, match="DTActor: n_embd=10 must be divisible by n_head=4"):
        DTActor(S, A, {"n_embd": 10})
    with pytest.raises(ValueError, match="Unknown GPT-2 activation 'gelu2'"):
        GPT2Model({"activation": "gelu2"})
    with pytest.raises(TypeError, match="config of type int is not supported"):
        DecisionTransformer(S, A, 3)


def test_gpt2_activations():
    x = jnp.linspace(-3, 3, 7)
    tanh_gelu = 0.5 * x * (1 + jnp.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    np.testing.assert_allclose(gpt2_activation("gelu_new")(x), tanh_gelu, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(gpt2_activation("gelu")(x), jax.nn.gelu(x, approximate=False), rtol=1e-6)
    np.testing.assert_allclose(gpt2_activation("relu")(x), jnp.maximum(x, 0))


# ------------------------------------------------------------------------- models: shapes, init


def test_decision_transformer_shapes_and_parameters(dt):
    model, variables = dt
    params = variables["params"]
    assert sorted(params) == ["embed_action", "embed_ln", "embed_return", "embed_state", "transformer"]
    gpt = params["transformer"]
    assert sorted(gpt) == ["h_0", "ln_f", "wpe"] and gpt["wpe"].shape == (24, 16)
    assert gpt["h_0"]["attn"]["c_attn"]["kernel"].shape == (16, 48)
    assert gpt["h_0"]["mlp"]["c_fc"]["kernel"].shape == (16, 32)
    # GPT-2's init: zero biases, residual projections with std 0.02 / sqrt(2 * n_layer).
    assert not gpt["h_0"]["attn"]["c_attn"]["bias"].any()
    assert float(jnp.abs(gpt["h_0"]["mlp"]["c_proj"]["kernel"]).max()) < 5 * 0.02 / math.sqrt(2)
    assert apply(variables, *inputs()).shape == (B, T, 16)
    # Any number of batch dims, as TorchRL's flattening gives: none, or two.
    obs, act, rtg = inputs()
    np.testing.assert_allclose(apply(variables, obs[0], act[0], rtg[0]), apply(variables, obs, act, rtg)[0], atol=1e-5)


def test_actors_shapes_init_and_std_range(online):
    actor = DTActor(S, A, CONFIG, deterministic=True)
    v = jax.jit(actor.init)(jax.random.key(0), *inputs())
    assert jax.eval_shape(actor.apply, v, *inputs()).shape == (B, T, A)
    head = v["params"]["action_layer"]
    np.testing.assert_allclose(head["kernel"].T @ head["kernel"], jnp.eye(A), atol=1e-5)  # orthogonal
    assert not head["bias"].any()
    assert sorted(online["params"]) == ["action_layer_logstd", "action_layer_mean", "transformer"]
    v = jax.tree_util.tree_map(lambda p: 50.0 * p, online)  # saturate tanh to reach both std bounds
    mu, std = jax.jit(ONLINE.apply)(v, *inputs())
    assert mu.shape == std.shape == (B, T, A)
    assert float(std.min()) >= math.exp(-5) * (1 - 1e-5) and float(std.max()) <= math.exp(2) * (1 + 1e-5)
    assert float(std.min()) < math.exp(-4) and float(std.max()) > math.exp(1.5)


# ------------------------------------------------------------------------------------ causality


def test_outputs_never_depend_on_later_tokens(dt):
    _, variables = dt
    obs, act, rtg = inputs()
    base = apply(variables, obs, act, rtg)
    # The state token of step t comes after R_t and s_t, before a_t.
    changed = apply(variables, obs.at[:, 2].add(1.0), act, rtg)
    np.testing.assert_array_equal(changed[:, :2], base[:, :2])
    assert not np.allclose(changed[:, 2], base[:, 2])
    changed = apply(variables, obs, act.at[:, 1].add(1.0), rtg)
    np.testing.assert_array_equal(changed[:, :2], base[:, :2])
    assert not np.allclose(changed[:, 2], base[:, 2])
    changed = apply(variables, obs, act, rtg.at[:, 3].add(1.0))
    np.testing.assert_array_equal(changed[:, :3], base[:, :3])
    assert not np.allclose(changed[:, 3], base[:, 3])


def test_gpt2_attention_mask_hides_padding_and_checks_inputs():
    gpt = GPT2Model(CONFIG, vocab_size=7, deterministic=True)
    ids = jnp.array([[0, 0, 3, 4, 5]])
    mask = jnp.array([[0, 0, 1, 1, 1]])
    v = jax.jit(gpt.init)(jax.random.key(0), ids, mask)
    gpt_apply = jax.jit(gpt.apply)
    out = gpt_apply(v, ids, mask)
    other = gpt_apply(v, ids.at[0, :2].set(6), mask)
    np.testing.assert_allclose(other[:, 2:], out[:, 2:], atol=1e-6)
    assert np.isfinite(out).all()
    assert not np.allclose(gpt_apply(v, ids)[:, 2:], out[:, 2:])  # without the mask the padding counts
    with pytest.raises(ValueError, match="GPT2Model: pass exactly one of input_ids and inputs_embeds"):
        gpt.apply(v, ids, inputs_embeds=jnp.ones((1, 5, 16)))
    with pytest.raises(ValueError, match=r"GPT2Model: attention_mask has shape \(5,\), expected \(1, 5\)"):
        gpt.apply(v, ids, mask[0])
    with pytest.raises(ValueError, match="GPT2Model: a sequence of 25 tokens is longer than n_positions=24"):
        gpt.apply(v, jnp.zeros((1, 25), jnp.int32))
    with pytest.raises(ValueError, match="GPT2Model: input_ids need a token embedding"):
        GPT2Model(CONFIG).init(jax.random.key(0), ids)


# ------------------------------------------------------------------------- dropout, jit, vmap, grad


def test_dropout_comes_from_the_dropout_stream(dt):
    _, variables = dt
    x = inputs()
    d1 = train_apply(variables, *x, rngs={"dropout": jax.random.key(1)})
    d2 = train_apply(variables, *x, rngs={"dropout": jax.random.key(1)})
    d3 = train_apply(variables, *x, rngs={"dropout": jax.random.key(2)})
    np.testing.assert_array_equal(d1, d2)
    assert not np.allclose(d1, d3)


def test_jit_vmap_and_grad(dt):
    model, variables = dt
    x = inputs()
    eager = model.apply(variables, *x)
    np.testing.assert_allclose(apply(variables, *x), eager, rtol=1e-5, atol=1e-5)
    # The call's deterministic=True overrides the attribute (eager: the same ops as above, cached).
    np.testing.assert_array_equal(TRAIN.apply(variables, *x, deterministic=True), eager)
    vmapped = jax.jit(jax.vmap(model.apply, in_axes=(None, 0, 0, 0)))(variables, *x)
    loop = jnp.stack([apply(variables, *(a[i] for a in x)) for i in range(B)])
    np.testing.assert_allclose(vmapped, loop, rtol=1e-5, atol=1e-5)

    def loss(params):  # gradients through dropout too
        return (TRAIN.apply({"params": params}, *x, rngs={"dropout": jax.random.key(3)}) ** 2).mean()

    grads = jax.jit(jax.grad(loss))(variables["params"])
    assert all(bool(jnp.isfinite(g).all()) for g in jax.tree_util.tree_leaves(grads))
    assert all(bool(jnp.abs(g).sum() > 0) for g in jax.tree_util.tree_leaves(grads["transformer"]["h_0"]))


def test_bad_inputs_raise(dt):
    _, variables = dt
    model = MODEL.bind(variables)  # shape checks raise before any computation
    obs, act, rtg = inputs()
    with pytest.raises(
        ValueError, match=r"DecisionTransformer: a context of T=9 steps makes 27 tokens, more than n_positions=24"
    ):
        model(*inputs(steps=9))
    with pytest.raises(
        ValueError, match=r"DecisionTransformer: observation must have shape \[\*B, T, 3\], got \(2, 4, 5\)"
    ):
        model(jnp.ones((B, T, 5)), act, rtg)
    with pytest.raises(ValueError, match=r"DecisionTransformer: return_to_go must have shape \[\*B, T, 1\]"):
        model(obs, act, jnp.ones((B, T, 2)))
    with pytest.raises(ValueError, match=r"action \(2, 3, 2\) and return_to_go \(2, 4, 1\) must share"):
        model(obs, act[:, :3], rtg)


# ----------------------------------------------------------------------------- inference wrapper


POLICY = ProbabilisticActor(
    TensorDictModule(ONLINE, in_keys=KEYS, out_keys=["loc", "scale"]),
    in_keys=["loc", "scale"],
    distribution_class=TanhNormal,
)
WRAPPER = DecisionTransformerInferenceWrapper(POLICY, inference_context=3)
wrapper_apply = jax.jit(WRAPPER.apply, static_argnames="exploration_type")
policy_apply = jax.jit(POLICY.apply)


@pytest.fixture(scope="module")
def wrapped(online):
    variables = {"params": {"policy": {"modules_0": {"module": online["params"]}}}}
    # The wrapper's own init builds exactly this structure (checked by shapes; no compile).
    shapes = jax.eval_shape(WRAPPER.init, jax.random.key(0), sequence_td(steps=6))
    assert jax.tree_util.tree_structure(shapes) == jax.tree_util.tree_structure(variables)
    assert [x.shape for x in jax.tree_util.tree_leaves(shapes)] == [
        x.shape for x in jax.tree_util.tree_leaves(variables)
    ]
    return POLICY, WRAPPER, variables


def sequence_td(steps, batch=(B,), seed=0, time_in_batch=False):
    obs, act, rtg = inputs(batch=batch, steps=steps, seed=seed)
    size = [*batch, steps] if time_in_batch else list(batch)
    return TensorDict({"observation": obs, "action": act, "return_to_go": rtg}, batch_size=size)


def inner(variables):
    return {"params": variables["params"]["policy"]}


def manual_mask(td, context):
    steps = td["observation"].shape[-2]
    keep = (jnp.arange(steps) >= steps - context)[:, None]
    keep_action = (jnp.arange(steps) >= steps - (context - 1))[:, None]
    act = jnp.where(keep_action, td["action"], 0)
    act = jnp.concatenate([act[..., 1:, :], jnp.zeros_like(act[..., :1, :])], axis=-2)
    return (
        td.set("observation", jnp.where(keep, td["observation"], 0))
        .set("action", act)
        .set("return_to_go", jnp.where(keep, td["return_to_go"], 0))
    )


def test_wrapper_keys_shapes_and_masking(wrapped):
    policy, wrapper, variables = wrapped
    assert wrapper.in_keys == KEYS
    assert wrapper.out_keys == ["action", "loc", "observation", "return_to_go", "scale"]
    td = sequence_td(steps=6)
    out = wrapper_apply(variables, td)
    assert out.batch_size == (B,)
    assert out["action"].shape == (B, A) and out["return_to_go"].shape == (B, 1) and out["loc"].shape == (B, 6, A)
    np.testing.assert_array_equal(out["observation"], td["observation"])  # unmasked
    np.testing.assert_array_equal(out["return_to_go"], td["return_to_go"][:, -1])
    expected = policy_apply(inner(variables), manual_mask(td, 3))["action"][:, -1]
    np.testing.assert_allclose(out["action"], expected, rtol=1e-6)
    # Only the context counts: steps before the last 3 (last 2 for actions) change nothing.
    far = (
        td.set("observation", td["observation"].at[:, :3].add(5.0))
        .set("return_to_go", td["return_to_go"].at[:, :3].add(5.0))
        .set("action", td["action"].at[:, :4].add(5.0))
    )
    np.testing.assert_array_equal(wrapper_apply(variables, far)["action"], out["action"])
    near = td.set("action", td["action"].at[:, 4].add(5.0))
    assert not np.allclose(wrapper_apply(variables, near)["action"], out["action"])
    # A batch that includes the time dim loses it.
    timed = wrapper_apply(variables, sequence_td(steps=6, time_in_batch=True))
    assert timed.batch_size == (B,)
    np.testing.assert_allclose(timed["action"], out["action"], rtol=1e-6)


def test_wrapper_on_a_context_shorter_than_inference_context(wrapped):
    policy, wrapper, variables = wrapped
    td = sequence_td(steps=2)  # inference_context=3: nothing to mask, actions still shifted
    out = wrapper_apply(variables, td)
    assert out["action"].shape == (B, A)
    np.testing.assert_allclose(
        out["action"], policy_apply(inner(variables), manual_mask(td, 3))["action"][:, -1], rtol=1e-6
    )
    shifted = jnp.concatenate([td["action"][:, 1:], jnp.zeros((B, 1, A))], axis=1)
    np.testing.assert_array_equal(manual_mask(td, 3)["action"], shifted)


def test_wrapper_follows_the_exploration_type(wrapped):
    policy, wrapper, variables = wrapped
    td = sequence_td(steps=6)
    det = wrapper_apply(variables, td)["action"]
    r1 = wrapper_apply(variables, td, exploration_type=ExplorationType.RANDOM, rngs={"sample": jax.random.key(1)})
    # A string names it too (its own trace: jit's static-argument cache equates "random" and RANDOM).
    r2 = jax.jit(lambda v, td, key: wrapper.apply(v, td, exploration_type="random", rngs={"sample": key}))(
        variables, td, jax.random.key(1)
    )
    np.testing.assert_array_equal(r1["action"], r2["action"])
    assert not np.allclose(r1["action"], det) and bool((jnp.abs(r1["action"]) < 1).all())
    np.testing.assert_array_equal(r1["loc"], wrapper_apply(variables, td)["loc"])  # same network, sampled head


def test_inference_context_one_masks_every_earlier_action(wrapped):
    policy, _, variables = wrapped
    wrapper = DecisionTransformerInferenceWrapper(policy, inference_context=1)
    td = sequence_td(steps=4)
    one_apply = jax.jit(wrapper.apply)
    out = one_apply(variables, td)["action"]
    np.testing.assert_array_equal(one_apply(variables, td.set("action", td["action"] + 3.0))["action"], out)


def test_wrapper_jit_and_vmap(wrapped):
    _, wrapper, variables = wrapped
    td = sequence_td(steps=6)
    eager = wrapper.apply(variables, td)["action"]
    np.testing.assert_allclose(wrapper_apply(variables, td)["action"], eager, rtol=1e-5, atol=1e-6)
    vmapped = jax.jit(jax.vmap(wrapper.apply, in_axes=(None, 0)))(variables, td)["action"]
    loop = jnp.stack([wrapper_apply(variables, td[i])["action"] for i in range(B)])
    np.testing.assert_allclose(vmapped, loop, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(vmapped, eager, rtol=1e-5, atol=1e-6)


def test_wrapper_keys_spec_and_errors(wrapped):
    policy, wrapper, variables = wrapped
    assert wrapper.step(variables) is variables
    assert wrapper.spec["action"] is None
    spec = Bounded(-1.0, 1.0, shape=(A,))
    assert DecisionTransformerInferenceWrapper(policy, spec=spec).spec["action"] == spec
    renamed = TensorDictModule(
        lambda o, a, r: a.sum(-1, keepdims=True) + o[..., :1] + r, in_keys=["obs", "act", "rtg"], out_keys=["out"]
    )
    w = DecisionTransformerInferenceWrapper(renamed).set_tensor_keys(
        observation="obs", action="act", return_to_go="rtg", out_action="out"
    )
    assert w.in_keys == ["obs", "act", "rtg"] and w.out_keys == ["act", "obs", "out", "rtg"]
    td = TensorDict({"obs": jnp.ones((2, 5, 1)), "act": jnp.ones((2, 5, 2)), "rtg": jnp.ones((2, 5, 1))}, [2])
    assert w(td)["out"].shape == (2, 1)
    with pytest.raises(TypeError, match=r"set_tensor_keys got unknown input\(s\) \['obs'\]"):
        wrapper.set_tensor_keys(obs="x")
    with pytest.raises(ValueError, match=r"out_action_key 'action' must be one of the policy's out_keys \['out'\]"):
        DecisionTransformerInferenceWrapper(renamed).set_tensor_keys(observation="obs")
    with pytest.raises(ValueError, match="inference_context must be an int >= 1, got 0"):
        DecisionTransformerInferenceWrapper(policy, inference_context=0)
    with pytest.raises(TypeError, match="policy must be a key-based module"):
        DecisionTransformerInferenceWrapper(OnlineDTActor(S, A, CONFIG))
    bad = sequence_td(steps=6).set("return_to_go", jnp.ones((B, 5, 1)))
    with pytest.raises(ValueError, match=r"'return_to_go' \(2, 5, 1\) must share all dims but the last"):
        wrapper.apply(variables, bad)
    with pytest.raises(ValueError, match="DecisionTransformer: a context of T=9 steps makes 27 tokens"):
        wrapper_apply(variables, sequence_td(steps=9))
