"""Saving and restoring training state: flax msgpack bytes and orbax checkpoints.

Any pytree of arrays can be saved: a recipe's state (``jaxrl_modules.recipes``), an environment's
TensorDict, flax variables, optax states. Two things need care, and these four calls take it:

- Typed PRNG keys (``jax.random.key``), which every recipe state and every environment TensorDict
  holds: flax's msgpack cannot store key arrays, so `to_bytes` stores their
  ``jax.random.key_data`` and `from_bytes` rebuilds them with ``jax.random.wrap_key_data`` and the
  target's key implementation. (orbax stores typed keys itself; `save` passes them through.)
- Leaves neither format stores (a Python object, a NumPy scalar for orbax, a zero-size array for
  orbax): refused before anything is written, with the leaf's path (``jax.tree_util.keystr``).

TensorDicts need nothing special: ``flax.serialization.to_bytes`` / ``from_bytes`` and orbax's
checkpointers take them directly, empty sub-TensorDicts included, and the TensorDict state dict
already stores keys as key data. What plain flax cannot take is a key outside a TensorDict, such
as a recipe state's ``key`` field: use `to_bytes` / `from_bytes` for those.

Restoring needs a *target*, a pytree of the same structure (e.g. ``recipe.init(key)``, or
``jax.eval_shape(recipe.init, key)`` for `restore`): it gives the structure, shapes, dtypes and key
implementations back.

Example:
  >>> import jax, jax.numpy as jnp
  >>> from jaxrl_modules import checkpoint
  >>> state = {"key": jax.random.key(0), "w": jnp.ones(3)}
  >>> restored = checkpoint.from_bytes(state, checkpoint.to_bytes(state))
  >>> bool((jax.random.key_data(restored["key"]) == jax.random.key_data(state["key"])).all())
  True
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import jax
import numpy as np
from flax import serialization

from jaxrl_modules.tensordict_module.serialization import is_prng_key, wrap_key_data_like

__all__ = ["to_state_dict", "from_state_dict", "to_bytes", "from_bytes", "save", "restore"]

_MSGPACK_LEAVES = (jax.Array, np.ndarray, np.generic, bool, int, float, complex, str, bytes, type(None))
_MSGPACK_STORES = "arrays (typed PRNG keys included), NumPy scalars, Python numbers, strings and bytes"
_ORBAX_LEAVES = (jax.Array, np.ndarray, bool, int, float)
_ORBAX_STORES = "arrays of at least one element (typed PRNG keys included) and Python numbers"


def _check_leaves(
    tree: Any, allowed: tuple[type, ...], stores: str, caller: str, *, is_leaf: Any = None, zero_size: bool = True
) -> None:
    """Raise naming the first leaf of ``tree`` (its ``keystr`` path) that ``caller`` cannot store."""
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree, is_leaf=is_leaf)[0]:
        where = jax.tree_util.keystr(path) or "the root"
        if isinstance(leaf, np.generic) and not isinstance(leaf, allowed):
            raise TypeError(
                f"{caller} cannot store the leaf at {where}: a NumPy scalar ({type(leaf).__name__}). "
                f"It stores {stores}: store np.asarray(x) instead."
            )
        if not isinstance(leaf, allowed):
            raise TypeError(
                f"{caller} cannot store the leaf at {where}: a {type(leaf).__name__}. It stores "
                f"{stores}: keep it out of the saved tree, or register its type with "
                "flax.serialization.register_serialization_state (to_bytes) or as a JAX pytree."
            )
        if not zero_size and np.size(leaf) == 0:
            raise ValueError(
                f"{caller} cannot store the leaf at {where}: a zero-size array of shape "
                f"{np.shape(leaf)} (orbax refuses them). Drop it from the saved tree or give it "
                "one element."
            )


def to_state_dict(tree: Any) -> dict[str, Any] | Any:
    """Flax's state dict of ``tree`` with every typed PRNG key as its ``jax.random.key_data``.

    The key-data conversion as one call: the result holds only plain containers (dicts) and
    arrays, which flax's msgpack (or any other format) stores.

    Args:
      tree: a pytree (dicts, tuples, NamedTuples, TensorDicts, flax variables, optax states).

    Returns:
      Nested dicts of arrays (``uint32`` key data where ``tree`` holds keys).

    Raises:
      TypeError: naming the leaf's path, for a leaf msgpack cannot store (a Python object, a type
        flax's serialization does not know).
    """
    _check_leaves(tree, _MSGPACK_LEAVES, _MSGPACK_STORES, "jaxrl_modules.checkpoint.to_state_dict")
    state = serialization.to_state_dict(tree)
    state = jax.tree.map(lambda x: jax.random.key_data(x) if is_prng_key(x) else x, state)
    # In a flax state dict every container is a dict: anything else is a pytree node flax does not know.
    _check_leaves(
        state,
        _MSGPACK_LEAVES,
        _MSGPACK_STORES,
        "jaxrl_modules.checkpoint.to_state_dict",
        is_leaf=lambda x: not isinstance(x, dict),
    )
    return state


def from_state_dict(target: Any, state: Any) -> Any:
    """The inverse of `to_state_dict`: ``state`` in ``target``'s structure, keys rebuilt.

    Args:
      target: a pytree of the saved structure (e.g. a freshly initialised state); its keys give
        the key implementation, its arrays the expected shapes and dtypes.
      state: a state dict from `to_state_dict` (or from ``flax.serialization.msgpack_restore``).

    Returns:
      A pytree like ``target`` holding ``state``'s values (NumPy arrays, as flax restores them;
      typed keys where ``target`` holds keys).

    Raises:
      ValueError: naming the leaf's path, where a saved array's shape or dtype differs from the
        target's (a checkpoint of another config), or flax's error for missing entries.
    """
    restored = serialization.from_state_dict(target, state)

    def fit(path, t, r):
        where = jax.tree_util.keystr(path) or "the root"
        if is_prng_key(t):
            return r if is_prng_key(r) else wrap_key_data_like(t, r, where)
        if hasattr(t, "shape") and hasattr(t, "dtype"):
            dtype = getattr(r, "dtype", None) or np.result_type(r)
            if tuple(np.shape(r)) != tuple(t.shape) or dtype != t.dtype:
                raise ValueError(
                    f"Cannot restore the leaf at {where}: the target holds {t.dtype}{list(t.shape)}, "
                    f"the saved state {dtype}{list(np.shape(r))}. Restore into a target built from "
                    "the same config."
                )
        return r

    return jax.tree_util.tree_map_with_path(fit, target, restored)


def to_bytes(tree: Any) -> bytes:
    """``tree`` as flax msgpack bytes, typed PRNG keys included (see `to_state_dict`)."""
    return serialization.msgpack_serialize(to_state_dict(tree))


def from_bytes(target: Any, data: bytes) -> Any:
    """The pytree `to_bytes` saved, in ``target``'s structure (see `from_state_dict`)."""
    return from_state_dict(target, serialization.msgpack_restore(data))


