"""Heads that turn a network's output into the ``(loc, scale)`` of a Normal-type distribution.

TorchRL's ``NormalParamExtractor`` and ``AddStateIndependentNormalScale`` (from
``tensordict.nn``), and the removed ``NormalParamWrapper``, as flax.linen modules. The positive
scale comes from a mapping of `jaxrl_modules.functional.mappings`, then a lower bound
``scale_lb``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxrl_modules.functional.mappings import mappings
from jaxrl_modules.models._checks import check_real, check_sizes

__all__ = ["NormalParamExtractor", "NormalParamWrapper", "AddStateIndependentNormalScale"]

ScaleMapping = str | Callable[[jax.Array], jax.Array]


def _mapping(scale_mapping: ScaleMapping) -> Callable[[jax.Array], jax.Array]:
    return scale_mapping if callable(scale_mapping) else mappings(scale_mapping)


def _positive_scale(raw: jax.Array, scale_mapping: ScaleMapping, scale_lb: float) -> jax.Array:
    scale = _mapping(scale_mapping)(raw)
    return jnp.maximum(scale, jnp.asarray(scale_lb, scale.dtype))


def _split_loc_scale(x: ArrayLike, scale_mapping: ScaleMapping, scale_lb: float) -> tuple[jax.Array, jax.Array]:
    x = jnp.asarray(x)
    if x.ndim < 1 or x.shape[-1] % 2:
        raise ValueError(
            f"NormalParamExtractor splits the last dim into loc and scale halves, so it must be "
            f"even; got shape {x.shape}."
        )
    d = x.shape[-1] // 2
    return x[..., :d], _positive_scale(x[..., d:], scale_mapping, scale_lb)


class NormalParamExtractor(nn.Module):
    """Splits ``[*B, 2d]`` into a location ``[*B, d]`` and a positive scale ``[*B, d]``.

    The first half of the last dim is the location, the second half the raw scale; the scale is
    ``max(mapping(raw), scale_lb)``. No parameters: callable directly, without ``init``/``apply``.

    Attributes:
      scale_mapping: a name accepted by `mappings` (default ``"biased_softplus_1.0"``, so a raw 0
        gives scale 1), or a function.
      scale_lb: the lower bound of the scale, a finite number ``>= 0``.

    Examples:
      >>> import jax.numpy as jnp
      >>> loc, scale = NormalParamExtractor()(jnp.array([0.5, -1.0, 0.0, -50.0]))
      >>> loc
      Array([ 0.5, -1. ], dtype=float32)
      >>> scale.round(4)
      Array([1.  , 0.01], dtype=float32)
      >>> loc, scale, hidden = NormalParamExtractor("exp", scale_lb=0.1)(jnp.zeros((3, 4)), jnp.ones(5))
      >>> loc.shape, scale.shape, hidden.shape
      ((3, 2), (3, 2), (5,))
    """

    scale_mapping: ScaleMapping = "biased_softplus_1.0"
    scale_lb: float = 1e-4

    def __post_init__(self) -> None:
        _mapping(self.scale_mapping)  # an unknown name raises at construction, as in TorchRL
        check_real(type(self).__name__, "scale_lb", self.scale_lb, minimum=0.0)  # NaN would poison every scale
        super().__post_init__()

    def __call__(self, x: ArrayLike, *others: Any) -> tuple[Any, ...]:
        """Returns ``(loc, scale, *others)``; ``others`` are passed through untouched."""
        return (*_split_loc_scale(x, self.scale_mapping, self.scale_lb), *others)


class NormalParamWrapper(nn.Module):
    """``operator`` followed by `NormalParamExtractor`: TorchRL's pre-0.7 ``NormalParamWrapper``.

    TorchRL's constructor now raises and points to ``NormalParamExtractor``; here it still works,
    with its old semantics: the operator's output ``[*B, 2d]`` (or the first element of a tuple
    output, the rest being passed through) becomes ``(loc, scale, *rest)``. Its parameters are
    the operator's, under the name ``operator``.

    Attributes:
      operator: a flax module.
      scale_mapping, scale_lb: as `NormalParamExtractor`.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> net = NormalParamWrapper(nn.Dense(4))
      >>> x = jnp.ones((2, 3))
      >>> variables = net.init(jax.random.key(0), x)
      >>> list(variables["params"])
      ['operator']
      >>> [a.shape for a in net.apply(variables, x)]
      [(2, 2), (2, 2)]
    """

    operator: nn.Module
    scale_mapping: ScaleMapping = "biased_softplus_1.0"
    scale_lb: float = 1e-4

    def __post_init__(self) -> None:
        _mapping(self.scale_mapping)
        check_real(type(self).__name__, "scale_lb", self.scale_lb, minimum=0.0)
        super().__post_init__()

    def __call__(self, *inputs: Any, **kwargs: Any) -> tuple[Any, ...]:
        out = self.operator(*inputs, **kwargs)
        first, others = (out[0], tuple(out[1:])) if isinstance(out, (tuple, list)) else (out, ())
        return (*_split_loc_scale(first, self.scale_mapping, self.scale_lb), *others)


class AddStateIndependentNormalScale(nn.Module):
    """Adds a learned, state-independent scale to a location: ``loc -> (loc, scale)``.

    The parameter ``state_independent_scale`` (TorchRL's name) has shape ``scale_shape`` and
    starts at ``init_value``; the scale is ``max(mapping(param), scale_lb)`` broadcast to the
    location's shape, whose trailing dims must equal ``scale_shape``.

    Attributes:
      scale_shape: the parameter's shape (an int ``d`` means ``(d,)``); ``()`` is one scalar shared
        by every entry.
      scale_mapping: a name accepted by `mappings` (default ``"exp"``) or a function.
      scale_lb: the lower bound of the scale, a finite number ``>= 0``.
      init_value: the parameter's initial value (so the initial scale is ``mapping(init_value)``).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> head = AddStateIndependentNormalScale(scale_shape=2)
      >>> loc = jnp.zeros((5, 2))
      >>> variables = head.init(jax.random.key(0), loc)
      >>> variables["params"]["state_independent_scale"]
      Array([0., 0.], dtype=float32)
      >>> _, scale = head.apply(variables, loc)
      >>> scale.shape, float(scale[0, 0])
      ((5, 2), 1.0)
    """

    scale_shape: int | Sequence[int] = ()
    scale_mapping: ScaleMapping = "exp"
    scale_lb: float = 1e-4
    init_value: float = 0.0

    def __post_init__(self) -> None:
        _mapping(self.scale_mapping)
        check_real(type(self).__name__, "scale_lb", self.scale_lb, minimum=0.0)
        check_real(type(self).__name__, "init_value", self.init_value)
        check_sizes(type(self).__name__, "scale_shape", self.scale_shape)
        super().__post_init__()

    @nn.compact
    def __call__(self, loc: ArrayLike, *others: Any) -> tuple[Any, ...]:
        """Returns ``(loc, scale, *others)``."""
        loc = jnp.asarray(loc)
        shape = (self.scale_shape,) if isinstance(self.scale_shape, int) else tuple(self.scale_shape)
        if loc.ndim < len(shape) or loc.shape[loc.ndim - len(shape) :] != shape:
            raise ValueError(
                f"AddStateIndependentNormalScale: the trailing dims of loc (shape {loc.shape}) must "
                f"equal scale_shape {shape}."
            )
        param = self.param("state_independent_scale", nn.initializers.constant(self.init_value), shape, jnp.float32)
        raw = jnp.broadcast_to(param.astype(loc.dtype), loc.shape)
        return (loc, _positive_scale(raw, self.scale_mapping, self.scale_lb), *others)
