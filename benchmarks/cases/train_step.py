"""One optimiser step: forward, MSE loss to a target, backward and an Adam update.

What a supervised or TD update of a network costs, end to end. The same network with the same
initial weights (PyTorch's default initialisation, drawn once), the same batch and Adam (lr 1e-3)
in every implementation:

* ``jaxrl_modules``: ``TensorDictModule(MLP)`` / ``TensorDictModule(ConvNet)`` over a TensorDict
  holding ``"observation"`` and ``"target"``; ``jax.value_and_grad`` of the MSE and an
  ``optax.adam`` update, jitted;
* ``jax``: the same network hand-written in flax.linen (``nn.Dense`` / ``nn.Conv`` layers named
  as ours, so the parameter trees are the same) on plain arrays, the same step;
* ``torchrl``: TorchRL's ``MLP`` / ``ConvNet`` in a tensordict ``TensorDictModule``,
  ``torch.optim.Adam``, eager (``zero_grad``, forward, ``mse_loss``, ``backward``, ``step``), with
  2 torch threads and 1 (`benchmarks.harness.torch_threads`).

The JAX steps thread ``(params, opt_state)`` from call to call (`benchmarks.harness.keyed_call`),
as a training loop does, so nothing is constant-folded and every call updates fresh values.

Sizes:

* ``mlp 64-256-256-8 B256``: a Tanh MLP (TorchRL's default activation) at batch 256;
* ``mlp 8-128-128-128-4 B128``: the network and batch of TorchRL's own ``test_dqn_speed``
  benchmark (``MLP(8, 4, depth=3, num_cells=128)``, batch 128);
* ``conv 84x84x4 B32``: the convolutions of the Nature DQN (32/64/64 channels, kernels 8/4/3,
  strides 4/2/1, ReLU, flattened to 3136 features) on a batch of 32 Atari-like frame stacks,
  NHWC for JAX and NCHW for TorchRL (each framework's native layout; the targets are permuted
  to match, so every implementation computes the same loss).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from benchmarks.harness import keyed_call, torch_threads
from jaxrl_modules import MLP, ConvNet, TensorDict, TensorDictModule

NAME = "train_step"
LR = 1e-3
# The Nature DQN's convolutions (Mnih et al. 2015), as ``ConvNet.default_atari_dqn``.
CONV_CELLS, CONV_KERNELS, CONV_STRIDES = (32, 64, 64), (8, 4, 3), (4, 2, 1)


@dataclasses.dataclass(frozen=True)
class Spec:
    """One size: an MLP ``features[0] -> ... -> features[-1]`` or the Nature-DQN convolutions on
    ``frame`` = ``(H, W, C)``, at ``batch``."""

    kind: str
    batch: int
    features: tuple[int, ...] = ()
    frame: tuple[int, int, int] = (0, 0, 0)


SPECS = {
    "mlp 64-256-256-8 B256": Spec("mlp", 256, features=(64, 256, 256, 8)),
    "mlp 8-128-128-128-4 B128": Spec("mlp", 128, features=(8, 128, 128, 128, 4)),
    "conv 84x84x4 B32": Spec("conv", 32, frame=(84, 84, 4)),
}
SMOKE_SPECS = {
    "mlp 8-16-2 B4": Spec("mlp", 4, features=(8, 16, 2)),
    "conv 36x36x4 B2": Spec("conv", 2, frame=(36, 36, 4)),  # the smallest frame the three convolutions fit (1x1 out)
}


def sizes(smoke: bool) -> list[str]:
    return list(SMOKE_SPECS if smoke else SPECS)


class FlaxMLP(nn.Module):
    """The hand-written MLP: ``Dense -> tanh -> ... -> Dense``, layers named as `MLP`'s."""

    features: tuple[int, ...]

    @nn.compact
    def __call__(self, x):
        for i, width in enumerate(self.features):
            if i:
                x = jnp.tanh(x)
            x = nn.Dense(width, name=f"linear_{i}")(x)
        return x


class FlaxConvNet(nn.Module):
    """The hand-written convolutions: ``Conv -> relu`` three times, flattened; named as `ConvNet`'s."""

    @nn.compact
    def __call__(self, x):
        for i, (cells, kernel, stride) in enumerate(zip(CONV_CELLS, CONV_KERNELS, CONV_STRIDES)):
            x = nn.relu(nn.Conv(cells, (kernel, kernel), (stride, stride), padding="VALID", name=f"conv_{i}")(x))
        return x.reshape(x.shape[0], -1)


def _networks(spec: Spec) -> tuple[nn.Module, nn.Module]:
    """(jaxrl_modules' network, the hand-written flax one)."""
    if spec.kind == "mlp":
        ours = MLP(in_features=spec.features[0], out_features=spec.features[-1], num_cells=list(spec.features[1:-1]))
        return ours, FlaxMLP(spec.features[1:])
    ours = ConvNet(
        in_features=spec.frame[-1],
        activation_class="ReLU",
        num_cells=list(CONV_CELLS),
        kernel_sizes=list(CONV_KERNELS),
        strides=list(CONV_STRIDES),
    )
    return ours, FlaxConvNet()


def _out_shape(spec: Spec) -> tuple[int, ...]:
    """The network's output shape before flattening: ``[B, out]``, or ``[B, H', W', C']`` (NHWC)."""
    if spec.kind == "mlp":
        return (spec.batch, spec.features[-1])
    h, w, _ = spec.frame
    for kernel, stride in zip(CONV_KERNELS, CONV_STRIDES):  # "valid" convolutions
        h, w = (h - kernel) // stride + 1, (w - kernel) // stride + 1
    return (spec.batch, h, w, CONV_CELLS[-1])


