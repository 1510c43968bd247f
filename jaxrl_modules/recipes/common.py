"""What every training recipe shares: the run protocol, greedy evaluation and config checks.

A recipe is a whole training run cut into jittable chunks (`Recipe`): ``init(key)`` builds the
run's state, ``update(state)`` advances it by ``steps_per_chunk`` environment steps (a
``lax.scan`` of updates) and reports metrics, among them ``"return"``, the mean greedy evaluation
return at the end of the chunk. `make_train` scans the chunks into one function, purejaxrl's
``make_train(config) -> train(key)``: jit it, or ``jax.vmap`` it over seeds. The demo drives the
same chunks one by one to advance its progress bar between them.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from jaxrl_modules.data.tensordict import TensorDict

__all__ = ["Recipe", "make_train", "evaluate", "check_config"]


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A training run in chunks.

    Attributes:
      init: ``key -> state``, the run's whole state (a pytree).
      update: ``state -> (state, metrics)``, one chunk; ``metrics`` is a dict of scalars with at
        least ``"return"`` (mean greedy evaluation return after the chunk).
      num_chunks: how many chunks make the run.
      steps_per_chunk: environment steps per chunk (all environments together).
    """

    init: Callable[[jax.Array], Any]
    update: Callable[[Any], tuple[Any, dict[str, jax.Array]]]
    num_chunks: int
    steps_per_chunk: int


def make_train(recipe: Recipe) -> Callable[[jax.Array], tuple[Any, dict[str, jax.Array]]]:
    """``train(key) -> (final state, metrics [num_chunks])``: the whole run as one function."""

    def train(key: jax.Array):
        def chunk(state, _):
            return recipe.update(state)

        return jax.lax.scan(chunk, recipe.init(key), None, length=recipe.num_chunks)

    return train


def evaluate(env: Any, act: Callable[[TensorDict], TensorDict], key: jax.Array, max_steps: int) -> jax.Array:
    """Mean undiscounted return of one episode per environment of ``env`` under ``act``.

    ``act(td) -> td`` writes ``"action"`` (deterministically, e.g. the greedy policy; its other
    outputs are dropped). Each
    environment runs ``max_steps`` steps without resets; rewards after its first ``done`` are
    masked, so ``max_steps`` should cover an episode (500 for CartPole-v1, 200 for Pendulum-v1).
    """
    from jaxrl_modules.envs import step_mdp

    def body(carry, _):
        td, alive, total = carry
        td = env.step(td.set("action", act(td)["action"]))  # only the action: the carry keeps its keys
        reward = td["next", "reward"][..., 0]
        total = total + jnp.where(alive, reward, 0.0)
        alive = alive & ~td["next", "done"][..., 0]
        return (step_mdp(td), alive, total), None

    td = env.reset(key)
    alive = jnp.ones(env.batch_size, bool)
    (_, _, total), _ = jax.lax.scan(body, (td, alive, jnp.zeros(env.batch_size)), None, length=max_steps)
    return total.mean()


def check_config(config: Any) -> None:
    """Raise a ``TypeError`` naming the field if a dataclass config holds a value of the wrong type.

    ``int`` is accepted for ``float`` fields; ``bool`` is not accepted for ``int`` ones.
    """
    hints = typing.get_type_hints(type(config))
    for field in dataclasses.fields(config):
        value, expected = getattr(config, field.name), hints[field.name]
        allowed = (int, float) if expected is float else (expected,)
        bad_bool = isinstance(value, bool) and expected is not bool
        if not isinstance(value, allowed) or bad_bool:
            raise TypeError(
                f"{type(config).__name__}.{field.name} must be {expected.__name__}, got "
                f"{value!r} ({type(value).__name__})."
            )
