"""TensorDict: an immutable, nested record of arrays that is a JAX pytree.

The batch shape is not stored: it is read off the entries. Each entry remembers how many trailing
dimensions it has beyond the batch (its *event* dimensions, static pytree metadata), so the batch
shape is ``entry.shape[:entry.ndim - event_ndim]`` for any entry. That rule stays true when
``jax.vmap`` strips a batch axis, when ``jax.lax.scan`` stacks outputs along a new leading axis, and
when ``tree_map`` indexes or stacks the leaves, so the batch shape follows every transformation
with no extra leaf crossing the ``jit`` boundary. Only an empty TensorDict carries a marker leaf,
zeros of shape ``(*batch_size, 1)``, since it has no entry to read its batch shape from (one
element per batch entry, not zero: orbax refuses to checkpoint zero-size arrays).

Keys are kept sorted, as JAX sorts dict keys: two TensorDicts with the same entries have the same
tree structure whatever order the entries were written in, so they can be scan carries, cond
branches and tree_map partners of each other.

Consistency: the constructor, ``set``, ``update``, ``apply``, ``stack`` and ``cat`` check that
every entry's leading dims match the batch size and name the key that does not. A plain
``jax.tree.map`` over a TensorDict does not check (unflattening must accept JAX's placeholder and
batch-stripped leaves inside ``vmap`` and ``scan``): a function that changes only some entries'
leading dims gives an inconsistent TensorDict, so map with ``td.apply(fn)`` instead.
``bool(td)`` raises, as in TorchRL's tensordict: use ``td.is_empty()``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Container, Iterator, Mapping, Sequence
from typing import Any, cast

import jax
import jax.numpy as jnp
import numpy as np

NestedKey = str | tuple[str, ...]
"""A key: a string, or a tuple of strings for a nested entry (``("next", "reward")``)."""

__all__ = ["NestedKey", "TensorDict", "stack", "cat", "unravel_key"]

_MISSING = object()


def unravel_key(key: NestedKey) -> tuple[str, ...]:
    """Returns a nested key as a flat tuple of strings: ``"a"`` -> ``("a",)``."""
    if isinstance(key, str):
        return (key,)
    if isinstance(key, tuple) and key and all(isinstance(k, str) for k in key):
        return key
    raise TypeError(f"A TensorDict key is a string or a non-empty tuple of strings, got {key!r}.")


def _key_repr(key: tuple[str, ...]) -> NestedKey:
    return key[0] if len(key) == 1 else key


def _shape(value: Any) -> tuple[int, ...]:
    if isinstance(value, TensorDict):
        return value.batch_size
    return tuple(np.shape(value))


def _as_array(value: Any) -> Any:
    if isinstance(value, (jax.Array, np.ndarray, np.generic)):
        return value
    if hasattr(value, "shape") and hasattr(value, "dtype"):  # e.g. jax.ShapeDtypeStruct
        return value
    return jnp.asarray(value)


class TensorDict:
    """An immutable nested mapping of string keys to arrays, with a shared leading batch shape.

    Args:
      source: a mapping of ``str`` keys to arrays, nested mappings or TensorDicts. Nested mappings
        become TensorDicts with the same batch size.
      batch_size: the leading dimensions every entry shares (an int or a sequence of ints).

    Entries are read with ``td["key"]``, ``td["next", "reward"]`` or ``td.get(key, default)``, and
    written with ``td = td.set(key, value)``: like a JAX array, a TensorDict is never changed in
    place. Integer, slice and boolean indices act on the batch dimensions only (``td[0]``,
    ``td[:, 3]``, ``td[mask]`` outside jit).

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxrl_modules import TensorDict
      >>> td = TensorDict({"observation": jnp.zeros((4, 3)), "next": {"reward": jnp.ones((4, 1))}},
      ...                 batch_size=[4])
      >>> td["next", "reward"].shape
      (4, 1)
      >>> td[1:3].batch_size
      (2,)
      >>> td.set("action", jnp.zeros((4,), jnp.int32)).keys()
      ['action', 'next', 'observation']
    """

    __slots__ = ("_keys", "_values", "_event_ndims")
    # Set in `_init` through object.__setattr__ (the class is frozen): the sorted keys, their
    # values (arrays or TensorDicts) and each value's number of dims beyond the batch.
    _keys: tuple[str, ...]
    _values: tuple[Any, ...]
    _event_ndims: tuple[int, ...]

    def __init__(self, source: Mapping[str, Any] | None = None, batch_size: Any = ()):
        batch_size = _as_shape(batch_size)
        entries = {}
        # `source or {}` would call bool() on a TensorDict source, which raises.
        for key, value in ({} if source is None else source).items():
            if not isinstance(key, str):
                raise TypeError(f"TensorDict keys are strings (use nested mappings for nested keys), got {key!r}.")
            if isinstance(value, Mapping) and not isinstance(value, TensorDict):
                try:
                    value = TensorDict(value, batch_size)
                except ValueError as err:
                    raise ValueError(f"In entry {key!r}: {err}") from None
            elif not isinstance(value, TensorDict):
                value = _as_array(value)
            entries[key] = value
        for key, value in entries.items():
            _check_leading(key, value, batch_size)
        self._init(entries, batch_size)

    def _init(self, entries: Mapping[str, Any], batch_size: tuple[int, ...]) -> None:
        keys = tuple(sorted(entries))
        values = tuple(entries[k] for k in keys)
        if keys:
            event = tuple(len(_shape(v)) - len(batch_size) for v in values)
        else:
            # Not zero-size (*batch_size, 0): orbax refuses to save zero-size arrays.
            values = (jnp.zeros((*batch_size, 1), jnp.float32),)
            event = (1,)
        object.__setattr__(self, "_keys", keys)
        object.__setattr__(self, "_values", values)
        object.__setattr__(self, "_event_ndims", event)

    @classmethod
    def _from_checked(cls, entries: Mapping[str, Any], batch_size: tuple[int, ...]) -> TensorDict:
        td = object.__new__(cls)
        td._init(entries, batch_size)
        return td

    # ----------------------------------------------------------------------------------- shape
    @property
    def batch_size(self) -> tuple[int, ...]:
        """The leading dimensions shared by every entry."""
        shape = _shape(self._values[0])
        return shape[: len(shape) - self._event_ndims[0]]

    shape = batch_size

    @property
    def batch_dims(self) -> int:
        return len(self.batch_size)

    ndim = batch_dims

    def numel(self) -> int:
        return math.prod(self.batch_size)

    def __len__(self) -> int:
        """The size of the first batch dimension, as TorchRL's ``len(td)``."""
        if not self.batch_size:
            raise TypeError("len() of a TensorDict with batch_size=() is undefined.")
        return self.batch_size[0]

    def __iter__(self) -> Iterator[TensorDict]:
        """Iterates over the first batch dimension, as TorchRL does."""
        return (self[i] for i in range(len(self)))

    def __bool__(self) -> bool:
        # Without this, bool() would fall back on __len__: False for a non-empty TensorDict of
        # batch size (0,), an error for batch size (). TorchRL's tensordict raises too.
        raise RuntimeError(
            "Converting a TensorDict to a boolean is not permitted (as in TorchRL's tensordict): it "
            "is ambiguous. Use `not td.is_empty()` or `len(td.keys()) > 0` for whether it holds "
            "entries, `td.numel() > 0` for whether its batch is non-empty, `td is not None` for "
            "whether there is one."
        )

    # ------------------------------------------------------------------------------------ keys
    def _entries(self) -> dict[str, Any]:
        return dict(zip(self._keys, self._values))

    def keys(self, include_nested: bool = False, leaves_only: bool = False) -> list[NestedKey]:
        """The keys, sorted; nested ones as tuples when ``include_nested``."""
        return [k for k, _ in self.items(include_nested, leaves_only)]

    def values(self, include_nested: bool = False, leaves_only: bool = False) -> list[Any]:
        return [v for _, v in self.items(include_nested, leaves_only)]

    def items(self, include_nested: bool = False, leaves_only: bool = False) -> list[tuple[NestedKey, Any]]:
        out: list[tuple[NestedKey, Any]] = []
        for key, value in zip(self._keys, self._values):
            is_td = isinstance(value, TensorDict)
            if not (leaves_only and is_td):
                out.append((key, value))
            if include_nested and is_td:
                for sub_key, sub_value in value.items(True, leaves_only):
                    out.append(((key, *unravel_key(sub_key)), sub_value))
        return out

    def __contains__(self, key: NestedKey) -> bool:
        absent = object()
        return self.get(key, absent) is not absent

    def get(self, key: NestedKey, default: Any = _MISSING) -> Any:
        """The entry at ``key`` (a string or a tuple of strings), or ``default`` if absent."""
        path = unravel_key(key)
        node: Any = self
        for depth, part in enumerate(path):
            if not isinstance(node, TensorDict):
                raise KeyError(
                    f"Cannot read key {_key_repr(path)!r}: the entry at {_key_repr(path[:depth])!r} is "
                    f"an array of shape {_shape(node)}, not a TensorDict."
                )
            try:
                node = node._values[node._keys.index(part)]
            except ValueError:
                if default is not _MISSING:
                    return default
                raise KeyError(
                    f"Key {_key_repr(path)!r} not found in TensorDict: no entry {part!r} among {list(node._keys)}."
                ) from None
        return node

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, str) or (isinstance(index, tuple) and index and all(isinstance(k, str) for k in index)):
            return self.get(index)
        return self._index(index)

    def __setitem__(self, key: Any, value: Any) -> None:
        raise TypeError(
            f"TensorDict is immutable, like a JAX array: write `td = td.set({key!r}, value)` "
            f"instead of `td[{key!r}] = value`."
        )

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"TensorDict is immutable; cannot set attribute {name!r}.")

    # ---------------------------------------------------------------------------------- writes
    def set(self, key: NestedKey, value: Any) -> TensorDict:
        """Returns a new TensorDict with ``value`` at ``key`` (intermediate levels are created).

        The value's leading dimensions must equal the batch size.
        """
        path = unravel_key(key)
        entries = self._entries()
        head = path[0]
        if len(path) == 1:
            if isinstance(value, Mapping) and not isinstance(value, TensorDict):
                value = TensorDict(value, self.batch_size)
            elif not isinstance(value, TensorDict):
                value = _as_array(value)
            _check_leading(head, value, self.batch_size)
            entries[head] = value
        else:
            child = entries.get(head, _MISSING)
            if child is _MISSING:
                child = TensorDict({}, self.batch_size)
            elif not isinstance(child, TensorDict):
                raise KeyError(
                    f"Cannot write key {_key_repr(path)!r}: the entry at {head!r} is an array of "
                    f"shape {_shape(child)}, not a TensorDict."
                )
            try:
                entries[head] = child.set(path[1:], value)
            except ValueError as err:
                raise ValueError(f"In entry {head!r}: {err}") from None
        return TensorDict._from_checked(entries, self.batch_size)

    def update(self, other: Mapping[str, Any] | TensorDict) -> TensorDict:
        """Returns a new TensorDict with every leaf of ``other`` written in (nested entries merge).

        An empty nested TensorDict (or mapping) of ``other`` is written too when its key is absent
        (and must then match the batch size), and merges as a no-op into an existing one.
        """
        td = self
        for key, value in _leaf_items(other):
            if isinstance(value, (Mapping, TensorDict)):  # an empty node
                if isinstance(td.get(key, None), TensorDict):
                    continue
            td = td.set(key, value)
        return td

    def select(self, *keys: NestedKey, strict: bool = True) -> TensorDict:
        """A TensorDict with only ``keys`` (missing keys raise unless ``strict=False``)."""
        out = self.empty()
        for key in keys:
            if strict or key in self:
                out = out.set(key, self.get(key))
        return out

    def exclude(self, *keys: NestedKey) -> TensorDict:
        """A TensorDict without ``keys`` (absent keys are ignored)."""
        drop = {unravel_key(k) for k in keys}
        return self._exclude(drop, ())

    def _exclude(self, drop: Container[tuple[str, ...]], prefix: tuple[str, ...]) -> TensorDict:
        entries = {}
        for key, value in zip(self._keys, self._values):
            path = (*prefix, key)
            if path in drop:
                continue
            if isinstance(value, TensorDict):
                value = value._exclude(drop, path)
            entries[key] = value
        return TensorDict._from_checked(entries, self.batch_size)

    def rename_key(self, old_key: NestedKey, new_key: NestedKey) -> TensorDict:
        return self.exclude(old_key).set(new_key, self.get(old_key))

    def empty(self, recurse: bool = False) -> TensorDict:
        """A TensorDict with the same batch size and no entries (nested structure kept if ``recurse``)."""
        entries = {}
        if recurse:
            entries = {k: v.empty(True) for k, v in self._entries().items() if isinstance(v, TensorDict)}
        return TensorDict._from_checked(entries, self.batch_size)

    def is_empty(self) -> bool:
        """True when no array is stored at any depth."""
        return not self.keys(include_nested=True, leaves_only=True)

    def to_dict(self) -> dict[str, Any]:
        """A plain nested ``dict`` of the entries."""
        return {k: v.to_dict() if isinstance(v, TensorDict) else v for k, v in self._entries().items()}

    def flatten_keys(self, separator: str = ".") -> TensorDict:
        """A TensorDict with nested keys joined by ``separator`` into one level."""
        leaves = self.items(include_nested=True, leaves_only=True)
        entries = {separator.join(unravel_key(k)): v for k, v in leaves}
        return TensorDict._from_checked(entries, self.batch_size)

    # -------------------------------------------------------------------------- batch transforms
    def apply(self, fn: Callable[..., Any], *others: TensorDict, batch_size: Any = None) -> TensorDict:
        """Maps ``fn`` over the arrays (and the matching arrays of ``others``), checking the result.

        Args:
          fn: a function of one array (and one of each of ``others``) returning an array.
          *others: TensorDicts with the same keys, mapped alongside.
          batch_size: the batch size of the result, checked against every entry's leading dims
            as the constructor does; needed when ``fn`` changes the number of trailing (non-batch)
            dims of the entries. By default the result's batch size is read off the entries,
            whose count of trailing dims ``fn`` must keep: unlike TorchRL (which keeps
            ``td.batch_size`` unless told), ``fn`` may add, drop, move or resize batch dims, the
            same for every entry, and the batch size follows.

        Returns:
          A new TensorDict. As the constructor, it raises a ValueError naming the key when the
          entries' leading dims disagree (e.g. ``fn`` sliced only some of them) or differ from
          ``batch_size``. A plain ``jax.tree.map`` over a TensorDict does not check: it rebuilds
          the TensorDict from whatever leaves it gets (JAX unflattens with placeholders and
          batch-stripped leaves inside vmap and scan), so prefer ``apply`` outside transforms, or
          call ``td.apply(lambda x: x)`` to check a tree.map result.
        """
        out = jax.tree.map(fn, self, *others)
        if batch_size is not None:
            # Rebuilt by the constructor: it checks every key and recounts the trailing dims.
            try:
                return TensorDict(out.to_dict(), batch_size)
            except ValueError as err:
                raise ValueError(f"TensorDict.apply(batch_size={_as_shape(batch_size)}): {err}") from None
        try:
            _consistent_batch(out, ())
        except ValueError as err:
            raise ValueError(
                f"TensorDict.apply: {err} Map every entry's batch dims alike, or pass batch_size=... "
                "when fn changes the trailing dims."
            ) from None
        return out

    def _map_children(self, fn: Callable[[Any], Any], batch_size: tuple[int, ...]) -> TensorDict:
        entries = {k: fn(v) for k, v in self._entries().items()}
        return TensorDict._from_checked(entries, batch_size)

    def _index(self, index: Any) -> TensorDict:
        index = _normalize_index(index, self.batch_size)
        if not self._keys:
            return TensorDict._from_checked({}, _shape(self._values[0][index])[:-1])
        entries = {k: v._index(index) if isinstance(v, TensorDict) else v[index] for k, v in self._entries().items()}
        first = next(iter(entries.values()))
        shape = _shape(first)
        return TensorDict._from_checked(entries, shape[: len(shape) - self._event_ndims[0]])

    def reshape(self, *shape: Any) -> TensorDict:
        """Reshapes the batch dimensions (``-1`` allowed); entries keep their event dimensions."""
        if len(shape) == 1 and not isinstance(shape[0], int):
            shape = tuple(shape[0])
        old = self.batch_size
        new = _resolve_reshape(old, tuple(shape))
        n = len(old)

        def fn(value: Any) -> Any:
            if isinstance(value, TensorDict):
                return value.reshape(*new, *value.batch_size[n:])
            return jnp.reshape(value, (*new, *value.shape[n:]))

        return self._map_children(fn, new)

    view = reshape

    def unsqueeze(self, dim: int) -> TensorDict:
        """Adds a batch dimension of size 1 at ``dim`` (counted over batch dims)."""
        n = self.batch_dims
        dim = dim + n + 1 if dim < 0 else dim
        if not 0 <= dim <= n:
            raise IndexError(f"unsqueeze dim {dim} is out of range for batch_size {self.batch_size}.")
        new = (*self.batch_size[:dim], 1, *self.batch_size[dim:])
        return self.reshape(new)

    def squeeze(self, dim: int | None = None) -> TensorDict:
        """Removes batch dimensions of size 1 (all of them, or the one at ``dim``)."""
        old = self.batch_size
        if dim is None:
            new = tuple(s for s in old if s != 1)
        else:
            dim = dim + len(old) if dim < 0 else dim
            new = old if old[dim] != 1 else old[:dim] + old[dim + 1 :]
        return self.reshape(new)

    @classmethod
    def stack(cls, tds: Sequence[TensorDict], dim: int = 0) -> TensorDict:
        return stack(tds, dim)

    @classmethod
    def cat(cls, tds: Sequence[TensorDict], dim: int = 0) -> TensorDict:
        return cat(tds, dim)

    # ---------------------------------------------------------------------------------- display
    def __repr__(self) -> str:
        return _repr(self, indent=0)