def _data(spec: Spec) -> tuple[np.ndarray, np.ndarray]:
    """Fixed random (inputs, targets); the targets unflattened, as `_out_shape`."""
    rng = np.random.default_rng(0)
    shape = (spec.batch, spec.features[0]) if spec.kind == "mlp" else (spec.batch, *spec.frame)
    x = rng.uniform(size=shape).astype(np.float32)  # frames: [0, 1), as after the usual / 255
    return x, rng.normal(size=_out_shape(spec)).astype(np.float32)


def _torch_default_init(shapes: dict[str, Any], seed: int = 1) -> dict[str, Any]:
    """PyTorch's default ``Linear`` / ``Conv2d`` initialisation, ``U(+-1 / sqrt(fan_in))`` for the
    kernel and the bias of each layer, drawn with NumPy for the given parameter shapes (so no
    forward pass is compiled just to initialise: compiling the convolutions' init alone took
    seconds on the loaded 2-core machine)."""
    rng = np.random.default_rng(seed)
    params = {}
    for name, layer in sorted(shapes.items()):
        bound = 1.0 / np.sqrt(np.prod(layer["kernel"].shape[:-1]))  # kernel [..., in, out]: fan_in
        params[name] = {
            leaf: jnp.asarray(rng.uniform(-bound, bound, s.shape).astype(np.float32))
            for leaf, s in sorted(layer.items())
        }
    return params


def _step(loss_fn: Callable, optimizer: optax.GradientTransformation) -> Callable:
    """``(state, *batch) -> (state, loss)`` with ``state = (params, opt_state)``."""

    def step(state, *batch):
        params, opt_state = state
        loss, grads = jax.value_and_grad(loss_fn)(params, *batch)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), loss

    return step


def implementations(size: str) -> dict[str, Callable[[], object]]:
    spec = {**SPECS, **SMOKE_SPECS}[size]
    net, flax_net = _networks(spec)
    x, y = _data(spec)
    module = TensorDictModule(net, in_keys=["observation"], out_keys=["prediction"])
    td = TensorDict(
        {"observation": jnp.asarray(x), "target": jnp.asarray(y.reshape(spec.batch, -1))}, batch_size=[spec.batch]
    )
    params = {"module": _torch_default_init(jax.eval_shape(module.init, jax.random.key(1), td)["params"]["module"])}
    flax_params = {"params": params["module"]}  # the same arrays: the layers have the same names
    optimizer = optax.adam(LR)

    def ours_loss(params, td):
        prediction = module.apply({"params": params}, td)["prediction"]
        return jnp.mean((prediction - td["target"]) ** 2)

    def flax_loss(variables, x, y):
        return jnp.mean((flax_net.apply(variables, x) - y) ** 2)

    impls = {
        "jaxrl_modules": keyed_call(_step(ours_loss, optimizer), (params, optimizer.init(params)), td),
        "jax": keyed_call(
            _step(flax_loss, optimizer), (flax_params, optimizer.init(flax_params)), td["observation"], td["target"]
        ),
    }
    impls.update(_torchrl(spec, params["module"], x, y))
    return impls


def _torchrl(spec: Spec, params, x: np.ndarray, y: np.ndarray) -> dict[str, Callable[[], object]]:
    try:
        import torch
        from tensordict import TensorDict as TorchTensorDict
        from tensordict.nn import TensorDictModule as TorchTDModule
        from torchrl.modules import MLP as TorchMLP
        from torchrl.modules import ConvNet as TorchConvNet
    except ImportError:
        return {}
    if spec.kind == "mlp":
        net = TorchMLP(
            in_features=spec.features[0], out_features=spec.features[-1], num_cells=list(spec.features[1:-1])
        )
        layers, names = torch.nn.Linear, "linear"
    else:
        net = TorchConvNet(
            in_features=spec.frame[-1],
            num_cells=list(CONV_CELLS),
            kernel_sizes=list(CONV_KERNELS),
            strides=list(CONV_STRIDES),
            activation_class=torch.nn.ReLU,
        )
        layers, names = torch.nn.Conv2d, "conv"
        x = x.transpose(0, 3, 1, 2)  # NHWC -> NCHW
        y = y.transpose(0, 3, 1, 2)  # TorchRL flattens (C, H, W), ours (H, W, C)
    with torch.no_grad():
        for i, layer in enumerate(m for m in net.modules() if isinstance(m, layers)):
            kernel = np.asarray(params[f"{names}_{i}"]["kernel"])
            # flax [in, out] -> torch [out, in]; flax (kh, kw, in, out) -> torch (out, in, kh, kw)
            layer.weight.copy_(torch.tensor(kernel.T if kernel.ndim == 2 else kernel.transpose(3, 2, 0, 1)))
            layer.bias.copy_(torch.tensor(np.asarray(params[f"{names}_{i}"]["bias"])))
    module = TorchTDModule(net, in_keys=["observation"], out_keys=["prediction"])
    optimizer = torch.optim.Adam(net.parameters(), lr=LR)
    td = TorchTensorDict(
        {
            "observation": torch.tensor(np.ascontiguousarray(x)),
            "target": torch.tensor(np.ascontiguousarray(y.reshape(spec.batch, -1))),
        },
        [spec.batch],
    )

    def call():
        optimizer.zero_grad(set_to_none=True)
        out = module(td)
        loss = torch.nn.functional.mse_loss(out["prediction"], out["target"])
        loss.backward()
        optimizer.step()
        return loss.detach()

    return torch_threads(call)
