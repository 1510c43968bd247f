"""TensorDictSequential and SafeSequential: run key-based modules one after the other."""

from __future__ import annotations

from typing import Any

from jaxrl_modules.data.specs import Composite
from jaxrl_modules.data.tensordict import TensorDict, unravel_key
from jaxrl_modules.exploration_type import ExplorationType
from jaxrl_modules.tensordict_module.base import Keys, TensorDictModuleBase

__all__ = ["TensorDictSequential", "SafeSequential"]

_UNSPECIFIED: Any = object()


class _SequenceFields(TensorDictModuleBase):
    # The dataclass fields live on this base so that TensorDictSequential's own __init__ (TorchRL's
    # positional form) can call the __init__ flax generates from them.
    modules: tuple = ()
    partial_tolerant: bool = False
    selected_out_keys: Any = None
    exploration_type: ExplorationType | str | None = None


class TensorDictSequential(_SequenceFields):
    """Runs key-based modules in order, each reading what the earlier ones wrote.

    ``in_keys`` are the keys some module reads that no earlier module wrote, in order of first
    appearance; ``out_keys`` are all modules' out keys, de-duplicated keeping the last occurrence
    (TorchRL's rules).

    Args:
      *modules: key-based modules (:class:`TensorDictModuleBase` instances).
      partial_tolerant: if True, a module whose in keys are not all present is skipped (decided
        at trace time, since the keys of a TensorDict are static); if False, a missing key raises.
      selected_out_keys: if given, only these out keys are kept in the output (plus the input's
        entries).
      exploration_type: a default exploration type passed to every module (``None``: each module
        keeps its own).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from jaxrl_modules import MLP, TensorDict, TensorDictModule, TensorDictSequential
      >>> seq = TensorDictSequential(
      ...     TensorDictModule(MLP(out_features=4), in_keys=["observation"], out_keys=["hidden"]),
      ...     TensorDictModule(MLP(out_features=1), in_keys=["hidden"], out_keys=["state_value"]),
      ... )
      >>> seq.in_keys, seq.out_keys
      (['observation'], ['hidden', 'state_value'])
      >>> td = TensorDict({"observation": jnp.ones((2, 3))}, batch_size=[2])
      >>> seq.apply(seq.init(jax.random.key(0), td), td)["state_value"].shape
      (2, 1)
    """

    def __init__(
        self,
        *modules: TensorDictModuleBase,
        partial_tolerant: bool = False,
        selected_out_keys: Any = None,
        exploration_type: ExplorationType | str | None = None,
        parent: Any = _UNSPECIFIED,
        name: str | None = None,
        **fields: Any,
    ):
        # TorchRL's positional form; flax's clone() passes `modules=` by keyword.
        if modules and "modules" in fields:
            raise TypeError("Pass the modules positionally or as modules=, not both.")
        modules = tuple(fields.pop("modules", modules))
        for i, module in enumerate(modules):
            if not isinstance(module, TensorDictModuleBase):
                raise TypeError(
                    f"{type(self).__name__}: module {i} is a {type(module).__name__}, not a key-based "
                    "module; wrap it in TensorDictModule(module, in_keys=..., out_keys=...)."
                )
        kwargs = {} if parent is _UNSPECIFIED else {"parent": parent}
        super().__init__(
            modules=modules,
            partial_tolerant=partial_tolerant,
            selected_out_keys=selected_out_keys if selected_out_keys is None else Keys(selected_out_keys),
            exploration_type=exploration_type,
            name=name,
            **kwargs,
            **fields,  # a subclass's own dataclass fields (unknown ones raise a TypeError there)
        )

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Subclasses keep the positional constructor: flax only generates an __init__ for a class
        # that defines none.
        if "__init__" not in cls.__dict__:
            cls.__init__ = TensorDictSequential.__init__
        super().__init_subclass__(**kwargs)

    @property
    def in_keys(self) -> Keys:
        seen: set = set()
        keys: list = []
        for module in self.modules:
            for key in module.in_keys:
                if unravel_key(key) not in seen and key not in keys:
                    keys.append(key)
            seen.update(unravel_key(k) for k in module.out_keys)
        return Keys(keys)

    @property
    def out_keys(self) -> Keys:
        keys: list = []
        for module in self.modules:
            for key in module.out_keys:
                if key in keys:
                    keys.remove(key)
                keys.append(key)
        if self.selected_out_keys is not None:
            keys = [k for k in keys if k in self.selected_out_keys]
        return Keys(keys)

    def __getitem__(self, index: int) -> TensorDictModuleBase:
        return self.modules[index]

    def __len__(self) -> int:
        return len(self.modules)

    def forward(self, td: TensorDict, exploration_type: ExplorationType | None) -> TensorDict:
        out = td
        for module in self.modules:
            if self.partial_tolerant and any(k not in out for k in module.in_keys):
                continue
            out = module(out, exploration_type=exploration_type)
        if self.selected_out_keys is not None:
            written = [k for m in self.modules for k in m.out_keys if k not in td]
            out = out.exclude(*(k for k in written if k not in self.selected_out_keys))
        return out


class SafeSequential(TensorDictSequential):
    """A TensorDictSequential whose ``spec`` is the union of its modules' specs.

    It projects nothing itself (modules built with ``safe=True`` project their own outputs); its
    ``spec`` describes every out key, ``None`` for those no module constrains.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxrl_modules import Bounded, SafeModule, SafeSequential
      >>> seq = SafeSequential(SafeModule(jnp.tanh, in_keys=["observation"], out_keys=["action"],
      ...                                 spec=Bounded(-1.0, 1.0, shape=(2,))))
      >>> seq.spec["action"].shape
      (2,)
    """

    @property
    def spec(self) -> Composite:
        spec = Composite()
        for module in self.modules:
            sub = getattr(module, "spec", None)
            if isinstance(sub, Composite):
                for key in sub.keys(True, True):
                    spec = spec.set(key, sub[key])
            else:
                for key in module.out_keys:
                    if key != "_" and key not in spec:
                        spec = spec.set(key, None)
        return spec