# ------------------------------------------------------------------------------------ pytree


def _flatten(td: TensorDict):
    return td._values, (td._keys, td._event_ndims)


def _flatten_with_keys(td: TensorDict):
    keys = td._keys or ("__batch_marker__",)
    return [(jax.tree_util.DictKey(k), v) for k, v in zip(keys, td._values)], (td._keys, td._event_ndims)


def _unflatten(aux, children) -> TensorDict:
    # Never validates: JAX unflattens with placeholder leaves (None, object(), in_axes ints).
    td = object.__new__(TensorDict)
    object.__setattr__(td, "_keys", aux[0])
    object.__setattr__(td, "_values", tuple(children))
    object.__setattr__(td, "_event_ndims", aux[1])
    return td


jax.tree_util.register_pytree_with_keys(TensorDict, _flatten_with_keys, _unflatten, flatten_func=_flatten)


# ----------------------------------------------------------------------------------- helpers


def _as_shape(batch_size: Any) -> tuple[int, ...]:
    if isinstance(batch_size, int):
        return (batch_size,)
    try:
        return tuple(int(s) for s in batch_size)
    except TypeError:
        raise TypeError(f"batch_size must be an int or a sequence of ints, got {batch_size!r}.") from None


def _check_leading(key: str, value: Any, batch_size: tuple[int, ...]) -> None:
    shape = _shape(value)
    if shape[: len(batch_size)] != batch_size:
        kind = "TensorDict batch_size" if isinstance(value, TensorDict) else "shape"
        raise ValueError(
            f"Entry {key!r} has {kind} {shape}, whose leading dimensions do not match the "
            f"TensorDict's batch_size {batch_size}."
        )


