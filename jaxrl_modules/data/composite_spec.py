"""Composite: a nested, frozen mapping of keys to specs, describing a whole TensorDict."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import jax
import jax.numpy as jnp

from jaxrl_modules.data.tensor_spec import TensorSpec, _as_shape, _expand_shape
from jaxrl_modules.data.tensordict import NestedKey, TensorDict, unravel_key

__all__ = ["Composite", "CompositeSpec"]

_MISSING = object()


def _key_repr(path: tuple[str, ...]) -> NestedKey:
    return path[0] if len(path) == 1 else path


class Composite(TensorSpec):
    """Specs for the entries of a TensorDict, nested like it, with a shared leading ``shape``.

    Args:
      source_dict: a mapping of keys (strings, or tuples of strings for nested entries) to specs,
        nested mappings or Composites, or ``None`` (an entry with no constraint).
      shape: the leading (batch) shape shared by every entry; each entry's shape starts with it.
      **specs: more entries, by name.

    Like a TensorDict it is immutable: ``spec = spec.set(key, value)`` returns a new Composite.
    ``rand`` and ``zero`` return TensorDicts with batch size ``(*shape, *composite.shape)``;
    ``is_in`` and ``project`` act on every entry that has a spec (``None`` entries are skipped).

    Examples:
      >>> import jax
      >>> from jaxrl_modules.data import Composite, OneHot, Unbounded
      >>> spec = Composite(action=OneHot(4), next={"reward": Unbounded(1)})
      >>> spec.keys(include_nested=True, leaves_only=True)
      ['action', ('next', 'reward')]
      >>> td = spec.rand(jax.random.key(0), (3,))
      >>> td.batch_size, td["next", "reward"].shape
      ((3,), (3, 1))
      >>> bool(spec.is_in(td))
      True
      >>> spec["next", "reward"].shape
      (1,)
    """

    # Set through `_set` (specs are frozen): the entries sorted by key, a value None for no constraint.
    _entries: tuple[tuple[str, TensorSpec | None], ...]

    def __init__(self, source_dict: Mapping[Any, Any] | None = None, *, shape: Any = (), **specs: Any):
        shape = _as_shape(shape, "Composite")
        entries: dict[str, Any] = {}
        nested: list[tuple[tuple[str, ...], Any]] = []
        for key, value in {**(source_dict or {}), **specs}.items():
            path = unravel_key(key)
            if len(path) > 1:
                nested.append((path, value))  # written once the plain entries exist
                continue
            entries[path[0]] = self._coerce(path, value, shape)
        super().__init__(shape, None, "composite")
        self._set(_entries=tuple(sorted(entries.items())))
        for path, value in nested:
            self._set(_entries=self.set(path, value)._entries)

    @staticmethod
    def _coerce(path: tuple[str, ...], value: Any, shape: tuple[int, ...]) -> Any:
        if isinstance(value, Mapping):
            try:
                value = Composite(value, shape=shape)
            except ValueError as err:
                raise ValueError(f"In entry {_key_repr(path)!r}: {err}") from None
        elif value is not None and not isinstance(value, TensorSpec):
            raise TypeError(
                f"Composite entry {_key_repr(path)!r} must be a spec, a mapping or None, got {type(value).__name__}."
            )
        if value is not None and tuple(value.shape[: len(shape)]) != shape:
            raise ValueError(
                f"Composite entry {_key_repr(path)!r} has shape {value.shape}, which does not start "
                f"with the Composite's shape {shape}."
            )
        return value

    # ---------------------------------------------------------------------------- identity
    def _identity(self) -> tuple[Any, ...]:
        return (Composite, self.shape, self._entries)

    def __repr__(self) -> str:
        return self._repr(0)

    def _repr(self, indent: int) -> str:
        pad = " " * (indent + 4)
        lines = [
            f"{pad}{key}: {value._repr(indent + 4) if isinstance(value, Composite) else value}"
            for key, value in self._entries
        ]
        return "Composite(\n" + ",\n".join([*lines, f"{pad}shape={self.shape}"]) + ")"

    # ---------------------------------------------------------------------------- mapping
    def get(self, key: NestedKey, default: Any = _MISSING) -> Any:
        """The spec (or ``None``) at ``key``, or ``default`` when absent (a KeyError without one)."""
        path = unravel_key(key)
        node: Any = self
        for depth, part in enumerate(path):
            found = dict(node._entries).get(part, _MISSING) if isinstance(node, Composite) else _MISSING
            if found is _MISSING:
                if default is not _MISSING:
                    return default
                where = "" if depth == 0 else f" under {_key_repr(path[:depth])!r}"
                raise KeyError(f"Key {_key_repr(path)!r} not found in Composite: no entry {part!r}{where}.")
            node = found
        return node

    def __getitem__(self, key: NestedKey) -> Any:
        return self.get(key)

    def __contains__(self, key: NestedKey) -> bool:
        absent = object()  # not _MISSING, which get() reads as "no default given"
        return self.get(key, absent) is not absent

    def __iter__(self) -> Iterator[str]:
        return iter([key for key, _ in self._entries])

    def __len__(self) -> int:
        return len(self._entries)

    def items(self, include_nested: bool = False, leaves_only: bool = False) -> list[tuple[NestedKey, Any]]:
        """``(key, spec)`` pairs, sorted as TensorDict's; ``None`` entries count as leaves."""
        out: list[tuple[NestedKey, Any]] = []
        for key, value in self._entries:
            is_node = isinstance(value, Composite)
            if not (leaves_only and is_node):
                out.append((key, value))
            if include_nested and isinstance(value, Composite):
                out.extend(((key, *unravel_key(k)), v) for k, v in value.items(True, leaves_only))
        return out

    def keys(self, include_nested: bool = False, leaves_only: bool = False) -> list[NestedKey]:
        return [k for k, _ in self.items(include_nested, leaves_only)]

    def values(self, include_nested: bool = False, leaves_only: bool = False) -> list[Any]:
        return [v for _, v in self.items(include_nested, leaves_only)]

    def is_empty(self) -> bool:
        """True when no entry at any depth holds a spec."""
        return all(v is None for v in self.values(True, True))

    # ---------------------------------------------------------------------------- writes
    def set(self, key: NestedKey, value: Any) -> Composite:
        """A new Composite with ``value`` (a spec, mapping or None) at ``key``; levels are created."""
        path = unravel_key(key)
        entries = dict(self._entries)
        head = path[0]
        if len(path) == 1:
            entries[head] = self._coerce(path, value, self.shape)
        else:
            child = entries.get(head, _MISSING)
            if child is _MISSING or child is None:
                child = Composite(shape=self.shape)
            elif not isinstance(child, Composite):
                raise KeyError(
                    f"Cannot set {_key_repr(path)!r}: the entry at {head!r} is a leaf spec, not a Composite."
                )
            try:
                entries[head] = child.set(path[1:], value)
            except ValueError as err:
                raise ValueError(f"In entry {head!r}: {err}") from None
        return self._with_entries(entries)

    def _with_entries(self, entries: Mapping[str, Any]) -> Composite:
        out = object.__new__(Composite)
        TensorSpec.__init__(out, self.shape, None, "composite")
        out._set(_entries=tuple(sorted(entries.items())))
        return out

    def update(self, other: Composite | Mapping[Any, Any]) -> Composite:
        """A new Composite with the entries of ``other`` written in; nested Composites merge."""
        if not isinstance(other, Composite):
            other = Composite(other, shape=self.shape)
        out = self
        for key, value in other.items():
            mine = self.get(key, None)
            if isinstance(value, Composite) and isinstance(mine, Composite):
                value = mine.update(value)
            out = out.set(key, value)
        return out

    def __setitem__(self, key: Any, value: Any) -> None:
        raise TypeError(
            f"Composite is immutable: write `spec = spec.set({key!r}, value)` instead of `spec[{key!r}] = value`."
        )

    def expand(self, *shape: Any) -> Composite:
        """The same specs over a larger leading shape, to which ``self.shape`` broadcasts."""
        new = _expand_shape(self.shape, shape, "Composite")
        k = len(self.shape)
        entries = {key: None if v is None else v.expand(*new, *v.shape[k:]) for key, v in self._entries}
        return Composite(entries, shape=new)

    # ---------------------------------------------------------------------------- arrays
    def _leaf_specs(self) -> list[tuple[tuple[str, ...], TensorSpec]]:
        return [(unravel_key(k), v) for k, v in self.items(True, True) if v is not None]

    def is_in(self, td: TensorDict | Mapping[str, Any]) -> jax.Array:  # type: ignore[override]  # on TensorDicts, not arrays (TorchRL's API)
        """Whether every entry with a spec is present in ``td`` and a member of its spec.

        Returns:
          A scalar bool array (a constant ``False`` when an entry is missing).
        """
        result = jnp.asarray(True)
        for path, spec in self._leaf_specs():
            value = _lookup(td, path)
            result = result & (jnp.asarray(False) if value is None else spec.is_in(value))
        return result

    contains = is_in  # type: ignore[assignment]  # as is_in

    def project(self, td: TensorDict) -> TensorDict:  # type: ignore[override]  # on TensorDicts, not arrays (TorchRL's API)
        """A new TensorDict where each entry with a spec is projected onto it (others unchanged)."""
        for path, spec in self._leaf_specs():
            value = td.get(path, None)
            if value is not None:
                td = td.set(path, spec.project(value))
        return td

    def _build(
        self, make: Callable[[tuple[str, ...], TensorSpec], Any], lead: tuple[int, ...], prefix: tuple[str, ...] = ()
    ) -> TensorDict:
        entries = {}
        for key, value in self._entries:
            if isinstance(value, Composite):
                entries[key] = value._build(make, lead, (*prefix, key))
            elif value is not None:
                entries[key] = make((*prefix, key), value)
        return TensorDict(entries, (*lead, *self.shape))

    def rand(self, key: jax.Array, shape: Any = ()) -> TensorDict:  # type: ignore[override]  # on TensorDicts, not arrays (TorchRL's API)
        """A random TensorDict with batch size ``(*shape, *self.shape)``.

        Each leaf draws from ``jax.random.fold_in(key, i)``, ``i`` its rank in sorted key order,
        so adding an entry changes only the entries sorted after it.
        """
        lead = _as_shape(shape, "Composite.rand")
        index = {path: i for i, (path, _) in enumerate(self._leaf_specs())}
        return self._build(lambda path, spec: spec.rand(jax.random.fold_in(key, index[path]), lead), lead)

    def zero(self, shape: Any = ()) -> TensorDict:  # type: ignore[override]  # on TensorDicts, not arrays (TorchRL's API)
        """A TensorDict of zeros with batch size ``(*shape, *self.shape)``."""
        lead = _as_shape(shape, "Composite.zero")
        return self._build(lambda path, spec: spec.zero(lead), lead)

    def one(self, shape: Any = ()) -> TensorDict:  # type: ignore[override]  # on TensorDicts, not arrays (TorchRL's API)
        """A TensorDict of ones with batch size ``(*shape, *self.shape)``."""
        lead = _as_shape(shape, "Composite.one")
        return self._build(lambda path, spec: spec.one(lead), lead)

    zeros, ones = zero, one  # type: ignore[assignment]  # as zero and one

    def encode(self, values: Mapping[str, Any]) -> TensorDict:  # type: ignore[override]  # on TensorDicts, not arrays (TorchRL's API)
        """A nested mapping of NumPy values as a TensorDict, each leaf encoded by its spec."""

        def encode_leaf(path: tuple[str, ...], spec: TensorSpec) -> Any:
            value = _lookup(values, path)
            if value is None:
                raise KeyError(f"Composite.encode: no value for key {_key_repr(path)!r}.")
            return spec.encode(value)

        return self._build(encode_leaf, ())


def _lookup(td: Any, path: tuple[str, ...]) -> Any:
    node = td
    for part in path:
        if not isinstance(node, (TensorDict, Mapping)):
            return None
        node = node.get(part, None)
    return node


CompositeSpec = Composite
