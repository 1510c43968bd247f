"""Probabilistic key-based modules: build a distribution from TensorDict entries and act with it.

How a module acts follows its exploration type (reference section 1.5): ``RANDOM`` samples from
the ``"sample"`` RNG stream; ``MODE``, ``MEDIAN`` and ``MEAN`` take that statistic (``MEAN`` falls
back to the average of ``n_empirical_estimate`` samples when the distribution has no closed form);
``DETERMINISTIC`` takes ``dist.deterministic_sample()``; unset (``None``) means the module's
``default_interaction_type``. The choice is static, so it is jit-safe.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jaxrl_modules import rng
from jaxrl_modules.data.tensordict import NestedKey, TensorDict, unravel_key
from jaxrl_modules.distributions import Delta
from jaxrl_modules.exploration_type import ExplorationType
from jaxrl_modules.tensordict_module.base import Keys, TensorDictModuleBase
from jaxrl_modules.tensordict_module.module import check_spec_shapes, project_outputs, register_spec
from jaxrl_modules.tensordict_module.sequence import SafeSequential

__all__ = [
    "LOG_PROB_SUFFIX",
    "SAMPLE_LOG_PROB_KEY",
    "SafeProbabilisticModule",
    "SafeProbabilisticTensorDictSequential",
    "log_prob_key",
]

LOG_PROB_SUFFIX = "_log_prob"
"""A sample's log-probability is written at its key with this suffix: ``"action_log_prob"``."""

SAMPLE_LOG_PROB_KEY = "sample_log_prob"
"""TorchRL's former aggregated log-prob key, for code that still reads it (pass it as log_prob_key)."""


def log_prob_key(sample_key: NestedKey) -> NestedKey:
    """The log-prob key of a sample key: ``"action"`` -> ``"action_log_prob"`` (suffix on the last part)."""
    path = unravel_key(sample_key)
    path = (*path[:-1], path[-1] + LOG_PROB_SUFFIX)
    return path[0] if len(path) == 1 else path


