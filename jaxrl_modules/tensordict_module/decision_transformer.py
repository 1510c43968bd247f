"""TorchRL's ``DecisionTransformerInferenceWrapper``: act with a Decision Transformer policy."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from jaxrl_modules.data.specs import Composite
from jaxrl_modules.data.tensordict import TensorDict, unravel_key
from jaxrl_modules.exploration_type import ExplorationType
from jaxrl_modules.tensordict_module.base import Keys, TensorDictModuleBase

__all__ = ["DecisionTransformerInferenceWrapper"]

_KEY_FIELDS = {
    "observation": "observation_key",
    "action": "action_key",
    "return_to_go": "return_to_go_key",
    "out_action": "out_action_key",
}


class DecisionTransformerInferenceWrapper(TensorDictModuleBase):
    """Masks a Decision Transformer's context and returns the policy's last action.

    The policy reads whole sequences ``observation [*B, T, S]``, ``action [*B, T, A]`` and
    ``return_to_go [*B, T, 1]``. As TorchRL's wrapper, this one keeps the sequences' length ``T``
    (the model sees the same token positions at every step) and zeroes what lies outside the
    inference context:

    1. observation and return-to-go: every step but the last ``inference_context`` is set to 0;
    2. action: every step but the last ``inference_context - 1`` is set to 0, then the actions
       are shifted one step to the left and a zero action is appended, so the last position,
       whose action is to be predicted, holds a zero placeholder;
    3. the policy runs (with this call's exploration type: a probabilistic policy such as a
       ``TanhNormal`` `ProbabilisticActor` over `OnlineDTActor` samples under ``RANDOM`` and
       takes its deterministic value otherwise);
    4. the output action and return-to-go are those of the last step, ``[*B, A]`` and
       ``[*B, 1]``; the observation is the unmasked input; the policy's other outputs (e.g.
       ``loc``, ``scale``) keep the whole sequence. If the TensorDict's batch includes the time
       dim, it is dropped from the output's batch size.

    A context shorter than ``inference_context`` is used whole (nothing is masked), as in
    TorchRL; a context longer than the model's ``n_positions / 3`` steps raises in the model.

    Args:
      policy: a key-based module reading the observation, action and return-to-go keys and
        writing ``out_action_key``.
      inference_context: how many of the last steps the policy sees (at least 1); default 5.
      spec: the output action's spec (a leaf spec is keyed by ``action_key``) or a Composite;
        default: the policy's spec (with the action key added), else an unconstrained Composite
        over the policy's out keys.
      observation_key, action_key, return_to_go_key: the input keys; ``out_action_key`` the
        policy's action output (one of its out keys). TorchRL sets them with
        `set_tensor_keys`, which here returns a new wrapper.
      exploration_type: the default exploration type handed to the policy.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from jaxrl_modules import ProbabilisticActor, TensorDict, TensorDictModule
      >>> from jaxrl_modules.distributions import TanhDelta
      >>> from jaxrl_modules.models.decision_transformer import DTActor
      >>> dtactor = DTActor(state_dim=4, action_dim=2, transformer_config={"n_embd": 16,
      ...                   "n_layer": 1, "n_head": 2, "n_inner": 32}, deterministic=True)
      >>> actor_module = TensorDictModule(dtactor, in_keys=["observation", "action", "return_to_go"],
      ...                                 out_keys=["param"])
      >>> actor = ProbabilisticActor(actor_module, in_keys=["param"], out_keys=["action"],
      ...                            distribution_class=TanhDelta,
      ...                            distribution_kwargs={"low": -1.0, "high": 1.0})
      >>> inference_actor = DecisionTransformerInferenceWrapper(actor)
      >>> td = TensorDict({"observation": jnp.ones((1, 20, 4)), "action": jnp.ones((1, 20, 2)),
      ...                  "return_to_go": jnp.ones((1, 20, 1))}, batch_size=[1])
      >>> result = inference_actor.apply(inference_actor.init(jax.random.key(0), td), td)
      >>> {k: result[k].shape for k in result.keys()}
      {'action': (1, 2), 'observation': (1, 20, 4), 'param': (1, 20, 2), 'return_to_go': (1, 1)}
    """

    policy: TensorDictModuleBase
    inference_context: int = 5
    spec: Any = None
    observation_key: Any = "observation"
    action_key: Any = "action"
    return_to_go_key: Any = "return_to_go"
    out_action_key: Any = "action"
    exploration_type: ExplorationType | str | None = None

    def __post_init__(self) -> None:
        name = type(self).__name__
        if not isinstance(self.policy, TensorDictModuleBase):
            raise TypeError(
                f"{name}: policy must be a key-based module (e.g. a TensorDictModule), got "
                f"{type(self.policy).__name__}."
            )
        if not isinstance(self.inference_context, int) or self.inference_context < 1:
            raise ValueError(f"{name}: inference_context must be an int >= 1, got {self.inference_context!r}.")
        for field in _KEY_FIELDS.values():
            object.__setattr__(self, field, Keys(getattr(self, field))[0])
        object.__setattr__(self, "spec", self._spec())
        super().__post_init__()

    def _spec(self) -> Composite:
        spec = self.spec
        if spec is None:
            policy_spec = getattr(self.policy, "spec", None)
            if isinstance(policy_spec, Composite):
                spec = policy_spec
            else:
                spec = Composite()
                for key in self.policy.out_keys:
                    if key != "_":
                        spec = spec.set(key, None)
        elif not isinstance(spec, Composite):
            spec = Composite().set(self.action_key, spec)
        return spec if self.action_key in spec else spec.set(self.action_key, None)

    @property
    def in_keys(self) -> Keys:
        return Keys([self.observation_key, self.action_key, self.return_to_go_key])

    @property
    def out_keys(self) -> Keys:
        keys = {unravel_key(k): k for k in self.policy.out_keys if k != "_"}
        for key in self.in_keys:
            keys.setdefault(unravel_key(key), key)
        return Keys(sorted(keys.values(), key=str))

    def set_tensor_keys(self, **kwargs: Any) -> DecisionTransformerInferenceWrapper:
        """A copy of this wrapper reading and writing other keys (TorchRL mutates in place).

        Keyword Args:
          observation: the observation input key.
          action: the action input key.
          return_to_go: the return-to-go input key.
          out_action: the policy's action output key (one of its out keys).

        Examples:
          >>> from jaxrl_modules import TensorDictModule
          >>> policy = TensorDictModule(lambda o, a, r: a, in_keys=["obs", "act", "rtg"], out_keys=["act"])
          >>> wrapper = DecisionTransformerInferenceWrapper(policy).set_tensor_keys(
          ...     observation="obs", action="act", return_to_go="rtg", out_action="act")
          >>> wrapper.in_keys
          ['obs', 'act', 'rtg']
        """
        unknown = sorted(set(kwargs) - set(_KEY_FIELDS))
        if unknown:
            raise TypeError(
                f"{type(self).__name__}.set_tensor_keys got unknown input(s) {unknown}; accepted keys "
                f"are {sorted(_KEY_FIELDS)}."
            )
        new = self.clone(parent=None, **{_KEY_FIELDS[k]: v for k, v in kwargs.items()})
        new._check_out_action_key()
        return new

    def _check_out_action_key(self) -> None:
        if unravel_key(self.out_action_key) not in {unravel_key(k) for k in self.policy.out_keys}:
            raise ValueError(
                f"{type(self).__name__}: out_action_key {self.out_action_key!r} must be one of the "
                f"policy's out_keys {list(self.policy.out_keys)}; set it with set_tensor_keys(out_action=...)."
            )

    def step(self, variables: Any, frames: Any = 1) -> Any:
        """No schedule to advance: returns ``variables`` unchanged (TorchRL's no-op ``step``).

        ``frames`` is still checked as every ``step`` checks it (a non-negative integer count).
        """
        from jaxrl_modules.tensordict_module.exploration import check_frames

        check_frames(frames, f"{type(self).__name__}.step")
        return variables

    def mask_context(self, td: TensorDict) -> TensorDict:
        """The TensorDict with its context masked (steps 1 and 2 of the class docstring)."""
        name = type(self).__name__
        obs, action, rtg = (self._read(td, k) for k in self.in_keys)
        if not (obs.ndim >= 2 and obs.shape[:-1] == action.shape[:-1] == rtg.shape[:-1]):
            raise ValueError(
                f"{name}: {self.observation_key!r} {obs.shape}, {self.action_key!r} {action.shape} and "
                f"{self.return_to_go_key!r} {rtg.shape} must share all dims but the last ([*B, T, ·])."
            )
        steps = obs.shape[-2]
        time = jnp.arange(steps).reshape(steps, 1)
        keep = time >= steps - self.inference_context
        # TorchRL's slice [: -(c - 1)] masks nothing when c == 1; all earlier actions are masked here.
        keep_action = time >= steps - (self.inference_context - 1)
        action = jnp.where(jnp.broadcast_to(keep_action, action.shape), action, 0)
        action = jnp.concatenate([action[..., 1:, :], jnp.zeros_like(action[..., :1, :])], axis=-2)
        td = td.set(self.observation_key, jnp.where(jnp.broadcast_to(keep, obs.shape), obs, 0))
        td = td.set(self.action_key, action)
        return td.set(self.return_to_go_key, jnp.where(jnp.broadcast_to(keep, rtg.shape), rtg, 0))

    def forward(self, td: TensorDict, exploration_type: ExplorationType | None) -> TensorDict:
        self._check_out_action_key()  # at the call, as TorchRL's check_keys: set_tensor_keys may fix it
        obs = self._read(td, self.observation_key)
        out = self.policy(self.mask_context(td), exploration_type=exploration_type)
        action = out.get(self.out_action_key)
        if out.batch_dims == action.ndim - 1:  # the time dim is part of the batch: drop it
            out = TensorDict(out.to_dict(), batch_size=out.batch_size[:-1])
        out = out.set(self.out_action_key, action[..., -1, :])
        out = out.set(self.return_to_go_key, out.get(self.return_to_go_key)[..., -1, :])
        return out.set(self.observation_key, obs)
