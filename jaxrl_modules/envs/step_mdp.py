"""``step_mdp``: moves a transition's ``"next"`` entries to the root, as TorchRL's
``torchrl.envs.utils.step_mdp``."""

from __future__ import annotations

from typing import Any

from jaxrl_modules.data.tensordict import NestedKey, TensorDict, unravel_key

__all__ = ["step_mdp"]


def _key_list(keys: Any) -> list[tuple[str, ...]]:
    return [unravel_key(k) for k in (keys if isinstance(keys, list) else [keys])]


def step_mdp(
    tensordict: TensorDict,
    keep_other: bool = True,
    exclude_reward: bool = True,
    exclude_done: bool = False,
    exclude_action: bool = True,
    reward_keys: NestedKey | list[NestedKey] = "reward",
    done_keys: NestedKey | list[NestedKey] = "done",
    action_keys: NestedKey | list[NestedKey] = "action",
) -> TensorDict:
    """The TensorDict of time ``t + 1``: the ``"next"`` entries moved to the root.

    TorchRL's defaults and semantics: the root entries other than ``"next"`` are kept
    (``keep_other``), less the action; then every ``"next"`` entry is written at the root,
    replacing the old one, less the reward. ``terminated`` and ``truncated`` are not done keys
    here (as in TorchRL's free function, whose ``done_keys`` default is ``"done"``), so they move
    like any other entry. Environment state kept in the TensorDict (a `GymnaxEnv`'s
    ``_env_state`` and ``_rng``) moves the same way, which is what makes ``env.step`` pure.

    Args:
      tensordict: a TensorDict holding a ``"next"`` TensorDict.
      keep_other: keep the root entries that are not action, reward or done.
      exclude_reward, exclude_done, exclude_action: drop those entries (root and ``"next"``).
      reward_keys, done_keys, action_keys: the keys of those entries (a key or a list).

    Returns:
      A new TensorDict with the input's batch size.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxrl_modules import TensorDict
      >>> from jaxrl_modules.envs import step_mdp
      >>> td = TensorDict({"observation": jnp.zeros((2, 3)), "action": jnp.zeros((2,), jnp.int32),
      ...                  "extra": jnp.ones((2,)),
      ...                  "next": {"observation": jnp.ones((2, 3)), "reward": jnp.ones((2, 1)),
      ...                           "done": jnp.zeros((2, 1), bool)}}, batch_size=[2])
      >>> out = step_mdp(td)
      >>> out.keys()
      ['done', 'extra', 'observation']
      >>> out["observation"].tolist()[0]
      [1.0, 1.0, 1.0]
    """
    if not isinstance(tensordict, TensorDict) or not isinstance(tensordict.get("next", None), TensorDict):
        raise KeyError(
            f"step_mdp: expected a TensorDict with a 'next' TensorDict (the output of env.step), got "
            f"{tensordict.keys() if isinstance(tensordict, TensorDict) else type(tensordict).__name__}."
        )
    excluded: list[tuple[str, ...]] = []
    if exclude_reward:
        excluded += _key_list(reward_keys)
    if exclude_done:
        excluded += _key_list(done_keys)
    if exclude_action:
        excluded += _key_list(action_keys)
    out = tensordict.exclude("next", *excluded) if keep_other else tensordict.empty()
    if not keep_other and not exclude_action:
        for key in _key_list(action_keys):
            if key in tensordict:
                out = out.set(key, tensordict.get(key))
    nxt = tensordict["next"]
    for key, value in nxt.exclude(*excluded).items(include_nested=True, leaves_only=True):
        out = out.set(key, value)
    return out