def save(path: str | os.PathLike, tree: Any, *, overwrite: bool = False) -> None:
    """Writes ``tree`` as an orbax checkpoint (``StandardCheckpointer``) at the directory ``path``.

    Typed PRNG keys are stored as keys (orbax supports them), with their implementation.

    Args:
      path: the checkpoint directory (made absolute, as orbax needs); must not exist unless
        ``overwrite``.
      tree: a pytree of arrays and Python numbers.
      overwrite: replace an existing checkpoint at ``path``.

    Raises:
      TypeError, ValueError: naming the leaf's path, for a leaf orbax cannot store (a NumPy
        scalar, a string, a Python object, a zero-size array); FileExistsError for an existing
        ``path`` without ``overwrite``.
    """
    import orbax.checkpoint as ocp

    _check_leaves(tree, _ORBAX_LEAVES, _ORBAX_STORES, "jaxrl_modules.checkpoint.save", zero_size=False)
    path = Path(path).absolute()
    if path.exists() and not overwrite:
        raise FileExistsError(
            f"jaxrl_modules.checkpoint.save: {path} already exists; pass overwrite=True to "
            "replace it, or choose another path."
        )
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(path, tree, force=overwrite)
        checkpointer.wait_until_finished()


def restore(path: str | os.PathLike, target: Any) -> Any:
    """Reads the orbax checkpoint `save` wrote at ``path`` into ``target``'s structure.

    Args:
      path: the checkpoint directory.
      target: a pytree of the saved structure: arrays or ``jax.ShapeDtypeStruct`` (e.g.
        ``jax.eval_shape(recipe.init, key)``), whose shapes, dtypes and shardings the restored
        arrays get.

    Returns:
      A pytree like ``target`` holding the saved values (typed keys as keys).

    Raises:
      FileNotFoundError: no checkpoint at ``path``.
      ValueError: naming the leaf's path, where the checkpoint and ``target`` differ in structure
        or shape (a checkpoint of another config).
    """
    import orbax.checkpoint as ocp

    path = Path(path).absolute()
    if not path.is_dir():
        raise FileNotFoundError(f"jaxrl_modules.checkpoint.restore: no checkpoint directory at {path}.")
    with ocp.StandardCheckpointer() as checkpointer:
        _check_fits(checkpointer.metadata(path).item_metadata.tree, target, path)
        return checkpointer.restore(path, target)


def _path_names(path: tuple[Any, ...]) -> tuple[Any, ...]:
    """A key path as plain names, to match a target's paths with a checkpoint's (where NamedTuple
    fields and TensorDict entries are dict keys)."""
    return tuple(getattr(k, "key", getattr(k, "name", getattr(k, "idx", k))) for k in path)


def _check_fits(saved: Any, target: Any, path: Path) -> None:
    """Raise naming the first leaf where the checkpoint's metadata and ``target`` disagree."""
    stored = {_path_names(p): m for p, m in jax.tree_util.tree_flatten_with_path(saved)[0]}
    wanted = jax.tree_util.tree_flatten_with_path(target)[0]
    fix = "Restore into a target built from the same config."
    for key_path, leaf in wanted:
        where = jax.tree_util.keystr(key_path) or "the root"
        meta = stored.pop(_path_names(key_path), None)
        if meta is None:
            raise ValueError(
                f"jaxrl_modules.checkpoint.restore: the checkpoint at {path} has no leaf at {where}. {fix}"
            )
        shape = jax.eval_shape(jax.random.key_data, leaf).shape if is_prng_key(leaf) else np.shape(leaf)
        if tuple(getattr(meta, "shape", shape)) != tuple(shape):
            raise ValueError(
                f"jaxrl_modules.checkpoint.restore: the leaf at {where} has shape {tuple(meta.shape)} "
                f"in the checkpoint at {path}, but {tuple(shape)} in the target"
                f"{' (as key data)' if is_prng_key(leaf) else ''}. {fix}"
            )
    if stored:
        extra = ", ".join(".".join(map(str, names)) for names in stored)
        raise ValueError(
            f"jaxrl_modules.checkpoint.restore: the checkpoint at {path} holds leaves the target lacks: {extra}. {fix}"
        )
