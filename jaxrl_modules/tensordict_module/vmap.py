"""VmapModule: map a key-based module over one batch dimension of its input."""

from __future__ import annotations

from typing import Any

import flax.linen as nn

from jaxrl_modules.data.tensordict import TensorDict, stack
from jaxrl_modules.exploration_type import ExplorationType
from jaxrl_modules import rng
from jaxrl_modules.tensordict_module.base import TensorDictModuleBase

__all__ = ["VmapModule"]


class VmapModule(TensorDictModuleBase):
    """Applies ``module`` to each slice along batch dimension ``vmap_dim``, with shared parameters.

    Every variable collection is shared across the slices, and every RNG stream but ``"params"``
    is split, so each slice draws its own noise.

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

    @property
    def in_keys(self):
        return self.module.in_keys

    @property
    def out_keys(self):
        return self.module.out_keys

    def forward(self, td: TensorDict, exploration_type: ExplorationType | None) -> TensorDict:
        n = td.batch_dims
        if n == 0:
            raise ValueError("VmapModule needs a TensorDict with at least one batch dimension.")
        dim = n - 1 if self.vmap_dim is None else self.vmap_dim
        dim = dim + n if dim < 0 else dim
        if not 0 <= dim < n:
            raise ValueError(f"VmapModule: vmap_dim {self.vmap_dim} is out of range for batch_size {td.batch_size}.")

        def call(module: TensorDictModuleBase, sub: TensorDict) -> TensorDict:
            return module(sub, exploration_type=exploration_type)

        if self.mock:
            index = (slice(None),) * dim
            return stack([call(self.module, td[(*index, i)]) for i in range(td.batch_size[dim])], dim)
        mapped = nn.vmap(
            call,
            variable_axes={True: None},
            split_rngs={"params": False, **{stream: True for stream in rng.RNG_STREAMS}},
            in_axes=dim,
            out_axes=dim,
        )
        return mapped(self.module, td)
