"""GPT-2, the Decision Transformer family and its inference wrapper against TorchRL 0.14.1 /
transformers, with weights copied by jaxrl_modules.compat.torchrl_decision_transformer."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchrl.modules")
transformers = pytest.importorskip("transformers")

import flax.linen as nn  # noqa: E402
import jax  # noqa: E402
import torchrl.modules as trl  # noqa: E402
from tensordict import TensorDict as TorchTensorDict  # noqa: E402
from tensordict.nn import TensorDictModule as TorchTensorDictModule  # noqa: E402

from jaxrl_modules import Linear, TensorDict, TensorDictModule  # noqa: E402
from jaxrl_modules.compat.torchrl import load_state_dict  # noqa: E402
from jaxrl_modules.models.decision_transformer import DecisionTransformer, DTActor, GPT2Model, OnlineDTActor  # noqa: E402
from jaxrl_modules.tensordict_module.decision_transformer import DecisionTransformerInferenceWrapper  # noqa: E402
from jaxrl_modules.tensordict_module.lm_head import LMHeadActorValueOperator  # noqa: E402

ATOL = 1e-5
S, A = 3, 2
CONFIG = dict(
    n_embd=16, n_layer=2, n_head=2, n_inner=32, activation="relu", n_positions=30, resid_pdrop=0.0, attn_pdrop=0.0
)
KEYS = ["observation", "action", "return_to_go"]


def _np(t):
    return t.detach().numpy()


def _perturb(module, seed):
    """Random weights everywhere (GPT-2 starts with zero biases and unit LayerNorms), eval mode."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.2 * torch.randn_like(p))
    return module.eval()


def _inputs(batch, steps, seed=0):
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(*batch, steps, d, generator=g) for d in (S, A, 1))


@pytest.fixture(scope="module")
def online():
    torch_actor = _perturb(trl.OnlineDTActor(S, A, CONFIG), 0)
    ours = OnlineDTActor(S, A, CONFIG, deterministic=True)
    return torch_actor, ours, load_state_dict(ours, torch_actor, *(_np(x) for x in _inputs((1,), 2)))


def test_decision_transformer_hidden_states_match(online):
    torch_actor, actor, variables = online
    model = DecisionTransformer(S, A, CONFIG, deterministic=True)
    inner = {"params": variables["params"]["transformer"]}
    assert "wte" not in inner["params"]["transformer"]  # TorchRL's [1, n_embd] placeholder is dropped
    for batch in ((4,), (2, 3)):  # TorchRL flattens several batch dims
        x = _inputs(batch, 7, seed=1)
        with torch.no_grad():
            expected = _np(torch_actor.transformer(*x))
        out = model.apply(inner, *(_np(t) for t in x))
        assert out.shape == expected.shape == (*batch, 7, 16)
        np.testing.assert_allclose(out, expected, atol=ATOL, rtol=1e-5)


def test_online_dt_actor_mean_and_std_match(online):
    torch_actor, actor, variables = online
    x = _inputs((4,), 7, seed=2)
    with torch.no_grad():
        mu, std = (_np(t) for t in torch_actor(*x))
    ours_mu, ours_std = actor.apply(variables, *(_np(t) for t in x))
    np.testing.assert_allclose(ours_mu, mu, atol=ATOL, rtol=1e-5)
    np.testing.assert_allclose(ours_std, std, atol=ATOL, rtol=1e-5)