class SafeProbabilisticModule(TensorDictModuleBase):
    """Builds ``distribution_class(**params)`` from ``in_keys`` and writes a sample at ``out_keys``.

    Args:
      in_keys: the distribution's parameters: a list of keys, each passed as the keyword named
        after the key's last part (``["loc", "scale"]``), or a dict ``{keyword: key}``.
      out_keys: the sample key, default ``["_"]`` (TorchRL's base default; actors use
        ``["action"]``).
      spec: the sample's spec; ``safe=True`` projects the sample onto it (the log-prob refers to
        the unprojected sample, as in TorchRL).
      default_interaction_type: the exploration type used when none is given; DETERMINISTIC.
      distribution_class: a ``distrax.Distribution`` class (or any callable returning one);
        default :class:`~jaxrl_modules.Delta`.
      distribution_kwargs: extra constructor arguments (e.g. ``{"low": -2.0, "high": 2.0}``).
      return_log_prob: also write the sample's log-probability at ``log_prob_key``.
      log_prob_key: default ``"<sample key>_log_prob"`` (see :func:`~jaxrl_modules.tensordict_module.log_prob_key`).
      n_empirical_estimate: samples averaged for ``MEAN`` when the distribution has no mean.
      num_samples: draw this many samples (a leading dim) under ``RANDOM``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from jaxrl_modules import ExplorationType, SafeProbabilisticModule, TensorDict
      >>> from jaxrl_modules.distributions import TanhNormal
      >>> module = SafeProbabilisticModule(["loc", "scale"], ["action"], distribution_class=TanhNormal,
      ...                                  return_log_prob=True)
      >>> td = TensorDict({"loc": jnp.zeros((3, 2)), "scale": jnp.ones((3, 2))}, batch_size=[3])
      >>> out = module.apply({}, td, exploration_type=ExplorationType.RANDOM,
      ...                    rngs={"sample": jax.random.key(0)})
      >>> out["action"].shape, out["action_log_prob"].shape
      ((3, 2), (3,))
      >>> module(td)["action"]  # DETERMINISTIC by default: tanh(loc)
      Array([[0., 0.],
             [0., 0.],
             [0., 0.]], dtype=float32)
    """

    in_keys: Any
    out_keys: Any = None
    spec: Any = None
    safe: bool = False
    default_interaction_type: ExplorationType | str = ExplorationType.DETERMINISTIC
    distribution_class: Any = Delta
    distribution_kwargs: Any = None
    return_log_prob: bool = False
    log_prob_key: Any = None
    n_empirical_estimate: int = 1000
    num_samples: int | None = None
    exploration_type: ExplorationType | str | None = None

    _rng_streams = (rng.SAMPLE,)

    def __post_init__(self) -> None:
        name = type(self).__name__
        in_keys = Keys(self.in_keys, "in_keys")
        sample_keys = Keys(self.out_keys if self.out_keys is not None else ["_"], "out_keys")
        if isinstance(self.out_keys, Keys) and self.return_log_prob:  # flax's clone(): already normalized
            sample_keys = Keys([k for k in sample_keys if k != self.log_prob_key])
        if len(sample_keys) != 1:
            raise ValueError(
                f"{name}: one sample key is supported, got out_keys {list(sample_keys)} (composite "
                "distributions are not ported)."
            )
        lp_key = self.log_prob_key if self.log_prob_key is not None else log_prob_key(sample_keys[0])
        object.__setattr__(self, "in_keys", in_keys)
        object.__setattr__(self, "log_prob_key", Keys(lp_key)[0])
        object.__setattr__(
            self, "out_keys", Keys([*sample_keys, *([self.log_prob_key] if self.return_log_prob else [])])
        )
        object.__setattr__(self, "default_interaction_type", ExplorationType(self.default_interaction_type))
        object.__setattr__(self, "spec", register_spec(self.spec, sample_keys, name))
        if self.safe and all(s is None for s in self.spec.values(True, True)):
            raise ValueError(f"{name}: safe=True needs a spec to project onto.")
        super().__post_init__()

    @property
    def sample_key(self) -> NestedKey:
        return self.out_keys[0]

    def get_dist(self, td: TensorDict):
        """The distribution built from ``td``'s parameter entries (no sampling)."""
        names = self.in_keys.names or tuple(unravel_key(k)[-1] for k in self.in_keys)
        params = {name: self._read(td, key) for name, key in zip(names, self.in_keys)}
        try:
            return self.distribution_class(**params, **dict(self.distribution_kwargs or {}))
        except TypeError as err:
            dist_name = getattr(self.distribution_class, "__name__", self.distribution_class)
            raise TypeError(
                f"{type(self).__name__}: cannot build {dist_name} "
                f"from the in_keys {list(self.in_keys)} (as keywords {list(names)}): {err}"
            ) from None

    def log_prob(self, td: TensorDict) -> jax.Array:
        """The log-probability of ``td``'s sample under the distribution built from ``td``."""
        return self.get_dist(td).log_prob(self._read(td, self.sample_key))

    def forward(self, td: TensorDict, exploration_type: ExplorationType | None) -> TensorDict:
        dist = self.get_dist(td)
        etype = exploration_type or self.default_interaction_type
        log_prob = None
        if etype == ExplorationType.RANDOM:
            key = self.make_rng(rng.SAMPLE)
            shape = () if self.num_samples is None else (self.num_samples,)
            if self.return_log_prob:
                sample, log_prob = dist.sample_and_log_prob(seed=key, sample_shape=shape)
            else:
                sample = dist.sample(seed=key, sample_shape=shape)
            if self.num_samples is not None:
                td = td.apply(lambda x: jnp.broadcast_to(x, (self.num_samples, *x.shape)))
        else:
            sample = point_estimate(dist, etype, self.n_empirical_estimate, lambda: self.make_rng(rng.SAMPLE))
            if self.return_log_prob:
                log_prob = dist.log_prob(sample)
        if self.sample_key != "_":
            td = self._write(td, self.sample_key, sample)
        if log_prob is not None:
            td = self._write(td, self.log_prob_key, log_prob)
        check_spec_shapes(self.spec, td, type(self).__name__)
        return project_outputs(self.spec, td) if self.safe else td


