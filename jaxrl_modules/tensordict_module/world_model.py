"""Key-based world models: TorchRL's ``RSSMRollout`` (a ``lax.scan`` over time) and
``WorldModelWrapper``.

`RSSMRollout` runs an RSSM prior and posterior (key-based modules wrapping
`jaxrl_modules.models.model_based.RSSMPrior` / `RSSMPosterior`) along the last batch dim of a
TensorDict, feeding each step's posterior state and prior belief to the next step, as TorchRL's
does. TorchRL's wiring (its Dreamer recipe)::

    prior:     ["state", "belief", "action"]
               -> [("next", "prior_mean"), ("next", "prior_std"), "_", ("next", "belief")]
    posterior: [("next", "belief"), ("next", "encoded_latents")]
               -> [("next", "posterior_mean"), ("next", "posterior_std"), ("next", "state")]

An extra in key per module (``"prior_noise"``, ``"posterior_noise"``) feeds the standard normal
draws from the TensorDict instead of the ``"sample"`` RNG stream.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from jaxrl_modules import rng
from jaxrl_modules.data.tensordict import TensorDict
from jaxrl_modules.exploration_type import ExplorationType
from jaxrl_modules.tensordict_module.base import Keys, TensorDictModuleBase
from jaxrl_modules.tensordict_module.probabilistic import Inactive
from jaxrl_modules.tensordict_module.sequence import TensorDictSequential

__all__ = ["RSSMRollout", "WorldModelWrapper"]

# The keys TorchRL's rollout carries from one step to the next (hard-coded there too).
_CARRIED = (("state", ("next", "state")), ("belief", ("next", "belief")))


class RSSMRollout(TensorDictModuleBase):
    """Rolls an RSSM prior and posterior out over time, with ``jax.lax.scan`` (TorchRL's
    ``RSSMRollout``).

    The input's last batch dim is time. Step ``t`` runs the prior then the posterior on the
    entries at ``[..., t]``; for ``t > 0``, ``"state"`` and ``"belief"`` are replaced by step
    ``t - 1``'s ``("next", "state")`` (the posterior's sample) and ``("next", "belief")``, so only
    their values at ``t = 0`` are read. Entries at the out keys are dropped from the input first.
    The output holds the input's entries (``"state"`` / ``"belief"`` as fed to each step) and the
    out keys, stacked along the same time dim.

    Args:
      rssm_prior: key-based prior writing ``("next", "belief")``.
      rssm_posterior: key-based posterior writing ``("next", "state")``.
      use_scan: ``True`` (default) compiles one step inside ``lax.scan``; ``False`` unrolls the
        loop at trace time, as TorchRL's Python loop (TorchRL's default). The results are equal;
        unrolling grows the program with the length but can run faster for short sequences.
      compile_step, compile_backend, compile_mode: TorchRL's ``torch.compile`` settings; only
        their defaults are accepted: jit the ``apply`` function instead (the whole rollout
        compiles).

    ``in_keys`` / ``out_keys`` are those of ``TensorDictSequential(rssm_prior, rssm_posterior)``.
    Randomness: each step draws from the ``"sample"`` stream (split per step).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from jaxrl_modules.data.specs import Unbounded
      >>> from jaxrl_modules.data.tensordict import TensorDict
      >>> from jaxrl_modules.models.model_based import RSSMPosterior, RSSMPrior
      >>> from jaxrl_modules.tensordict_module.module import TensorDictModule
      >>> prior = TensorDictModule(
      ...     RSSMPrior(Unbounded(shape=(2,)), hidden_dim=8, rnn_hidden_dim=8, state_dim=3),
      ...     in_keys=["state", "belief", "action"],
      ...     out_keys=[("next", "prior_mean"), ("next", "prior_std"), "_", ("next", "belief")])
      >>> posterior = TensorDictModule(
      ...     RSSMPosterior(hidden_dim=8, state_dim=3),
      ...     in_keys=[("next", "belief"), ("next", "encoded_latents")],
      ...     out_keys=[("next", "posterior_mean"), ("next", "posterior_std"), ("next", "state")])
      >>> rollout = RSSMRollout(prior, posterior)
      >>> B, T = 4, 10
      >>> td = TensorDict({"state": jnp.zeros((B, T, 3)), "belief": jnp.zeros((B, T, 8)),
      ...                  "action": jnp.ones((B, T, 2)),
      ...                  "next": {"encoded_latents": jnp.ones((B, T, 5))}}, batch_size=[B, T])
      >>> variables = rollout.init(jax.random.key(0), td)
      >>> out = rollout.apply(variables, td, rngs={"sample": jax.random.key(1)})
      >>> out["next", "state"].shape, out["next", "belief"].shape
      ((4, 10, 3), (4, 10, 8))
      >>> bool(jnp.allclose(out["state"][:, 1:], out["next", "state"][:, :-1]))
      True
    """

    rssm_prior: TensorDictModuleBase
    rssm_posterior: TensorDictModuleBase
    use_scan: bool = True
    compile_step: bool = False
    compile_backend: str = "inductor"
    compile_mode: str | None = None

    def __post_init__(self) -> None:
        for name in ("rssm_prior", "rssm_posterior"):
            if not isinstance(getattr(self, name), TensorDictModuleBase):
                raise TypeError(
                    f"RSSMRollout: {name} must be a key-based module (wrap the network in "
                    f"TensorDictModule), got {type(getattr(self, name)).__name__}."
                )
        if (self.compile_step, self.compile_backend, self.compile_mode) != (False, "inductor", None):
            raise ValueError(
                "RSSMRollout: compile_step / compile_backend / compile_mode are torch.compile settings; "
                "in JAX jit the apply function instead (the whole rollout compiles)."
            )
        super().__post_init__()

    @property
    def in_keys(self) -> Keys:
        return TensorDictSequential(self.rssm_prior, self.rssm_posterior, parent=None).in_keys

    @property
    def out_keys(self) -> Keys:
        return TensorDictSequential(self.rssm_prior, self.rssm_posterior, parent=None).out_keys

    def forward(self, td: TensorDict, exploration_type: ExplorationType | None) -> TensorDict:
        if td.batch_dims < 1 or td.batch_size[-1] < 1:
            raise ValueError(
                f"RSSMRollout: time is the last batch dim, so the TensorDict needs at least one batch "
                f"dim of size >= 1; got batch_size {td.batch_size}."
            )
        for key, _ in _CARRIED:
            if key not in td:
                raise KeyError(f"RSSMRollout: in_key {key!r} (the initial {key}, read at t = 0) is missing.")
        time_axis = td.batch_dims - 1
        steps = td.exclude(*(k for k in self.out_keys if k != "_"))
        steps = steps.apply(lambda x: jnp.moveaxis(x, time_axis, 0))
        carry = tuple(steps.get(key)[0] for key, _ in _CARRIED)

        def step(module: RSSMRollout, carry: tuple, x: TensorDict) -> tuple[tuple, TensorDict]:
            for (key, _), value in zip(_CARRIED, carry):
                x = x.set(key, value)
            for sub in (module.rssm_prior, module.rssm_posterior):
                x = x.update(sub(x, exploration_type=exploration_type))
            new = []
            for (key, next_key), value in zip(_CARRIED, carry):
                if next_key not in x:
                    raise KeyError(
                        f"RSSMRollout: no module wrote {next_key!r}, which becomes {key!r} at the next step."
                    )
                out = x.get(next_key)
                if out.shape != value.shape or out.dtype != value.dtype:
                    raise ValueError(
                        f"RSSMRollout: {next_key!r} ({out.shape}, {out.dtype}) becomes {key!r} at the next "
                        f"step, so it must match {key!r} ({value.shape}, {value.dtype})."
                    )
                new.append(out)
            return tuple(new), x

        scan = nn.scan(
            step,
            variable_broadcast=True,
            split_rngs={"params": False, **dict.fromkeys(rng.RNG_STREAMS, True)},
            unroll=1 if self.use_scan else td.batch_size[-1],
        )
        _, out = scan(self, carry, steps)
        return out.apply(lambda x: jnp.moveaxis(x, 0, time_axis))


class WorldModelWrapper(TensorDictSequential):
    """A transition model then a reward model (TorchRL's ``WorldModelWrapper``).

    ``get_transition_model_operator()`` and ``get_reward_operator()`` are views that apply with
    this wrapper's very variables.

    Args:
      transition_model: key-based module producing the (next) world state.
      reward_model: key-based module reading the world state and writing a reward.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from jaxrl_modules.data.tensordict import TensorDict
      >>> from jaxrl_modules.models.mlp import MLP
      >>> from jaxrl_modules.tensordict_module.module import TensorDictModule
      >>> transition = TensorDictModule(MLP(out_features=4), in_keys=["state", "action"],
      ...                               out_keys=[("next", "state")])
      >>> reward = TensorDictModule(MLP(out_features=1), in_keys=[("next", "state")],
      ...                           out_keys=[("next", "reward")])
      >>> world_model = WorldModelWrapper(transition, reward)
      >>> td = TensorDict({"state": jnp.ones((3, 4)), "action": jnp.ones((3, 2))}, batch_size=[3])
      >>> variables = world_model.init(jax.random.key(0), td)
      >>> world_model.apply(variables, td)["next", "reward"].shape
      (3, 1)
      >>> step = world_model.get_transition_model_operator()
      >>> "reward" in step.apply(variables, td)["next"]
      False
    """

    def __init__(self, transition_model: Any = None, reward_model: Any = None, **fields: Any):
        if "modules" not in fields:
            fields["modules"] = (transition_model, reward_model)
        super().__init__(**fields)

    def get_transition_model_operator(self) -> TensorDictSequential:
        """The transition model alone (applied with the wrapper's variables)."""
        transition, reward = self.modules
        return TensorDictSequential(transition, Inactive(reward, parent=None), parent=None)

    def get_reward_operator(self) -> TensorDictSequential:
        """The reward model alone (applied with the wrapper's variables)."""
        transition, reward = self.modules
        return TensorDictSequential(Inactive(transition, parent=None), reward, parent=None)
