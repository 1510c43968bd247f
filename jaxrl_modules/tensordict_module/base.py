"""The base of every key-based module: key handling and TorchRL's call forms (``dispatch``).

A key-based module reads ``in_keys`` from a TensorDict and writes ``out_keys``. Subclasses implement
``forward(td, exploration_type)`` and get, from :class:`TensorDictModuleBase`, the three ways
TorchRL's ``@dispatch`` lets a module be called:

* ``module(td)`` returns a new TensorDict: the input's entries plus the outputs;
* ``module(x, y)`` reads arrays positionally in ``in_keys`` order and returns the ``out_keys``
  values as a tuple (a single value when there is one out key);
* ``module(observation=x)`` names the arrays after the in keys (nested keys joined with ``"_"``).

The base also keeps flax's errors at the module boundary in the library's words: ``init`` and
``apply`` re-raise flax's scope errors (variables of another module or size, ``v["params"]``
instead of ``v``, a missing RNG stream) as a ``ValueError`` naming the module, what it expected and
what to pass, chained to flax's error; calling a module that has variables or draws random numbers
directly (TorchRL-style, without ``init``/``apply``) says how to build and apply its variables.
These are Python-level checks that run at trace time only, so a jitted ``apply`` pays nothing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

import flax.errors
import flax.linen as nn
import jax

from jaxrl_modules.data.tensordict import NestedKey, TensorDict, unravel_key
from jaxrl_modules.exploration_type import ExplorationType, resolve_exploration_type
from jaxrl_modules.functional.masks import any_action_allowed, check_any_action_allowed

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

    ``rng_streams()`` names the flax RNG streams (:mod:`jaxrl_modules.rng`) the module may draw
    from; the errors for a missing stream list them.
    """

    _rng_streams: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        if "exploration_type" in {f.name for f in dataclasses.fields(self)}:
            resolve_exploration_type(None, self.exploration_type, f"{type(self).__name__}: exploration_type")
        super().__post_init__()

    @nn.nowrap
    def rng_streams(self) -> tuple[str, ...]:
        """The RNG streams this module and the key-based modules inside it may draw from.

        A plain network inside (e.g. with dropout or noisy layers) may draw from others too.
        """
        streams = list(self._rng_streams)
        for f in dataclasses.fields(self):
            value = getattr(self, f.name, None)
            children = value if isinstance(value, (tuple, list)) else (value,)
            for child in children:
                if isinstance(child, TensorDictModuleBase):
                    streams += [s for s in child.rng_streams() if s not in streams]
        return tuple(streams)

    @nn.nowrap
    def init(self, rngs: Any, *args: Any, **kwargs: Any) -> Any:
        """flax's ``init``; flax's scope errors are re-raised in the library's words (see module doc)."""
        given = rngs if isinstance(rngs, Mapping) else {"params": rngs}
        with self._library_errors("init", given):
            return super().init(rngs, *args, **kwargs)

    @nn.nowrap
    def apply(self, variables: Any, *args: Any, rngs: Any = None, **kwargs: Any) -> Any:
        """flax's ``apply``; flax's scope errors are re-raised in the library's words (see module doc)."""
        if not isinstance(variables, Mapping):
            raise TypeError(
                f"{self._name()}.apply: variables must be the dict returned by init, got "
                f"{type(variables).__name__}. {self._usage()}"
            )
        given = {} if rngs is None else (rngs if isinstance(rngs, Mapping) else {"params": rngs})
        with self._library_errors("apply", given, variables):
            return super().apply(variables, *args, rngs=rngs, **kwargs)

    @contextlib.contextmanager
    def _library_errors(self, method: str, rngs: Mapping, variables: Mapping | None = None) -> Iterator[None]:
        name = self._name()
        try:
            yield
        except (
            flax.errors.ScopeParamShapeError,
            flax.errors.ScopeParamNotFoundError,
            flax.errors.ScopeVariableNotFoundError,
        ) as err:
            raise ValueError(
                f"{name}.{method}: the variables do not fit this module ({_flax_message(err)}). They "
                "were made by another module, or by one of another size; pass the variables this "
                f"very module's init returned. {self._usage()}"
            ) from err
        except flax.errors.ScopeCollectionNotFound as err:
            if variables is not None and not variables:
                hint = "the variables are empty ({}), but this module has variables"
            elif variables is not None and not any(c in variables for c in _COLLECTIONS):
                hint = (
                    f"the variables have the keys {sorted(variables)[:5]} but no collection such as "
                    "'params': pass the whole variables (v), not v['params']"
                )
            else:
                hint = "a collection this module needs is missing from the variables"
            raise ValueError(f"{name}.{method}: {hint} ({_flax_message(err)}). {self._usage()}") from err
        except flax.errors.InvalidRngError as err:
            found = re.search(r'needs PRNG for "([^"]+)"', str(err))
            needed = found.group(1) if found else None
            streams = list(self.rng_streams())
            if needed is not None and needed not in streams:
                streams.append(needed)
            close = [g for g in rngs if needed and difflib.get_close_matches(g, [needed])]
            misspelt = f" ({close[0]!r} is not a stream name; did you mean {needed!r}?)" if close else ""
            raise ValueError(
                f"{name}.{method}: it draws from the RNG stream {needed!r}, which was not given; rngs "
                f"given: {sorted(rngs) if rngs else 'none'}{misspelt}. This module's streams: {streams} "
                f"(names in jaxrl_modules.rng); pass rngs={{{', '.join(repr(s) + ': key' for s in streams)}}}."
            ) from err

    def _usage(self) -> str:
        rngs = ", ".join(f"{s!r}: key" for s in self.rng_streams() if s != "params")
        call = f", rngs={{{rngs}}}" if rngs else ""
        return (
            f"Build and pass the variables: variables = module.init(jax.random.key(0), td); "
            f"out = module.apply(variables, td{call})."
        )

    def __call__(self, *args: Any, exploration_type: ExplorationType | str | None = None, **kwargs: Any):
        if self.scope is None:  # unbound: TorchRL's direct call, fine for parameter-free modules
            try:
                return self._call(args, exploration_type, kwargs)
            except (flax.errors.CallCompactUnboundModuleError, flax.errors.CallSetupUnboundModuleError) as err:
                raise self._unbound_error(err) from err
            except ValueError as err:
                if "unbound module" not in str(err):
                    raise
                raise self._unbound_error(err) from err
        return self._call(args, exploration_type, kwargs)

    def _unbound_error(self, err: Exception) -> RuntimeError:
        return RuntimeError(
            f"{self._name()} has variables (parameters or state) or draws random numbers, so it "
            f"cannot be called directly as in TorchRL. {self._usage()}"
        )

    def _call(self, args: tuple, exploration_type: Any, kwargs: dict) -> Any:
        etype = resolve_exploration_type(
            exploration_type, getattr(self, "exploration_type", None), f"{type(self).__name__}: exploration_type"
        )
        if len(args) == 1 and not kwargs and isinstance(args[0], TensorDict):
            return self.forward(args[0], etype)
        td = self._tensordict_from_arrays(args, kwargs)
        out = self.forward(td, etype)
        values = tuple(out.get(k) for k in self.out_keys if k != "_")
        return values[0] if len(values) == 1 else values

    def _mask_flag(self, mask: jax.Array, blocks: Any, mask_key: NestedKey) -> jax.Array:
        """``any_action_allowed`` of a mask; with the module's ``check_mask``, a checkify check."""
        allowed = any_action_allowed(mask, blocks)
        if getattr(self, "check_mask", False):
            check_any_action_allowed(allowed, f"{self._name()} (action_mask_key {mask_key!r})")
        return allowed

    def forward(self, td: TensorDict, exploration_type: ExplorationType | None) -> TensorDict:
        raise NotImplementedError

    def _tensordict_from_arrays(self, args: tuple, kwargs: dict) -> TensorDict:
        in_keys = self.in_keys
        if any(isinstance(a, TensorDict) for a in args):
            raise TypeError(f"{self._name()}: pass either one TensorDict or arrays, not a mix of both.")
        if len(args) > len(in_keys):
            raise TypeError(
                f"{self._name()} takes at most {len(in_keys)} arrays (in_keys={list(in_keys)}), got {len(args)}."
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


_COLLECTIONS = ("params", "schedule", "batch_stats", "noise", "cache", "intermediates")


def _flax_message(err: Exception) -> str:
    """flax's message without its documentation link."""
    return str(err).split(" (https://")[0]
