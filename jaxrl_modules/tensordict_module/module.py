"""TensorDictModule and SafeModule: wrap an array network as a key-based module."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax

from jaxrl_modules.data.specs import Composite, TensorSpec
from jaxrl_modules.data.tensordict import TensorDict, unravel_key
from jaxrl_modules.exploration_type import ExplorationType
from jaxrl_modules.models.layers import call_accepts
from jaxrl_modules.tensordict_module.base import Keys, TensorDictModuleBase

__all__ = ["TensorDictModule", "SafeModule", "register_spec"]


class TensorDictModule(TensorDictModuleBase):
    """Reads ``in_keys``, calls ``module`` on the arrays, writes its outputs at ``out_keys``.

    Args:
      module: a flax module or any callable on arrays. It receives the in-key arrays positionally
        in ``in_keys`` order (or as keywords when ``in_keys`` is a ``{kwarg: key}`` dict) and returns
        one array per out key (a tuple, or a mapping holding every out key). If its ``__call__``
        takes an ``exploration_type`` keyword, the module's exploration type is passed on.
      in_keys: the keys to read: a key (``"observation"``, or ``("next", "observation")`` as one
        nested key), a list of keys, or a dict mapping keyword names to keys.
      out_keys: the keys to write, in the order of the module's outputs; ``"_"`` drops an output.
      inplace: ``True`` (default) returns the input's entries plus the outputs; ``False`` or
        ``"empty"`` returns a TensorDict holding the outputs only (same batch size), which keeps
        fewer arrays crossing a ``jit`` boundary.
      exploration_type: the default exploration type handed to ``module`` (``None``: unset).

    Returns:
      A new TensorDict (the input is never modified), or, when called with arrays, the out-key
      values as a tuple (one value if one out key).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from jaxrl_modules import MLP, TensorDict, TensorDictModule
      >>> actor = TensorDictModule(MLP(out_features=2, num_cells=[8]), in_keys=["observation"],
      ...                          out_keys=["action"])
      >>> td = TensorDict({"observation": jnp.ones((5, 3))}, batch_size=[5])
      >>> variables = actor.init(jax.random.key(0), td)
      >>> actor.apply(variables, td)["action"].shape
      (5, 2)
      >>> actor.apply(variables, jnp.ones((5, 3))).shape  # the array call form
      (5, 2)
    """

    module: Any
    in_keys: Any
    out_keys: Any
    inplace: bool | str = True
    exploration_type: ExplorationType | str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "in_keys", Keys(self.in_keys, "in_keys"))
        object.__setattr__(self, "out_keys", Keys(self.out_keys, "out_keys"))
        if self.inplace not in (True, False, "empty"):
            raise ValueError(f"inplace must be True, False or 'empty', got {self.inplace!r}.")
        super().__post_init__()

    def _name(self) -> str:
        inner = getattr(self.module, "__name__", None) or type(self.module).__name__
        return f"{type(self).__name__}({inner})"

    def forward(self, td: TensorDict, exploration_type: ExplorationType | None) -> TensorDict:
        inputs = [self._read(td, k) for k in self.in_keys]
        kwargs = {}
        if exploration_type is not None and call_accepts(self.module, "exploration_type"):
            kwargs["exploration_type"] = exploration_type
        if self.in_keys.names is not None:
            outputs = self.module(**dict(zip(self.in_keys.names, inputs)), **kwargs)
        else:
            outputs = self.module(*inputs, **kwargs)
        outputs = self._match_outputs(outputs)
        return self._write_outputs(td, outputs)

    def _match_outputs(self, outputs: Any) -> tuple:
        if isinstance(outputs, (Mapping, TensorDict)):
            getter = outputs.get if isinstance(outputs, TensorDict) else lambda k: _get_nested(outputs, k)
            return tuple(None if k == "_" else getter(k) for k in self.out_keys)
        if not isinstance(outputs, (tuple, list)):
            outputs = (outputs,)
        if len(outputs) != len(self.out_keys):
            raise ValueError(
                f"{self._name()} returned {len(outputs)} outputs but has {len(self.out_keys)} "
                f"out_keys {list(self.out_keys)}."
            )
        return tuple(outputs)

    def _write_outputs(self, td: TensorDict, outputs: tuple) -> TensorDict:
        out = td if self.inplace is True else td.empty()
        for key, value in zip(self.out_keys, outputs):
            if key != "_":
                out = self._write(out, key, value)
        return out


def _get_nested(mapping: Mapping, key: Any) -> Any:
    value: Any = mapping
    for part in unravel_key(key):
        value = value[part]
    return value


def register_spec(spec: TensorSpec | Mapping | None, out_keys: Keys, owner: str) -> Composite:
    """TorchRL's spec registration: one spec per out key, gathered in a Composite.

    A leaf spec belongs to the single out key (several out keys need a Composite); out keys the
    spec does not mention get ``None`` (no constraint); a spec key that is not an out key is an
    error.
    """
    if spec is None:
        spec = Composite()
    elif isinstance(spec, Mapping) and not isinstance(spec, Composite):
        spec = Composite(spec)
    elif not isinstance(spec, Composite):
        keys = [k for k in out_keys if k != "_"]
        if len(keys) != 1:
            raise ValueError(
                f"{owner}: a single (non-Composite) spec needs exactly one out key, but out_keys "
                f"are {list(out_keys)}; pass a Composite keyed by out key."
            )
        spec = Composite({keys[0]: spec}) if isinstance(keys[0], str) else Composite().set(keys[0], spec)
    wanted = {unravel_key(k) for k in out_keys if k != "_"}
    extra = [k for k in spec.keys(True, True) if unravel_key(k) not in wanted]
    if extra:
        raise ValueError(f"{owner}: spec keys {extra} are not among the out_keys {list(out_keys)}.")
    for key in out_keys:
        if key != "_" and key not in spec:
            spec = spec.set(key, None)
    return spec


class SafeModule(TensorDictModule):
    """A TensorDictModule with a spec for its outputs; ``safe=True`` projects outputs onto it.

    Args:
      module, in_keys, out_keys, inplace, exploration_type: as :class:`TensorDictModule`.
      spec: a spec for the single out key, or a ``Composite`` (or dict) keyed by out key. Out keys
        without a spec are unconstrained.
      safe: if True, every output with a spec is replaced by ``spec.project(output)`` after the
        module runs: a jit-safe, deterministic post-processing step (the identity on values that
        are already in the spec). A NaN output stays NaN (NaN in, NaN out; ``+-inf`` clip).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from jaxrl_modules import Bounded, SafeModule, TensorDict
      >>> clip = SafeModule(lambda x: 3.0 * x, in_keys=["observation"], out_keys=["action"],
      ...                   spec=Bounded(-1.0, 1.0, shape=(2,)), safe=True)
      >>> td = TensorDict({"observation": jnp.array([[0.1, 0.9]])}, batch_size=[1])
      >>> clip(td)["action"]
      Array([[0.3, 1. ]], dtype=float32)
    """

    spec: Any = None
    safe: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "out_keys", Keys(self.out_keys, "out_keys"))
        object.__setattr__(self, "spec", register_spec(self.spec, self.out_keys, type(self).__name__))
        if self.safe and all(s is None for s in self.spec.values(True, True)):
            raise ValueError(f"{type(self).__name__}: safe=True needs a spec to project onto.")
        super().__post_init__()

    def forward(self, td: TensorDict, exploration_type: ExplorationType | None) -> TensorDict:
        out = super().forward(td, exploration_type)
        check_spec_shapes(self.spec, out, self._name())
        return project_outputs(self.spec, out) if self.safe else out

    def random(self, td: TensorDict, key: jax.Array) -> TensorDict:
        """Writes a random sample of each out key's spec, with the TensorDict's batch size."""
        keys = [k for k in self.spec.keys(True, True) if self.spec[k] is not None]
        for i, out_key in enumerate(keys):
            td = td.set(out_key, self.spec[out_key].rand(jax.random.fold_in(key, i), td.batch_size))
        return td

    random_sample = random


def check_spec_shapes(spec: Composite, td: TensorDict, owner: str) -> None:
    """Raises if an entry's trailing dims differ from its spec's shape (never a silent broadcast)."""
    for key in spec.keys(True, True):
        leaf = spec[key]
        if leaf is None or key not in td:
            continue
        shape = td.get(key).shape
        n = len(leaf.shape)
        if len(shape) < n or tuple(shape[len(shape) - n :]) != tuple(leaf.shape):
            raise ValueError(
                f"{owner}: out_key {key!r} has shape {tuple(shape)}, which does not end with its "
                f"spec shape {tuple(leaf.shape)} (the leading dims are the batch)."
            )


def project_outputs(spec: Composite, td: TensorDict) -> TensorDict:
    """Projects each entry of ``td`` that has a (non-None) spec onto it; other entries pass.

    A floating NaN stays NaN (a float spec's ``project`` keeps it), so a
    diverged network's output is never laundered into a valid-looking bound.
    """
    for key in spec.keys(True, True):
        leaf = spec[key]
        if leaf is not None and key in td:
            td = td.set(key, leaf.project(td.get(key)))
    return td