def test_dt_actor_and_inference_wrapper_match():
    torch_actor = _perturb(trl.DTActor(S, A, CONFIG), 3)
    torch_wrapper = trl.DecisionTransformerInferenceWrapper(
        TorchTensorDictModule(torch_actor, in_keys=KEYS, out_keys=["action"]), inference_context=3
    )
    actor = DTActor(S, A, CONFIG, deterministic=True)
    wrapper = DecisionTransformerInferenceWrapper(
        TensorDictModule(actor, in_keys=KEYS, out_keys=["action"]), inference_context=3
    )
    x = _inputs((4,), 8, seed=4)
    with torch.no_grad():
        expected = _np(torch_actor(*x))
    variables = load_state_dict(actor, torch_actor, *(_np(t) for t in x))
    np.testing.assert_allclose(actor.apply(variables, *(_np(t) for t in x)), expected, atol=ATOL, rtol=1e-5)
    # The wrapper: a context longer than inference_context (masked) and a shorter one (not).
    td = TensorDict(dict(zip(KEYS, (_np(t) for t in x))), batch_size=[4])
    wrapper_variables = load_state_dict(wrapper, torch_wrapper, td)
    for steps in (8, 2):
        x = _inputs((4,), steps, seed=5 + steps)
        with torch.no_grad():
            expected = torch_wrapper(TorchTensorDict(dict(zip(KEYS, x)), batch_size=[4]))
        out = wrapper.apply(wrapper_variables, TensorDict(dict(zip(KEYS, (_np(t) for t in x))), batch_size=[4]))
        assert out["action"].shape == tuple(expected["action"].shape) == (4, A)
        for key in ("action", "return_to_go", "observation"):
            np.testing.assert_allclose(out[key], _np(expected[key]), atol=ATOL, rtol=1e-5)


class TinyLM(nn.Module):
    transformer: nn.Module
    lm_head: nn.Module

    def __call__(self, input_ids, attention_mask=None):
        return self.lm_head(self.transformer(input_ids=input_ids, attention_mask=attention_mask))


def test_gpt2_lm_head_model_and_lm_head_operator_match():
    V = 11
    hf_config = transformers.GPT2Config(
        vocab_size=V,
        n_embd=16,
        n_layer=2,
        n_head=2,
        n_inner=32,
        n_positions=8,
        resid_pdrop=0.0,
        attn_pdrop=0.0,
        embd_pdrop=0.0,
    )
    hf = _perturb(transformers.GPT2LMHeadModel(hf_config), 6)
    config = {
        "n_embd": 16,
        "n_layer": 2,
        "n_head": 2,
        "n_inner": 32,
        "n_positions": 8,
        "activation": hf_config.activation_function,
    }
    lm = TinyLM(GPT2Model(config, vocab_size=V, deterministic=True), Linear(V, use_bias=False))
    ids = torch.randint(1, V, (2, 6), generator=torch.Generator().manual_seed(7))
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1]])  # the second row is left-padded
    with torch.no_grad():
        expected = _np(hf(input_ids=ids, attention_mask=mask).logits)
    lm_variables = load_state_dict(lm, hf, _np(ids), _np(mask))
    logits = lm.apply(lm_variables, _np(ids), _np(mask))
    np.testing.assert_allclose(logits[0], expected[0], atol=ATOL, rtol=1e-5)
    np.testing.assert_allclose(logits[1, 2:], expected[1, 2:], atol=ATOL, rtol=1e-5)  # padding rows aside
    op = LMHeadActorValueOperator(lm)
    td = TensorDict({"input_ids": _np(ids), "attention_mask": _np(mask)}, batch_size=[2])
    variables = op.import_base_variables(op.init(jax.random.key(0), td), lm_variables)
    np.testing.assert_allclose(op.apply(variables, td)["logits"], expected[:, -1], atol=ATOL, rtol=1e-5)


def test_wrong_state_dicts_raise():
    torch_dt = trl.DecisionTransformer(S, A, CONFIG)
    x = [np.zeros((1, 2, d), np.float32) for d in (S, A, 1)]
    with pytest.raises(ValueError, match=r"expects the torch module '...wpe' next"):
        state = {k: v for k, v in torch_dt.state_dict().items() if "wpe" not in k}
        load_state_dict(DecisionTransformer(S, A, CONFIG), state, *x)
    with pytest.raises(ValueError, match=r"wpe' has shape \(24, 16\), torch .* gives \(30, 16\)"):
        load_state_dict(DecisionTransformer(S, A, {**CONFIG, "n_positions": 24}), torch_dt, *x)
    with pytest.raises(ValueError, match=r"expects the torch module '...h.2.ln_1' next .* got 'transformer.ln_f'"):
        load_state_dict(DecisionTransformer(S, A, {**CONFIG, "n_layer": 3}), torch_dt, *x)
