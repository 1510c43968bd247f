"""Errors at the key-based module boundary, in the library's words (issue 20).

flax's scope errors (variables of another module or size, ``v["params"]`` for ``v``, a missing RNG
stream, a direct call of a module that has variables) are re-raised naming the module and what to
pass, chained to flax's; the boundary keeps jit, vmap, scan, mutable and rngs working.
"""

import flax.errors
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_modules import (
    MLP,
    Categorical,
    EGreedyModule,
    ExplorationType,
    QValueActor,
    QValueModule,
    RandomPolicy,
    SafeProbabilisticModule,
    TensorDict,
    TensorDictModule,
    TensorDictSequential,
)
from jaxrl_modules.distributions import TanhNormal

TD = TensorDict({"observation": jnp.ones((5, 3))}, batch_size=[5])
ACTOR = TensorDictModule(MLP(out_features=2, num_cells=[8]), in_keys=["observation"], out_keys=["action"])
VARIABLES = ACTOR.init(jax.random.key(0), TD)
USAGE = r"variables = module\.init\(jax\.random\.key\(0\), td\); out = module\.apply\(variables, td"


def _chained(excinfo, flax_type):
    assert isinstance(excinfo.value.__cause__, flax_type), type(excinfo.value.__cause__)


def test_variables_of_another_size():
    other = TensorDictModule(MLP(out_features=2, num_cells=[16]), in_keys=["observation"], out_keys=["action"])
    with pytest.raises(
        ValueError, match=rf"TensorDictModule\(MLP\)\.apply: the variables do not fit this module .*{USAGE}"
    ) as e:
        ACTOR.apply(other.init(jax.random.key(0), TD), TD)
    _chained(e, flax.errors.ScopeParamShapeError)


def test_variables_of_another_module():
    from jaxrl_modules import Linear

    other = TensorDictModule(Linear(2), in_keys=["observation"], out_keys=["action"])
    with pytest.raises(ValueError, match="do not fit this module.*another module") as e:
        ACTOR.apply(other.init(jax.random.key(0), TD), TD)
    _chained(e, flax.errors.ScopeParamNotFoundError)


def test_params_instead_of_variables_and_empty_variables():
    with pytest.raises(
        ValueError, match=rf"no collection such as 'params': pass the whole variables \(v\), not v\['params'\].*{USAGE}"
    ) as e:
        ACTOR.apply(VARIABLES["params"], TD)
    _chained(e, flax.errors.ScopeCollectionNotFound)
    with pytest.raises(ValueError, match=r"the variables are empty \(\{\}\), but this module has variables") as e:
        ACTOR.apply({}, TD)
    _chained(e, flax.errors.ScopeCollectionNotFound)
    with pytest.raises(TypeError, match="variables must be the dict returned by init, got int"):
        ACTOR.apply(3, TD)


def test_direct_call_of_a_module_with_variables():
    with pytest.raises(
        RuntimeError, match=rf"TensorDictModule\(MLP\) has variables .* cannot be called directly.*{USAGE}\)"
    ) as e:
        ACTOR(TD)
    _chained(e, flax.errors.CallCompactUnboundModuleError)
    egreedy = EGreedyModule(Categorical(4))
    td = TensorDict({"action": jnp.zeros(5, jnp.int32)}, batch_size=[5])
    with pytest.raises(RuntimeError, match=r"EGreedyModule .*rngs=\{'exploration': key\}"):
        egreedy(td)
    with pytest.raises(RuntimeError, match=r"RandomPolicy .*apply\(variables, td, rngs=\{'exploration': key\}\)"):
        RandomPolicy(Categorical(4))(td)
    # parameter-free modules stay callable directly, as in TorchRL
    assert QValueModule("categorical")(jnp.array([1.0, 3.0]))[0].shape == ()