def _leaf_items(source: Mapping[str, Any] | TensorDict) -> Iterator[tuple[tuple[str, ...], Any]]:
    """``(path, value)`` for every leaf; an empty nested mapping or TensorDict is yielded itself."""
    for key, value in source.items():
        key = cast(str, key)  # top-level keys (items() without include_nested) are strings
        if isinstance(value, Mapping) or isinstance(value, TensorDict):
            sub = list(_leaf_items(value))
            if not sub:
                yield (key,), value
            for sub_key, sub_value in sub:
                yield (key, *sub_key), sub_value
        else:
            yield (key,), value


def _consistent_batch(td: TensorDict, prefix: tuple[str, ...]) -> tuple[int, ...]:
    """The batch size every entry of ``td`` agrees on (read off the event dims); raises otherwise."""
    found: tuple[int, ...] | None = None
    first = None
    names = td._keys or ("<batch marker of an empty TensorDict>",)
    for key, value, event in zip(names, td._values, td._event_ndims):
        path = (*prefix, key)
        if isinstance(value, TensorDict):
            batch = _consistent_batch(value, path)
            if len(batch) < event:
                raise ValueError(
                    f"Entry {_key_repr(path)!r} has batch_size {batch}, shorter than the {event} dims "
                    "it had beyond its parent's batch."
                )
            batch = batch[: len(batch) - event]
        else:
            shape = _shape(value)
            if len(shape) < event:
                raise ValueError(
                    f"Entry {_key_repr(path)!r} has shape {shape}, fewer than its {event} event dims: "
                    "the function dropped dims that are not batch dims."
                )
            batch = shape[: len(shape) - event]
        if found is None:
            found, first = batch, path
        elif batch != found:
            assert first is not None  # set with found
            raise ValueError(
                f"Entry {_key_repr(path)!r} has leading dims {batch} but entry {_key_repr(first)!r} "
                f"has {found}: every entry of a TensorDict must share its batch_size."
            )
    assert found is not None  # a TensorDict holds at least one value (the batch marker when empty)
    return found


