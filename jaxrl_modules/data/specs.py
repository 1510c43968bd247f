"""Tensor specs: the shape, dtype and allowed values of an array, as TorchRL's ``torchrl.data`` specs.

A spec is a frozen, hashable value: its bounds and masks are NumPy arrays (read-only copies),
never JAX arrays, so a spec can be a field of a ``flax.linen.Module`` and a static argument of
``jax.jit``. Every method that takes an array (``is_in``, ``project``, ``rand``, ``zero``, the
encoding conversions) is jit-safe: shapes and dtypes are checked statically, values only with
array operations.

Shapes: ``spec.shape`` is the per-sample shape. An array ``x`` is laid out as
``(*batch, *spec.shape)``; the leading batch dims are free.

Dtypes: JAX defaults to 32 bits, so ``Categorical``, ``MultiCategorical`` and
``UnboundedDiscreteTensorSpec`` default to ``int32`` where TorchRL uses ``int64``, and any dtype is
canonicalized the way JAX does (``int64`` becomes ``int32`` unless ``jax_enable_x64`` is set), so
that a spec's dtype is the dtype of the arrays JAX actually produces.

Validation: every spec checks its sizes at construction (``n`` and every entry of ``nvec`` an
integer >= 1, every dim of a shape a non-negative integer, a ``Bounded`` spec's bounds finite,
representable in its dtype and ``low <= high``), and ``rand``, ``zero``, ``one`` and ``expand``
check their shape argument; errors name the spec and the argument.

NaN: ``project`` of a float spec keeps NaN (NaN in, NaN out; ``+-inf`` still clip to the bounds),
so a diverged actor's NaN is never laundered into a valid-looking value; ``is_in`` is False for
NaN in a ``Bounded`` spec. A discrete spec cannot hold NaN: there NaN ranks lowest, so it maps to
the lowest member (``low`` of an integer ``Bounded``, 0 for ``Binary``, index 0 for
``Categorical`` or the first allowed index under a mask, the first allowed entry of a
``OneHot`` row made of NaN; a NaN entry never wins a ``OneHot`` row that has a number).

Masked rows: a mask (True = allowed) must allow at least one entry per row (per block for the
multi specs). A spec's own mask is checked at construction; a dynamic mask passed to ``rand``,
``is_in`` or ``project`` cannot be checked under jit, and a row (or block) that allows nothing
gives index 0 of that row or block (the one-hot of entry 0), the library-wide rule; use
``jaxrl_modules.functional.any_action_allowed`` to tell such rows apart.

This module is the one place to import specs from, with TorchRL's old names as aliases. The
classes live in :mod:`jaxrl_modules.data.box_spec` (`Bounded`, `Unbounded`),
:mod:`jaxrl_modules.data.discrete_spec` (`OneHot`, `Categorical`, `Binary`, `MultiOneHot`,
`MultiCategorical`), :mod:`jaxrl_modules.data.composite_spec` (`Composite`) and
:mod:`jaxrl_modules.data.tensor_spec` (the base class `TensorSpec`).
"""

from jaxrl_modules.data.box_spec import Bounded, Unbounded, UnboundedDiscreteTensorSpec
from jaxrl_modules.data.composite_spec import Composite, CompositeSpec
from jaxrl_modules.data.discrete_spec import Binary, Categorical, MultiCategorical, MultiOneHot, OneHot
from jaxrl_modules.data.tensor_spec import TensorSpec

__all__ = [
    "TensorSpec",
    "Bounded",
    "Unbounded",
    "OneHot",
    "Categorical",
    "Binary",
    "MultiOneHot",
    "MultiCategorical",
    "Composite",
    "BoundedTensorSpec",
    "UnboundedContinuousTensorSpec",
    "UnboundedDiscreteTensorSpec",
    "OneHotDiscreteTensorSpec",
    "DiscreteTensorSpec",
    "BinaryDiscreteTensorSpec",
    "MultiOneHotDiscreteTensorSpec",
    "MultiDiscreteTensorSpec",
    "CompositeSpec",
]

# ----------------------------------------------------------------------- TorchRL's old names

BoundedTensorSpec = Bounded
UnboundedContinuousTensorSpec = Unbounded
OneHotDiscreteTensorSpec = OneHot
DiscreteTensorSpec = Categorical
BinaryDiscreteTensorSpec = Binary
MultiOneHotDiscreteTensorSpec = MultiOneHot
MultiDiscreteTensorSpec = MultiCategorical