def test_missing_or_misspelt_rng_stream():
    egreedy = EGreedyModule(Categorical(4))
    td = TensorDict({"action": jnp.zeros(5, jnp.int32)}, batch_size=[5])
    variables = egreedy.init(jax.random.key(0), td)
    assert egreedy.rng_streams() == ("exploration",)
    with pytest.raises(
        ValueError,
        match=r"EGreedyModule\.apply: it draws from the RNG stream 'exploration', which was not given; "
        r"rngs given: none.*rngs=\{'exploration': key\}",
    ) as e:
        egreedy.apply(variables, td)
    _chained(e, flax.errors.InvalidRngError)
    with pytest.raises(
        ValueError, match=r"rngs given: \['explore'\] \('explore' is not a stream name; did you mean 'exploration'\?\)"
    ):
        egreedy.apply(variables, td, rngs={"explore": jax.random.key(0)})
    head = SafeProbabilisticModule(["loc", "scale"], ["action"], distribution_class=TanhNormal)
    td = TensorDict({"loc": jnp.zeros((2, 1)), "scale": jnp.ones((2, 1))}, batch_size=[2])
    with pytest.raises(ValueError, match=r"stream 'sample'.*rngs=\{'sample': key\}"):
        head.apply({}, td, exploration_type="random")
    seq = TensorDictSequential(TensorDictModule(lambda x: x, in_keys=["loc"], out_keys=["loc"]), head)
    assert seq.rng_streams() == ("sample",)


def test_unknown_exploration_type_lists_the_valid_values():
    valid = r"valid: ExplorationType\.MODE / MEDIAN / MEAN / RANDOM / DETERMINISTIC, their values 'mode', .*or None"
    with pytest.raises(
        ValueError, match=rf"QValueModule: exploration_type: unknown exploration type 'randum'; {valid}"
    ):
        QValueModule("categorical")(jnp.ones(3), exploration_type="randum")
    with pytest.raises(ValueError, match=rf"EGreedyModule: exploration_type: unknown .*'randum'; {valid}"):
        EGreedyModule(Categorical(4), exploration_type="randum")  # a field: at construction
    assert EGreedyModule(Categorical(4), exploration_type="RANDOM").exploration_type == "RANDOM"
    assert ExplorationType("Mode") is ExplorationType.MODE


def test_the_boundary_keeps_jit_vmap_scan_mutable_and_rngs():
    actor = QValueActor(MLP(out_features=4), spec=Categorical(4))
    egreedy = EGreedyModule(Categorical(4), eps_init=1.0)
    policy = TensorDictSequential(actor, egreedy)
    variables = policy.init({"params": jax.random.key(0), "exploration": jax.random.key(1)}, TD)
    rngs = {"exploration": jax.random.key(2)}
    eager = policy.apply(variables, TD, rngs=rngs)
    jitted = jax.jit(lambda v, td, r: policy.apply(v, td, rngs=r))(variables, TD, rngs)
    np.testing.assert_array_equal(eager["action"], jitted["action"])
    vmapped = jax.vmap(lambda td: policy.apply(variables, td, rngs=rngs))(TD.reshape(5, 1))
    assert vmapped["action"].shape == (5, 1)

    def body(v, _):
        out, mutated = policy.apply(v, TD, rngs=rngs, mutable=["schedule"])
        return {**v, **mutated}, out["action"]

    _, actions = jax.lax.scan(body, variables, None, length=3)
    assert actions.shape == (3, 5)
    # init with a plain key, and the array call form through apply
    assert actor.apply(actor.init(jax.random.key(0), TD), TD)["action"].shape == (5,)
    values = ACTOR.apply(VARIABLES, jnp.ones((5, 3)))
    assert values.shape == (5, 2)
    # errors raised while tracing under jit are the library's too
    with pytest.raises(ValueError, match="the variables do not fit"):
        jax.jit(ACTOR.apply)(
            {"params": {"module": {"linear_0": {"kernel": jnp.ones((3, 16)), "bias": jnp.ones(16)}}}}, TD
        )
