"""`GymnaxEnv`: a gymnax environment behind TorchRL's environment interface, on TensorDicts.

Everything an environment remembers travels in the TensorDict, so every method is a pure function
that compiles under ``jit`` and loops under ``lax.scan``:

* ``"_env_state"``: gymnax's state pytree, one entry per leaf (a nested TensorDict);
* ``"_rng"``: one PRNG key per environment, split at each step and reset.

``step`` writes the transition under ``"next"``; `step_mdp` moves it to the root, state included.
Several environments (``batch_size=(n,)``) are gymnax's single-environment functions under
``jax.vmap``. gymnax 1.x's own ``step`` resets done environments at once; here, as in TorchRL,
``step`` never resets and ``maybe_reset`` / ``step_and_maybe_reset`` do, so that
``("next", "observation")`` is the final observation of an episode and the root observation of
the following step is the first of the next episode (gymnax's ``info["final_observation"]``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnax
import jax
import jax.numpy as jnp
from gymnax.environments.environment import Environment

from jaxrl_modules.data.specs import Binary, Composite, OneHot, TensorSpec, Unbounded
from jaxrl_modules.data.tensor_spec import _as_shape
from jaxrl_modules.data.tensordict import TensorDict
from jaxrl_modules.envs.specs import spec_from_space
from jaxrl_modules.envs.step_mdp import step_mdp
from jaxrl_modules.rng import EXPLORATION, RNG_STREAMS

__all__ = ["GymnaxEnv"]

_DONE_KEYS = ("done", "terminated", "truncated")


def _vmap(fn: Callable, n: int) -> Callable:
    for _ in range(n):
        fn = jax.vmap(fn)
    return fn


def _strong(tree: Any) -> Any:
    # gymnax's reset has weakly typed leaves (``time=0``) that its step makes strong; a scan carry
    # must keep one type, so every leaf is made strong once, here.
    return jax.tree.map(lambda x: jnp.asarray(x, jnp.result_type(x)), tree)


class GymnaxEnv:
    """A gymnax environment with TorchRL's ``EnvBase`` interface: ``reset``, ``step``, ``rollout``.

    Args:
      env_or_name: a registered gymnax name (``"CartPole-v1"``) or a gymnax ``Environment``.
      params: the environment's parameters (default: its ``default_params``).
      batch_size: the batch of environments, e.g. ``(64,)``; each is stepped by ``jax.vmap``.
      categorical_action_encoding: discrete actions are integer indices (`Categorical`, shape
        ``[*B]``) if True, one-hot (`OneHot`, ``[*B, n]``) if False, TorchRL's default.
      **env_kwargs: passed to ``gymnax.make`` with a name.

    Specs describe one environment (no batch dims, unlike TorchRL's): ``action_spec`` (a leaf
    spec, as policies and exploration modules take it), ``observation_spec``
    (``Composite(observation=...)``), ``reward_spec`` (``Unbounded(1)``), ``done_spec``
    (``Composite`` of ``done``, ``terminated``, ``truncated``, each ``Binary(1, dtype=bool)``).

    Keys, with ``B = batch_size``: ``observation`` ``[*B, *obs]``; ``action``;
    ``("next", "reward")`` ``[*B, 1]`` float32; ``done``, ``terminated``, ``truncated``,
    ``is_init`` ``[*B, 1]`` bool (``is_init``: TorchRL's ``InitTracker``, True on the first step of
    an episode); ``_env_state``, ``_rng``.

    Actions are checked against ``action_spec``: shape at trace time, values eagerly (any dtype
    that holds members of the spec exactly, e.g. QValueModule's int32 one-hot; a ``ValueError``
    shows the values). Under ``jit`` values cannot raise;
    they are projected onto the spec (indices clipped to ``[0, n - 1]``, one-hot rows to their
    first maximum, boxes clipped) before gymnax sees them.

    Examples:
      >>> import jax
      >>> from jaxrl_modules.envs import GymnaxEnv, step_mdp
      >>> env = GymnaxEnv("CartPole-v1", batch_size=(4,))
      >>> env.action_spec
      OneHot(n=2, shape=(2,), dtype=bool, domain=discrete)
      >>> td = env.reset(jax.random.key(0))
      >>> td = env.step(td.set("action", env.action_spec.rand(jax.random.key(1), (4,))))
      >>> td["next", "observation"].shape, td["next", "reward"].shape, td["next", "terminated"].dtype
      ((4, 4), (4, 1), dtype('bool'))
      >>> step_mdp(td)["observation"].shape
      (4, 4)
    """

    def __init__(
        self,
        env_or_name: Any,
        params: Any = None,
        batch_size: Any = (),
        categorical_action_encoding: bool = False,
        **env_kwargs: Any,
    ):
        if isinstance(env_or_name, str):
            if env_or_name not in gymnax.registered_envs:
                raise ValueError(
                    f"GymnaxEnv: unknown environment {env_or_name!r}; the registered gymnax "
                    f"environments are {sorted(gymnax.registered_envs)}."
                )
            env, default_params = gymnax.make(env_or_name, **env_kwargs)
            self.name = env_or_name
        elif isinstance(env_or_name, Environment):
            # gymnax wrappers (LogWrapper, ...) are not Environments: their step would be bypassed.
            env, default_params, self.name = env_or_name, env_or_name.default_params, type(env_or_name).__name__
        else:
            raise TypeError(
                f"GymnaxEnv: env_or_name must be a gymnax environment name or a "
                f"gymnax.environments.environment.Environment, got {type(env_or_name).__name__}."
            )
        self.env = env
        self.params = default_params if params is None else params
        self.batch_size = _as_shape(batch_size)
        self.categorical_action_encoding = bool(categorical_action_encoding)
        obs_space = env.observation_space(self.params)
        if type(obs_space).__name__ != "Box":
            raise TypeError(
                f"GymnaxEnv ({self.name}): only array observations (a Box space) are supported, got {obs_space!r}."
            )
        self.action_spec: TensorSpec = spec_from_space(env.action_space(self.params), categorical_action_encoding)
        self.observation_spec = Composite(observation=spec_from_space(obs_space))
        self.reward_spec = Unbounded(shape=(1,), dtype=jnp.float32)
        self.done_spec = Composite({k: Binary(1, dtype=bool) for k in _DONE_KEYS})
        # The state's tree structure, with names for its leaves as TensorDict keys.
        _, state = jax.eval_shape(env.reset_env, jax.random.key(0), self.params)
        paths, self._state_treedef = jax.tree_util.tree_flatten_with_path(state)
        self._state_names = tuple(
            "_".join(str(getattr(p, "name", getattr(p, "key", getattr(p, "idx", p)))) for p in path) or "state"
            for path, _ in paths
        )

    def __repr__(self) -> str:
        return f"GymnaxEnv({self.name!r}, batch_size={self.batch_size})"

    # ------------------------------------------------------------------------ state <-> entries
    def _state_td(self, state: Any) -> TensorDict:
        leaves = jax.tree_util.tree_leaves(state)
        return TensorDict._from_checked(dict(zip(self._state_names, leaves)), self.batch_size)

    def _state(self, td: TensorDict) -> Any:
        try:
            entries = td["_env_state"]
            leaves = [entries[n] for n in self._state_names]
        except KeyError:
            raise KeyError(
                f"GymnaxEnv ({self.name}): the TensorDict holds no environment state "
                f"('_env_state' with entries {list(self._state_names)}); it must come from "
                f"env.reset or step_mdp(env.step(...)). Keys: {td.keys(include_nested=True)}."
            ) from None
        return jax.tree_util.tree_unflatten(self._state_treedef, leaves)

    def _flags(self, value: bool) -> jax.Array:
        return jnp.full((*self.batch_size, 1), value)

    # ---------------------------------------------------------------------------- reset / step
    def reset(self, key: jax.Array) -> TensorDict:
        """Starts every environment: a TensorDict with the first observation.

        Args:
          key: a PRNG key; each environment gets its own key split from it.

        Returns:
          A TensorDict of batch size ``batch_size`` with ``observation``, ``done``,
          ``terminated``, ``truncated`` (False), ``is_init`` (True), ``_env_state``, ``_rng``.

        Examples:
          >>> import jax
          >>> from jaxrl_modules.envs import GymnaxEnv
          >>> td = GymnaxEnv("CartPole-v1", batch_size=(3,)).reset(jax.random.key(0))
          >>> td["observation"].shape, td["is_init"].tolist()
          ((3, 4), [[True], [True], [True]])
        """
        keys = jax.random.split(key, self.batch_size) if self.batch_size else key

        def one(rng):
            rng, sub = jax.random.split(rng)
            obs, state = self.env.reset_env(sub, self.params)
            return rng, obs, _strong(state)

        rng, obs, state = _vmap(one, len(self.batch_size))(keys)
        entries = {
            "observation": self._observation(obs),
            "is_init": self._flags(True),
            "_env_state": self._state_td(state),
            "_rng": rng,
        }
        entries.update({k: self._flags(False) for k in _DONE_KEYS})
        return TensorDict._from_checked(entries, self.batch_size)

    def step(self, tensordict: TensorDict) -> TensorDict:
        """One transition of every environment: TorchRL's ``env.step(td)`` (no reset).

        Args:
          tensordict: the root TensorDict (from ``reset`` or ``step_mdp``) with an ``action``
            ``[*B, *action_spec.shape]``.

        Returns:
          The input with ``"next"`` entries: ``observation``, ``reward`` ``[*B, 1]``, ``done``,
          ``terminated``, ``truncated``, ``is_init`` (False) ``[*B, 1]``, and the new
          ``_env_state`` and ``_rng``. An environment that is done keeps stepping from its final
          state until it is reset (``maybe_reset``).

        Raises:
          KeyError: no ``action`` or no environment state.
          ValueError: an action of the wrong shape, or (outside jit) values outside ``action_spec``.

        Examples:
          >>> import jax, jax.numpy as jnp
          >>> from jaxrl_modules.envs import GymnaxEnv
          >>> env = GymnaxEnv("CartPole-v1", categorical_action_encoding=True)
          >>> td = env.reset(jax.random.key(0)).set("action", jnp.asarray(1, jnp.int32))
          >>> out = env.step(td)
          >>> out["next", "reward"].tolist(), out["next", "truncated"].tolist()
          ([1.0], [False])
        """
        action = self._action(tensordict)

        def one(rng, state, action):
            rng, sub = jax.random.split(rng)
            obs, state, reward, terminated, _ = self.env.step_env(sub, state, action, self.params)
            truncated = self.env.is_truncated(state, self.params)
            return rng, obs, _strong(state), reward, terminated, truncated

        rng, obs, state, reward, terminated, truncated = _vmap(one, len(self.batch_size))(
            tensordict["_rng"], self._state(tensordict), action
        )
        return tensordict.set("next", self._next(rng, obs, state, reward, terminated, truncated))

    def _next(self, rng, obs, state, reward, terminated, truncated) -> TensorDict:
        """The ``"next"`` entries of a transition of every environment."""
        flag = lambda x: jnp.reshape(x, (*self.batch_size, 1)).astype(bool)  # noqa: E731
        terminated, truncated = flag(terminated), flag(truncated)
        nxt = {
            "observation": self._observation(obs),
            "reward": jnp.reshape(reward, (*self.batch_size, 1)).astype(jnp.float32),
            "done": terminated | truncated,
            "terminated": terminated,
            "truncated": truncated,
            "is_init": self._flags(False),
            "_env_state": self._state_td(state),
            "_rng": rng,
        }
        return TensorDict._from_checked(nxt, self.batch_size)

    def model_step(self, state: TensorDict, action: jax.Array) -> tuple[TensorDict, jax.Array, jax.Array]:
        """One environment's transition as a pure model, for planners: the true dynamics.

        Args:
          state: one environment's ``"_env_state"`` entries (batch size ``()``; vmap for more).
          action: ``[*action_spec.shape]``, projected onto the spec.

        Returns:
          ``(next_state, reward, done)``: the next ``"_env_state"`` entries, the reward (float32
          scalar) and ``terminated | truncated`` (bool scalar). gymnax's step key is fixed, so a
          stochastic environment is planned over one realisation of its noise; deterministic ones
          (Pendulum, CartPole, ...) ignore it.

        Examples:
          >>> import jax, jax.numpy as jnp
          >>> from jaxrl_modules.envs import GymnaxEnv
          >>> env = GymnaxEnv("Pendulum-v1")
          >>> state = env.reset(jax.random.key(0))["_env_state"]
          >>> next_state, reward, done = env.model_step(state, jnp.array([2.0]))
          >>> reward.dtype, done.dtype
          (dtype('float32'), dtype('bool'))
        """
        leaves = [state[n] for n in self._state_names]
        gymnax_state = jax.tree_util.tree_unflatten(self._state_treedef, leaves)
        action = self.action_spec.project(jnp.asarray(action))
        if isinstance(self.action_spec, OneHot):
            action = jnp.argmax(action, axis=-1).astype(jnp.int32)
        _, gymnax_state, reward, terminated, _ = self.env.step_env(jax.random.key(0), gymnax_state, action, self.params)
        done = jnp.logical_or(terminated, self.env.is_truncated(gymnax_state, self.params))
        next_state = TensorDict._from_checked(
            dict(zip(self._state_names, jax.tree_util.tree_leaves(_strong(gymnax_state)))), ()
        )
        return next_state, jnp.asarray(reward, jnp.float32), jnp.asarray(done, bool)

    def maybe_reset(self, tensordict: TensorDict) -> TensorDict:
        """Resets the environments whose root ``done`` is True: TorchRL's ``env.maybe_reset``.

        Args:
          tensordict: a root TensorDict (``step_mdp(env.step(td))``).

        Returns:
          The input where ``done`` was True: a first observation and state, ``is_init`` True and
          the done flags False; unchanged elsewhere.

        Examples:
          >>> import jax, jax.numpy as jnp
          >>> from jaxrl_modules.envs import GymnaxEnv
          >>> env = GymnaxEnv("CartPole-v1", batch_size=(2,))
          >>> td = env.reset(jax.random.key(0)).set("is_init", jnp.zeros((2, 1), bool))
          >>> td = td.set("done", jnp.array([[True], [False]]))
          >>> env.maybe_reset(td)["is_init"].tolist()
          [[True], [False]]
        """
        done = tensordict["done"]

        def one(rng, state, obs, done):
            rng, sub = jax.random.split(rng)
            obs_re, state_re = self.env.reset_env(sub, self.params)
            pick = lambda a, b: jnp.where(done, a, b)  # noqa: E731  (done: a scalar per env)
            return rng, pick(obs_re.astype(obs.dtype), obs), jax.tree.map(pick, _strong(state_re), state)

        rng, obs, state = _vmap(one, len(self.batch_size))(
            tensordict["_rng"], self._state(tensordict), tensordict["observation"], jnp.reshape(done, self.batch_size)
        )
        entries = {
            "observation": obs,
            "_env_state": self._state_td(state),
            "_rng": rng,
            "is_init": done | tensordict.get("is_init", self._flags(False)),
        }
        entries.update({k: tensordict.get(k, done) & ~done for k in _DONE_KEYS})
        return tensordict.update(entries)

    def step_and_maybe_reset(self, tensordict: TensorDict) -> tuple[TensorDict, TensorDict]:
        """``step``, then the root of the next step with the done environments reset.

        The transition under ``"next"`` equals ``step(td)``'s; the resets come from a key split
        beside the step's, so the new episodes' first states differ from those of
        ``maybe_reset(step_mdp(step(td)))``, which splits again (one pass instead of two).

        Returns:
          ``(td, td_root)``: TorchRL's pair. ``td["next", "observation"]`` is the final
          observation where an episode ended; ``td_root["observation"]`` the first of the next.

        Examples:
          >>> import jax
          >>> from jaxrl_modules.envs import GymnaxEnv
          >>> env = GymnaxEnv("CartPole-v1", batch_size=(2,))
          >>> td = env.reset(jax.random.key(0))
          >>> td, root = env.step_and_maybe_reset(td.set("action", env.action_spec.encode([0, 1])))
          >>> sorted(set(td.keys()) - set(root.keys()))
          ['action', 'next']
        """
        # One pass per environment, as gymnax's auto-resetting step: the reset is drawn beside
        # the step instead of in a second vmapped call. ``split(rng, 3)[:2] == split(rng)``
        # (partitionable Threefry), so the transition under "next" is exactly ``step``'s.
        action = self._action(tensordict)

        def one(rng, state, action):
            rng, sub, key_reset = jax.random.split(rng, 3)
            obs, state, reward, terminated, _ = self.env.step_env(sub, state, action, self.params)
            truncated = self.env.is_truncated(state, self.params)
            obs_re, state_re = self.env.reset_env(key_reset, self.params)
            done = jnp.logical_or(terminated, truncated)
            pick = lambda a, b: jnp.where(done, a, b)  # noqa: E731  (done: a scalar per env)
            root = (pick(obs_re.astype(obs.dtype), obs), jax.tree.map(pick, _strong(state_re), _strong(state)))
            return rng, obs, _strong(state), reward, terminated, truncated, root

        rng, obs, state, reward, terminated, truncated, (root_obs, root_state) = _vmap(one, len(self.batch_size))(
            tensordict["_rng"], self._state(tensordict), action
        )
        tensordict = tensordict.set("next", self._next(rng, obs, state, reward, terminated, truncated))
        root = step_mdp(tensordict)
        done = root["done"]
        entries = {
            "observation": self._observation(root_obs),
            "_env_state": self._state_td(root_state),
            "is_init": done,
        }
        entries.update({k: root[k] & ~done for k in _DONE_KEYS})
        return tensordict, root.update(entries)

    # ----------------------------------------------------------------------------- rollout
    def rollout(
        self,
        max_steps: int,
        policy: Any = None,
        *,
        key: jax.Array,
        tensordict: TensorDict | None = None,
        variables: Any = None,
        auto_reset: bool = True,
        break_when_any_done: bool = False,
    ) -> TensorDict:
        """``max_steps`` steps of every environment under ``policy``, as one ``lax.scan``.

        Done environments are reset inside the scan (TorchRL's ``break_when_any_done=False``):
        the step after a reset has ``is_init`` True, and the episode's final observation stays in
        ``("next", "observation")``.

        Args:
          max_steps: the number of steps ``T`` (static).
          policy: ``None`` (uniform random actions from ``action_spec``, as TorchRL), a callable
            ``policy(td, key) -> td`` writing ``action``, or a flax module applied as
            ``policy.apply(variables, td, rngs=...)`` with one key per RNG stream of
            :mod:`jaxrl_modules.rng`.
          key: a PRNG key for the reset and the policy's randomness (one key per step).
          tensordict: the root to start from when ``auto_reset=False`` (e.g. a former rollout's
            ``env.maybe_reset(step_mdp(out[..., -1]))``).
          variables: the flax module's variables.
          auto_reset: start with ``reset(key)`` (TorchRL's meaning).
          break_when_any_done: must be False: a scan has a fixed length.

        Returns:
          A TensorDict of batch size ``(*batch_size, T)`` (time last, as TorchRL's), each step
          holding the root entries, the policy's outputs and ``"next"``.

        Examples:
          >>> import jax
          >>> from jaxrl_modules import EGreedyModule, MLP, QValueActor
          >>> from jaxrl_modules.envs import GymnaxEnv
          >>> env = GymnaxEnv("CartPole-v1", batch_size=(8,))
          >>> out = jax.jit(lambda k: env.rollout(30, key=k))(jax.random.key(0))
          >>> out.batch_size, out["next", "reward"].shape
          ((8, 30), (8, 30, 1))
          >>> actor = QValueActor(MLP(out_features=2, num_cells=[16]), spec=env.action_spec)
          >>> variables = actor.init(jax.random.key(1), env.reset(jax.random.key(0)))
          >>> out = env.rollout(5, lambda td, k: actor.apply(variables, td), key=jax.random.key(2))
          >>> out["action_value"].shape
          (8, 5, 2)
        """
        if break_when_any_done:
            raise ValueError(
                f"GymnaxEnv.rollout ({self.name}): break_when_any_done=True is not supported: a "
                "lax.scan has a fixed length. Done environments are reset inside the rollout "
                "(break_when_any_done=False); read ('next', 'done') to find the episodes' ends."
            )
        act = self._policy_fn(policy, variables)
        key_reset, key_steps = jax.random.split(key)
        if auto_reset:
            if tensordict is not None:
                raise ValueError(f"GymnaxEnv.rollout ({self.name}): pass auto_reset=False to start from a tensordict.")
            tensordict = self.reset(key_reset)
        elif tensordict is None:
            raise ValueError(f"GymnaxEnv.rollout ({self.name}): auto_reset=False needs a tensordict.")

        def one_step(root, key):
            td = act(root, key)
            if not isinstance(td, TensorDict) or "action" not in td:
                written = td.keys(include_nested=True) if isinstance(td, TensorDict) else type(td).__name__
                raise KeyError(
                    f"GymnaxEnv.rollout ({self.name}): the policy did not write the action "
                    f"key 'action'; it returned {written}."
                )
            return self.step_and_maybe_reset(td)

        # The carry holds every root entry the loop produces (e.g. a policy's recurrent state that
        # step_mdp moved to the root); those missing at the start are zeros, as TorchRL's primers.
        shapes = jax.eval_shape(lambda r, k: one_step(r, k)[1], tensordict, key_steps)
        carry = tensordict
        for k, s in shapes.items(include_nested=True, leaves_only=True):
            if k not in carry:
                carry = carry.set(k, jnp.zeros(s.shape, s.dtype))

        def body(root, key):
            td, root = one_step(root, key)
            return root, td

        _, out = jax.lax.scan(body, carry, jax.random.split(key_steps, max_steps))
        time_dim = len(self.batch_size)
        return out.apply(lambda x: jnp.moveaxis(x, 0, time_dim))

    def _policy_fn(self, policy: Any, variables: Any) -> Callable[[TensorDict, jax.Array], TensorDict]:
        from jaxrl_modules.tensordict_module.exploration import RandomPolicy

        if policy is None:
            random = RandomPolicy(self.action_spec)
            return lambda td, key: random.apply({}, td, rngs={EXPLORATION: key})
        if hasattr(policy, "apply") and hasattr(policy, "init"):  # a flax module
            if variables is None:
                raise ValueError(
                    f"GymnaxEnv.rollout ({self.name}): a flax module policy needs its "
                    "variables (rollout(..., variables=variables))."
                )

            def apply(td, key):
                rngs = dict(zip(RNG_STREAMS, jax.random.split(key, len(RNG_STREAMS))))
                return policy.apply(variables, td, rngs=rngs)

            return apply
        if not callable(policy):
            raise TypeError(
                f"GymnaxEnv.rollout ({self.name}): policy must be None, a callable "
                f"policy(td, key) -> td or a flax module, got {type(policy).__name__}."
            )
        return policy

    # ------------------------------------------------------------------------------ helpers
    def _observation(self, obs: jax.Array) -> jax.Array:
        dtype = self.observation_spec["observation"].dtype
        return obs if obs.dtype == dtype else obs.astype(dtype)

    def _action(self, td: TensorDict) -> jax.Array:
        """The action as gymnax takes it, after the static and (eager) value checks."""
        spec = self.action_spec
        try:
            action = jnp.asarray(td["action"])
        except KeyError:
            raise KeyError(
                f"GymnaxEnv.step ({self.name}): no 'action' in the TensorDict; keys: {td.keys(include_nested=True)}."
            ) from None
        expected = (*self.batch_size, *spec.shape)
        if action.shape != expected:
            raise ValueError(
                f"GymnaxEnv.step ({self.name}): 'action' has shape {action.shape}, expected "
                f"{expected} (batch_size {self.batch_size} + action_spec.shape {spec.shape})."
            )
        # Values are checked, not dtypes: QValueModule's one-hot actions are int32 (TorchRL's are
        # int64) where OneHot's dtype is bool; a cast that keeps every value is accepted.
        if not isinstance(action, jax.core.Tracer) and not (
            bool(spec.is_in(action.astype(spec.dtype)))
            and bool(jnp.all(action.astype(spec.dtype).astype(action.dtype) == action))
        ):
            raise ValueError(
                f"GymnaxEnv.step ({self.name}): 'action' is outside the action spec {spec!r}: got "
                f"dtype {action.dtype} and values {jax.device_get(action).tolist()!r}."
            )
        action = spec.project(action)
        return jnp.argmax(action, axis=-1).astype(jnp.int32) if isinstance(spec, OneHot) else action
