"""VmapModule: map a key-based module over one batch dimension of its input."""

from __future__ import annotations

from numbers import Integral

import flax.linen as nn

from jaxrl_modules import rng
from jaxrl_modules.data.tensordict import TensorDict, stack
from jaxrl_modules.exploration_type import ExplorationType
from jaxrl_modules.tensordict_module.base import TensorDictModuleBase

__all__ = ["VmapModule"]


class VmapModule(TensorDictModuleBase):
    """Applies ``module`` to each slice along batch dimension ``vmap_dim``, with shared parameters.

    Every variable collection is shared across the slices, and every RNG stream but ``"params"``
    is split, so each slice draws its own noise. The TensorDict must have a batch dim to map over
    (batch_size ``[]`` raises rather than mapping over a leaf's event dim); each slice is the
    TensorDict with that dim removed, and ``module`` checks its own inputs' event shapes there.

    Args:
      module: a key-based module.
      vmap_dim: the batch dimension to map over; defaults to the last batch dimension.
      mock: if True, loop over the slices in Python and stack (for debugging); same result.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from jaxrl_modules import MLP, TensorDict, TensorDictModule, VmapModule
      >>> vm = VmapModule(TensorDictModule(MLP(out_features=2), in_keys=["x"], out_keys=["y"]))
      >>> td = TensorDict({"x": jnp.ones((4, 3, 5))}, batch_size=[4, 3])
      >>> vm.apply(vm.init(jax.random.key(0), td), td)["y"].shape
      (4, 3, 2)
    """

    module: TensorDictModuleBase
    vmap_dim: int | None = None
    mock: bool = False
    exploration_type: ExplorationType | str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.module, TensorDictModuleBase):
            raise TypeError(
                f"VmapModule: module must be a key-based module (wrap a network in TensorDictModule), got "
                f"{type(self.module).__name__}."
            )
        if self.vmap_dim is not None and (not isinstance(self.vmap_dim, Integral) or isinstance(self.vmap_dim, bool)):
            raise TypeError(f"VmapModule: vmap_dim must be an int (a batch dim) or None, got {self.vmap_dim!r}.")
        super().__post_init__()

    def _where(self) -> str:
        return f"VmapModule({type(self.module).__name__})"

    @property
    def in_keys(self):
        return self.module.in_keys

    @property
    def out_keys(self):
        return self.module.out_keys

    def forward(self, td: TensorDict, exploration_type: ExplorationType | None) -> TensorDict:
        n = td.batch_dims
        if n == 0:
            # Mapping over a leaf's leading dim instead would treat an unbatched event dim as a batch.
            raise ValueError(
                f"{self._where()} maps over a batch dim, so it needs a TensorDict with at least one batch "
                f"dimension; got batch_size [] (keys {td.keys(include_nested=True, leaves_only=True)}). "
                "Build the TensorDict with its batch_size, e.g. TensorDict(..., batch_size=[B])."
            )
        dim = n - 1 if self.vmap_dim is None else int(self.vmap_dim)
        dim = dim + n if dim < 0 else dim
        if not 0 <= dim < n:
            raise ValueError(
                f"{self._where()}: vmap_dim {self.vmap_dim} is out of range for batch_size {list(td.batch_size)} "
                f"({n} batch dims: pass -{n} .. {n - 1})."
            )

        def call(module: TensorDictModuleBase, sub: TensorDict) -> TensorDict:
            return module(sub, exploration_type=exploration_type)

        if self.mock:
            index = (slice(None),) * dim
            return stack([call(self.module, td[(*index, i)]) for i in range(td.batch_size[dim])], dim)
        mapped = nn.vmap(
            call,
            variable_axes={True: None},
            split_rngs={"params": False, **dict.fromkeys(rng.RNG_STREAMS, True)},
            in_axes=dim,
            out_axes=dim,
        )
        return mapped(self.module, td)
