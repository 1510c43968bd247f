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
import functools
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import jax
import jax.numpy as jnp

from jaxrl_modules.data.tensordict import TensorDict

__all__ = ["Recipe", "make_train", "evaluate", "check_config", "renamed_fields", "check_renamed"]

_C = typing.TypeVar("_C", bound=type)


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


def check_renamed(config_class: type, names: Iterable[str]) -> None:
    """Raise a ``TypeError`` giving the new name if one of ``names`` is a renamed field of ``config_class``.

    The renamed fields are the class's ``RENAMED`` mapping (old name -> new name, see `renamed_fields`).
    """
    renamed: Mapping[str, str] = getattr(config_class, "RENAMED", {})
    for name in names:
        if name in renamed:
            raise TypeError(f"{config_class.__name__}: {name!r} is now {renamed[name]!r}.")


def renamed_fields(renamed: Mapping[str, str]) -> Callable[[_C], _C]:
    """A class decorator for a config dataclass whose fields ``renamed`` (old -> new) were renamed.

    Passing an old name to the constructor (or `dataclasses.replace`), or reading it as an
    attribute, raises an error that gives the new name; ``cls.RENAMED`` holds the mapping.

    Examples:
      >>> @renamed_fields({"lr": "learning_rate"})
      ... @dataclasses.dataclass(frozen=True)
      ... class Config:
      ...     learning_rate: float = 1e-3
      >>> Config(lr=0.1)
      Traceback (most recent call last):
        ...
      TypeError: Config: 'lr' is now 'learning_rate'.
    """

    def decorate(cls: _C) -> _C:
        init: Callable[..., None] = vars(cls)["__init__"]  # the dataclass's own

        @functools.wraps(init)
        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            check_renamed(cls, kwargs)
            init(self, *args, **kwargs)

        def __getattr__(self: Any, name: str) -> Any:  # only called for attributes that do not exist
            if name in renamed:
                raise AttributeError(f"{cls.__name__}: {name!r} is now {renamed[name]!r}.")
            raise AttributeError(f"{cls.__name__!r} object has no attribute {name!r}")

        # setattr: mypy rejects assigning to a method of a class (cls.__init__ = ...).
        setattr(cls, "__init__", __init__)  # noqa: B010
        setattr(cls, "__getattr__", __getattr__)  # noqa: B010
        setattr(cls, "RENAMED", dict(renamed))  # noqa: B010
        return cls

    return decorate
