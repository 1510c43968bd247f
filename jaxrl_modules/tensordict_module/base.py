"""The base of every key-based module: key handling and TorchRL's call forms (``dispatch``).

A key-based module reads ``in_keys`` from a TensorDict and writes ``out_keys``. Subclasses implement
``forward(td, exploration_type)`` and get, from :class:`TensorDictModuleBase`, the three ways
TorchRL's ``@dispatch`` lets a module be called:

* ``module(td)`` returns a new TensorDict: the input's entries plus the outputs;
* ``module(x, y)`` reads arrays positionally in ``in_keys`` order and returns the ``out_keys``
  values as a tuple (a single value when there is one out key);
* ``module(observation=x)`` names the arrays after the in keys (nested keys joined with ``"_"``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import flax.linen as nn

from jaxrl_modules.data.tensordict import NestedKey, TensorDict, unravel_key
from jaxrl_modules.exploration_type import ExplorationType, resolve_exploration_type

__all__ = ["Keys", "TensorDictModuleBase"]


class Keys(Sequence):
    """A module's normalized in or out keys: a hashable sequence of keys (str or tuple of str).

    Flax turns list and tuple attributes into tuples, which would make ``["a", "b"]`` (two keys)
    indistinguishable from ``("a", "b")`` (one nested key, as TorchRL reads a tuple); holding the
    keys in their own type keeps normalization idempotent when flax clones a module. ``names``
    holds the keyword names when in keys were given as ``{kwarg_name: key}``.
    """

    __slots__ = ("_keys", "names")

    def __init__(self, keys: Any, what: str = "keys"):
        names = None
        if isinstance(keys, Keys):
            keys, names = keys._keys, keys.names
        elif isinstance(keys, Mapping):
            names = tuple(keys)
            keys = tuple(keys.values())
        elif isinstance(keys, (str, tuple)):
            keys = (keys,)  # a tuple is one nested key, as in TorchRL
        elif not isinstance(keys, Sequence):
            raise TypeError(f"{what} must be a key, a list of keys or a dict, got {keys!r}.")
        object.__setattr__(self, "_keys", tuple(_normalize_key(k) for k in keys))
        object.__setattr__(self, "names", names)

    def __getitem__(self, i):
        return self._keys[i]

    def __len__(self) -> int:
        return len(self._keys)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Keys):
            return self._keys == other._keys and self.names == other.names
        if isinstance(other, (list, tuple)):
            return list(self._keys) == [_normalize_key(k) for k in other]
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self._keys, self.names))

    def __repr__(self) -> str:
        return repr(list(self._keys))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Keys are immutable.")


def _normalize_key(key: Any) -> NestedKey:
    path = unravel_key(tuple(key) if isinstance(key, list) else key)
    return path[0] if len(path) == 1 else path


def _joined(key: NestedKey) -> str:
    return "_".join(unravel_key(key))


class TensorDictModuleBase(nn.Module):
    """Base class of key-based modules: subclasses define ``in_keys``, ``out_keys`` and ``forward``.

    Attributes:
      exploration_type: the module's exploration type (``None``: unset). A keyword
        ``exploration_type=`` of ``__call__`` overrides it for that call.
    """

    def __call__(self, *args: Any, exploration_type: ExplorationType | str | None = None, **kwargs: Any):
        etype = resolve_exploration_type(exploration_type, getattr(self, "exploration_type", None))
        if len(args) == 1 and not kwargs and isinstance(args[0], TensorDict):
            return self.forward(args[0], etype)
        td = self._tensordict_from_arrays(args, kwargs)
        out = self.forward(td, etype)
        values = tuple(out.get(k) for k in self.out_keys if k != "_")
        return values[0] if len(values) == 1 else values

    def forward(self, td: TensorDict, exploration_type: ExplorationType | None) -> TensorDict:
        raise NotImplementedError

    def _tensordict_from_arrays(self, args: tuple, kwargs: dict) -> TensorDict:
        in_keys = self.in_keys
        if any(isinstance(a, TensorDict) for a in args):
            raise TypeError(
                f"{self._name()}: pass either one TensorDict or arrays, not a mix of both."
            )
        if len(args) > len(in_keys):
            raise TypeError(
                f"{self._name()} takes at most {len(in_keys)} arrays (in_keys={list(in_keys)}), "
                f"got {len(args)}."
            )
        td = TensorDict({}, batch_size=())
        for key, value in zip(in_keys, args):
            td = td.set(key, value)
        by_name = {_joined(k): k for k in in_keys}
        for name, value in kwargs.items():
            if name not in by_name:
                raise TypeError(
                    f"{self._name()} got an unexpected keyword {name!r}; its in_keys are "
                    f"{list(in_keys)}, called by the names {sorted(by_name)}."
                )
            td = td.set(by_name[name], value)
        return td

    def _name(self) -> str:
        return type(self).__name__

    def _read(self, td: TensorDict, key: NestedKey) -> Any:
        try:
            return td.get(key)
        except KeyError as err:
            raise KeyError(f"{self._name()}: in_key {key!r} is missing. {err.args[0]}") from None

    def _write(self, td: TensorDict, key: NestedKey, value: Any) -> TensorDict:
        try:
            return td.set(key, value)
        except ValueError as err:
            raise ValueError(f"{self._name()}: cannot write out_key {key!r}. {err}") from None
