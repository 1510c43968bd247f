"""TorchRL's continuous distributions (``torchrl.modules.distributions.continuous``) for JAX.

`Delta`, `IndependentNormal`, `TanhNormal` and `TanhDelta` are `distrax.Distribution` subclasses
with their own numerics (no distrax bijectors, no TFP). Each is a jax pytree whose leaves are its
array parameters, so it crosses ``jax.jit`` and ``jax.vmap`` boundaries; ``batch_shape`` and
``event_shape`` are read from the parameters at call time, never cached, so they stay right
inside ``vmap`` (distrax issue #276).

The API is distrax's, with TorchRL's point estimates added as methods:
``sample(seed=, sample_shape=)`` (reparameterised: gradients flow to the parameters),
``sample_and_log_prob(seed=, sample_shape=)``, ``log_prob(x)``, ``entropy()``, ``mode()``,
``mean()`` and ``deterministic_sample()`` (what TorchRL's ``ExplorationType.DETERMINISTIC``
returns). Shapes: parameters ``[*B, *E]`` (batch, event); samples ``[*S, *B, *E]``; log-probs
``[*S, *B]``, summed over the event dims.

Conventions shared by every class here:

* Parameters are promoted to one floating dtype. Float16 and bfloat16 parameters are computed in
  float32 and the results cast back, so a bfloat16 policy gets float32-quality log-probs.
* ``scale`` must have ``loc``'s shape or be a scalar (or a callable of ``loc``); anything else is a
  ``ValueError`` naming both shapes, never a silent broadcast. Bounds (``low``, ``high``) may be
  scalars or any shape that broadcasts to ``loc``'s, e.g. one bound per action dimension.
* Concrete bounds (Python numbers, NumPy or concrete JAX arrays) are checked at construction
  (``high > low`` everywhere, else ``ValueError``) and kept as static metadata, so they cost
  nothing at run time and ``vmap`` leaves them alone. Traced bounds (passed into ``jit``) are
  broadcast to ``loc``'s shape and become leaves; they cannot be checked.
* ``validate_args=True`` checks ``scale > 0`` at construction when ``scale`` is concrete. Under
  ``jit`` the values are unknown at trace time, so the check is skipped there: validate eagerly.
* Values passed to ``log_prob`` must end with the distribution's ``batch_shape + event_shape``.

The classes live in `delta` (`Delta`, `TanhDelta`), `normal` (`IndependentNormal`) and
`tanh_normal` (`TanhNormal`), their shared private helpers in `_common`; this module re-exports
the four classes.
"""

from jaxrl_modules.distributions.delta import Delta, TanhDelta
from jaxrl_modules.distributions.normal import IndependentNormal
from jaxrl_modules.distributions.tanh_normal import TanhNormal

__all__ = ["Delta", "IndependentNormal", "TanhNormal", "TanhDelta"]
