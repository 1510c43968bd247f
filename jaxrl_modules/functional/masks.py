"""Action masks: whether a row allows any action, and an opt-in check that raises under jit.

The library's rule for a row whose mask allows no action (for the multi-block spaces
MultiOneHot / MultiCategorical: a row with any block allowing nothing): every masked sampler and
every greedy pick returns index 0 of that row or block (the one-hot of entry 0), and a greedy
pick's chosen value is ``finfo.min``. That action is not allowed by the mask, so whether a row
had an allowed action is exposed: `any_action_allowed` computes the flag (key-based modules that
read a mask write it under ``"any_action_allowed"``), and `check_any_action_allowed` turns it
into a ``jax.experimental.checkify`` check, which a ``checkify.checkify``-wrapped (jitted)
function raises naming the rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import checkify
from jax.typing import ArrayLike

__all__ = ["ANY_ACTION_ALLOWED_KEY", "any_action_allowed", "check_any_action_allowed"]

ANY_ACTION_ALLOWED_KEY = "any_action_allowed"
"""The key under which key-based modules that read a mask write `any_action_allowed`."""


def any_action_allowed(mask: ArrayLike, blocks: int | Sequence[int] | None = None) -> jax.Array:
    """Whether each row of a boolean action mask allows at least one action.

    Args:
      mask: boolean ``[*B, n]`` (True = allowed).
      blocks: the block sizes along the last axis for the multi-block spaces (MultiOneHot,
        MultiCategorical: ``nvec``; a Q-value module's ``var_nums``), summing to ``n``, or an int,
        the size of equal blocks. A row is allowed iff every block has an allowed entry. ``None``:
        one block of ``n``.

    Returns:
      ``bool [*B]``.

    Raises:
      ValueError: a 0-d or non-boolean mask, or block sizes that do not sum to ``n``.

    Examples:
      >>> import jax.numpy as jnp
      >>> any_action_allowed(jnp.array([[True, False, False], [False, False, False]]))
      Array([ True, False], dtype=bool)
      >>> any_action_allowed(jnp.array([[True, False, False], [True, True, False]]), blocks=[1, 2])
      Array([False,  True], dtype=bool)
    """
    mask = jnp.asarray(mask)
    if mask.ndim < 1:
        raise ValueError(f"any_action_allowed: the mask must be [*B, n], got shape {mask.shape}.")
    if mask.dtype != jnp.bool_:
        raise ValueError(f"any_action_allowed: the mask must be boolean (True = allowed), got dtype {mask.dtype}.")
    n = mask.shape[-1]
    if blocks is None:
        return jnp.any(mask, axis=-1)
    if isinstance(blocks, (int, np.integer)):
        size = int(blocks)
        if size <= 0 or n % size:
            raise ValueError(
                f"any_action_allowed: blocks={size} must divide the mask's last dim {n} into equal blocks."
            )
        sizes = [size] * (n // size)
    else:
        sizes = [int(s) for s in blocks]
    if not sizes or any(s <= 0 for s in sizes) or sum(sizes) != n:
        raise ValueError(
            f"any_action_allowed: blocks={sizes} must be positive sizes summing to the mask's last dim {n} "
            f"(mask shape {mask.shape})."
        )
    starts = np.cumsum([0, *sizes[:-1]]).tolist()
    allowed = [jnp.any(mask[..., s : s + k], axis=-1) for s, k in zip(starts, sizes)]
    return jnp.stack(allowed, axis=-1).all(axis=-1)


def check_any_action_allowed(allowed: ArrayLike, owner: str) -> None:
    """A ``checkify`` check that every row allows an action; raises only under ``checkify.checkify``.

    Without ``checkify.checkify`` around the (jitted) function the check is a no-op that costs
    nothing; with it, the wrapped function returns an error that ``err.throw()`` raises, naming
    ``owner`` and the rows whose mask allows nothing (the flag array, and the flat indices of the
    first such rows). Outside any transformation (eager calls) JAX raises the check at once.

    Args:
      allowed: ``bool [*B]``, as returned by `any_action_allowed`.
      owner: who checks (e.g. the module's class name and mask key), for the message.

    Raises:
      ValueError: ``allowed`` is not boolean. Under ``jax.jit`` without ``checkify.checkify``,
        JAX refuses to stage the check ("Cannot abstractly evaluate a checkify.check which was not
        functionalized"): wrap the jitted function, ``checkify.checkify(jax.jit(f))``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from jax.experimental import checkify
      >>> def act(mask):
      ...     check_any_action_allowed(any_action_allowed(mask), "my_policy")
      ...     return mask.argmax(-1)
      >>> err, _ = checkify.checkify(jax.jit(act))(jnp.array([[True, False], [False, False]]))
      >>> print(err.get().split(";")[0])
      my_policy: the action mask allows no action in 1 row(s), at flat batch indices [ 1 -1] (first 2
    """
    allowed = jnp.asarray(allowed)
    if allowed.dtype != jnp.bool_:
        raise ValueError(f"check_any_action_allowed ({owner}): allowed must be boolean, got dtype {allowed.dtype}.")
    flat = allowed.reshape(-1)
    if flat.shape[0] == 0:
        return
    bad = ~flat
    # A fixed number of indices keeps the message's operands static in shape; a stable sort of
    # the flags puts the failing rows first, in order.
    shown = min(8, flat.shape[0])
    order = jnp.argsort(flat, stable=True)[:shown].astype(jnp.int32)
    indices = jnp.where(bad[order], order, -1)
    checkify.check(
        jnp.all(allowed),
        f"{owner}: the action mask allows no action in {{count}} row(s), at flat batch indices "
        f"{{indices}} (first {shown}; -1 = none); any_action_allowed = {{allowed}} (batch shape "
        f"{tuple(allowed.shape)}). Such a row gets index 0 (the library's documented rule), which "
        "the mask does not allow: fix the environment's mask, or drop check_mask to accept it.",
        count=jnp.sum(bad),
        indices=indices,
        allowed=allowed,
    )