def point_estimate(dist: Any, etype: ExplorationType, n_samples: int, make_key) -> jax.Array:
    """TorchRL's non-random interaction types (reference 1.5), chosen at trace time."""
    if etype == ExplorationType.DETERMINISTIC:
        if hasattr(dist, "deterministic_sample"):
            return dist.deterministic_sample()
        discrete = jnp.issubdtype(jnp.dtype(getattr(dist, "dtype", jnp.float32)), jnp.integer)
        return dist.mode() if discrete else dist.mean()
    if etype == ExplorationType.MODE:
        return dist.mode()
    if etype == ExplorationType.MEDIAN:
        if not hasattr(dist, "median"):
            raise NotImplementedError(f"{type(dist).__name__} has no median.")
        return dist.median()
    if etype == ExplorationType.MEAN:
        try:
            return dist.mean()
        except NotImplementedError:
            return dist.sample(seed=make_key(), sample_shape=(n_samples,)).mean(0)
    raise ValueError(f"Unknown exploration type {etype!r}.")


class SafeProbabilisticTensorDictSequential(SafeSequential):
    """Key-based modules followed by a probabilistic module (or a sequence ending in one).

    Runs every module in order; ``get_dist(td)`` runs all but the last and returns the last one's
    distribution, and ``log_prob(td)`` scores ``td``'s sample.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from jaxrl_modules import (MLP, NormalParamExtractor, SafeProbabilisticModule,
      ...     SafeProbabilisticTensorDictSequential, TensorDict, TensorDictModule)
      >>> from jaxrl_modules.distributions import IndependentNormal
      >>> policy = SafeProbabilisticTensorDictSequential(
      ...     TensorDictModule(lambda x: NormalParamExtractor()(MLP(out_features=4)(x)),
      ...                      in_keys=["observation"], out_keys=["loc", "scale"]),
      ...     SafeProbabilisticModule(["loc", "scale"], ["action"], distribution_class=IndependentNormal))
      >>> policy.in_keys, policy.out_keys
      (['observation'], ['loc', 'scale', 'action'])
    """

    def _last(self) -> tuple[int, Any]:
        for i in range(len(self.modules) - 1, -1, -1):
            if not isinstance(self.modules[i], Inactive):
                return i, self.modules[i]
        raise ValueError(f"{type(self).__name__} has no module to build a distribution with.")

    def _run_to_last(self, td: TensorDict, exploration_type: Any) -> tuple[TensorDict, Any]:
        i, last = self._last()
        if not hasattr(last, "get_dist"):
            raise TypeError(f"{type(self).__name__}: its last module {type(last).__name__} builds no distribution.")
        for module in self.modules[:i]:
            td = module(td, exploration_type=exploration_type)
        return td, last

    def get_dist(self, td: TensorDict, exploration_type: ExplorationType | str | None = None):
        """Runs every module but the last, then returns the last module's distribution."""
        td, last = self._run_to_last(td, exploration_type)
        return last.get_dist(td)

    def log_prob(self, td: TensorDict) -> jax.Array:
        """The log-probability of ``td``'s sample under the distribution ``td`` leads to."""
        td, last = self._run_to_last(td, None)
        return last.log_prob(td)

    @property
    def sample_key(self) -> NestedKey:
        return self._last()[1].sample_key

    @property
    def default_interaction_type(self) -> ExplorationType:
        return self._last()[1].default_interaction_type


class Inactive(TensorDictModuleBase):
    """A placeholder that keeps a module's position (and so its parameters' path) without running it.

    Operators' ``get_policy_operator()`` and similar views put it where the parent operator has a
    module the view does not run, so the view applies with the parent's very variables.
    """

    module: TensorDictModuleBase

    @property
    def in_keys(self) -> Keys:
        return Keys([])

    @property
    def out_keys(self) -> Keys:
        return Keys([])

    def forward(self, td: TensorDict, exploration_type: ExplorationType | None) -> TensorDict:
        return td