def _normalize_index(index: Any, batch_size: tuple[int, ...]) -> tuple[Any, ...]:
    """Makes an index act on batch dims only: expands ``...`` over the batch dims."""
    if not isinstance(index, tuple):
        index = (index,)

    def consumed(i: Any) -> int:
        if i is None or i is Ellipsis:
            return 0
        if np.ndim(i) and np.result_type(i) == np.bool_:
            return np.ndim(i)
        return 1

    used = sum(consumed(i) for i in index)
    if used > len(batch_size):
        raise IndexError(
            f"Index {index!r} indexes {used} dimensions, but the TensorDict has batch_size "
            f"{batch_size}: indices act on batch dimensions only."
        )
    if any(i is Ellipsis for i in index):
        pos = next(j for j, i in enumerate(index) if i is Ellipsis)
        fill = (slice(None),) * (len(batch_size) - used)
        index = index[:pos] + fill + tuple(i for i in index[pos + 1 :] if i is not Ellipsis)
    return index


def _resolve_reshape(old: tuple[int, ...], new: tuple[int, ...]) -> tuple[int, ...]:
    total = math.prod(old)
    if new.count(-1) > 1:
        raise ValueError(f"Only one -1 is allowed in a reshape, got {new}.")
    if -1 in new:
        known = math.prod(s for s in new if s != -1)
        if known == 0 or total % known:
            raise ValueError(f"Cannot reshape batch_size {old} to {new}.")
        new = tuple(total // known if s == -1 else s for s in new)
    if math.prod(new) != total:
        raise ValueError(f"Cannot reshape batch_size {old} to {new}: sizes differ.")
    return new


def _check_same_keys(tds: Sequence[TensorDict], op: str) -> None:
    if isinstance(tds, TensorDict) or not all(isinstance(td, TensorDict) for td in tds):
        raise TypeError(f"{op} takes a sequence (list or tuple) of TensorDicts, got {type(tds).__name__}.")
    if len(tds) == 0:
        raise ValueError(f"{op} needs at least one TensorDict.")
    keys = set(tds[0].keys(True, True))
    for i, td in enumerate(tds[1:], 1):
        other = set(td.keys(True, True))
        if other != keys:
            raise KeyError(
                f"{op}: TensorDict {i} has keys that differ from TensorDict 0: "
                f"missing {sorted(map(str, keys - other))}, extra {sorted(map(str, other - keys))}."
            )


def _check_shapes(tds: Sequence[TensorDict], op: str, skip: int | None) -> None:
    """Equal batch sizes and entry shapes (except batch dim ``skip``, for cat), naming what differs."""

    def comparable(shape: tuple[int, ...]) -> tuple[Any, ...]:
        return shape if skip is None else (len(shape), *shape[:skip], *shape[skip + 1 :])

    what = "batch_size" if skip is None else f"batch_size (except dim {skip})"
    sizes = [td.batch_size for td in tds]
    if len({comparable(b) for b in sizes}) > 1:
        raise ValueError(f"{op}: the TensorDicts need the same {what}, got batch sizes {sizes}.")
    for key, _ in tds[0].items(True):  # nested TensorDicts too: their batch sizes must agree
        shapes = [_shape(td.get(key)) for td in tds]
        if len({comparable(sh) for sh in shapes}) > 1:
            raise ValueError(
                f"{op}: entry {key!r} has shapes {shapes} in the TensorDicts; they must be equal"
                f"{'' if skip is None else f' except along dim {skip}'}."
            )


def stack(tds: Sequence[TensorDict], dim: int = 0) -> TensorDict:
    """Stacks TensorDicts with equal keys and batch sizes along a new batch dimension ``dim``.

    Raises:
      ValueError: the batch sizes, or the shapes of an entry, differ (the error names them).
    """
    _check_same_keys(tds, "stack")
    n = tds[0].batch_dims
    dim = dim + n + 1 if dim < 0 else dim
    if not 0 <= dim <= n:
        raise IndexError(f"stack dim {dim} is out of range for batch_size {tds[0].batch_size}.")
    _check_shapes(tds, "stack", None)
    return jax.tree.map(lambda *xs: jnp.stack(xs, axis=dim), *tds)


def cat(tds: Sequence[TensorDict], dim: int = 0) -> TensorDict:
    """Concatenates TensorDicts with equal keys along the existing batch dimension ``dim``.

    Raises:
      ValueError: the batch sizes differ other than along ``dim``, or an entry's shapes do.
    """
    _check_same_keys(tds, "cat")
    n = tds[0].batch_dims
    dim = dim + n if dim < 0 else dim
    if not 0 <= dim < n:
        raise IndexError(f"cat dim {dim} is out of range for batch_size {tds[0].batch_size}.")
    _check_shapes(tds, "cat", dim)
    return jax.tree.map(lambda *xs: jnp.concatenate(xs, axis=dim), *tds)


def _repr(td: TensorDict, indent: int) -> str:
    pad = " " * (indent + 8)
    lines = []
    for key, value in td._entries().items():
        if isinstance(value, TensorDict):
            body = _repr(value, indent + 8)
        else:
            shape = getattr(value, "shape", None)
            dtype = getattr(value, "dtype", None)
            kind = type(value).__name__ if not isinstance(value, jax.Array) else "Array"
            body = f"{kind}(shape={tuple(shape) if shape is not None else '?'}, dtype={dtype})"
        lines.append(f"{pad}{key}: {body}")
    inner = " " * (indent + 4)
    fields = ",\n".join(lines)
    fields = "{\n" + fields + "}" if lines else "{}"
    return f"TensorDict(\n{inner}fields={fields},\n{inner}batch_size={td.batch_size})"
