"""Scaling across devices and hosts: a sharded vectorised rollout and a data-parallel DQN update.

JAX is the distributed engine; nothing here is a framework of its own. A `TensorDict` is a pytree,
so a `NamedSharding` with ``PartitionSpec("data")`` shards every entry along its first batch
dimension, ``jax.jit`` compiles one program for the whole mesh, and ``jax.shard_map`` runs a
per-device function on each device's shard, with the TensorDict's batch shape read off the local
shards. This script shows, on a 1-D device mesh with axis ``"data"``:

1. a vectorised CartPole rollout (`GymnaxEnv` + `QValueActor` + `EGreedyModule`) with the
   environments sharded over the mesh: equal to the single-device rollout, bit for bit, and
   compiled with no cross-device communication;
2. a DQN update (TD loss, optax Adam) on the rollout's transitions, sharded along the batch with
   the parameters replicated, written twice: ``jit`` with shardings (the compiler inserts the
   all-reduce of the gradients) and ``shard_map`` (an explicit ``pmean`` of the gradients); both
   equal the single-device update up to float32 summation order.

Run it on whatever devices JAX sees (one CPU is fine: the mesh then has one device), simulate
several devices on the host CPU, or several hosts as processes on one machine::

    python examples/sharding.py                     # all visible devices (GPUs, TPUs, or 1 CPU)
    python examples/sharding.py --host-devices 8    # 8 simulated CPU devices
    for i in 0 1; do                                # 2 processes x 4 CPU devices = 8 devices
      python examples/sharding.py --host-devices 4 --num-processes 2 --process-id $i \
          --coordinator localhost:12355 --num-envs 64 &
    done; wait

``--host-devices N`` sets ``XLA_FLAGS=--xla_force_host_platform_device_count=N`` (and
``JAX_PLATFORMS=cpu`` unless already set) before jax is imported. With ``--num-processes`` each
process calls ``jax.distributed.initialize`` before jax starts (CPU collectives through gloo),
then all run the same program, and each compares the shards it holds with a single-device run of
its own. Both flags act before jax starts, so they only take effect when this file is run as a
script.
"""

from __future__ import annotations

import argparse
import os
import re
import sys


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--host-devices",
        type=int,
        default=None,
        help="simulate N devices on the host CPU per process (sets XLA_FLAGS before importing jax)",
    )
    p.add_argument("--num-envs", type=int, default=64, help="environments, a multiple of the device count")
    p.add_argument("--steps", type=int, default=32, help="rollout length T")
    p.add_argument("--updates", type=int, default=3, help="DQN updates on the rollout's transitions")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--num-processes", type=int, default=1, help="processes (hosts) taking part")
    p.add_argument("--process-id", type=int, default=None, help="this process's index, 0 .. num-processes - 1")
    p.add_argument("--coordinator", default=None, help="host:port of process 0, for jax.distributed.initialize")
    return p


def _check_args(args: argparse.Namespace) -> None:
    for name in ("steps", "updates", "num_processes", "host_devices"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {value}.")
    if args.num_processes > 1 and (
        args.coordinator is None or args.process_id is None or not 0 <= args.process_id < args.num_processes
    ):
        raise ValueError(
            f"--num-processes {args.num_processes} needs --coordinator host:port and a --process-id in "
            f"[0, {args.num_processes - 1}], got coordinator={args.coordinator!r}, process_id={args.process_id!r}."
        )


if __name__ == "__main__":
    # Before jax starts (gymnax, imported below, already computes): fix the device count, and
    # join the other processes.
    _args = _parser().parse_known_args()[0]
    _check_args(_args)
    if _args.host_devices is not None:
        os.environ["XLA_FLAGS"] = (
            f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={_args.host_devices}"
        ).strip()
        os.environ.setdefault("JAX_PLATFORMS", "cpu")
    if _args.num_processes > 1:
        import jax

        # Collectives between CPU devices of several processes (GPUs and TPUs have their own).
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(_args.coordinator, num_processes=_args.num_processes, process_id=_args.process_id)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from jax.sharding import AxisType, NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

from jaxrl_modules import MLP, EGreedyModule, QValueActor, TensorDict  # noqa: E402
from jaxrl_modules.envs import GymnaxEnv  # noqa: E402

AXIS = "data"
GAMMA = 0.99
COLLECTIVES = r"all-gather|all-reduce|all-to-all|collective-permute|reduce-scatter"
# The keys a DQN update reads: one transition per batch element.
TRANSITION_KEYS = ("observation", "action", ("next", "observation"), ("next", "reward"), ("next", "terminated"))


def make_mesh(devices=None) -> jax.sharding.Mesh:
    """A 1-D mesh over ``devices`` (default: all) with axis ``"data"``.

    ``AxisType.Auto`` (the compiler propagates shardings, GSPMD) rather than ``jax.make_mesh``'s
    default ``Explicit``, where shardings are part of array types: there every input of a
    ``shard_map`` must already carry the sharding its ``in_specs`` names, and `GymnaxEnv.step`
    fails on an unsharded random action beside sharded environment state.
    """
    devices = jax.devices() if devices is None else list(devices)
    return jax.make_mesh((len(devices),), (AXIS,), axis_types=(AxisType.Auto,), devices=devices)


def make_agent(env: GymnaxEnv, hidden: int = 64):
    """The Q-network (`QValueActor` over an `MLP`) and its e-greedy exploration module."""
    actor = QValueActor(MLP(out_features=env.action_spec.n, num_cells=[hidden, hidden]), spec=env.action_spec)
    egreedy = EGreedyModule(env.action_spec, eps_init=0.5, eps_end=0.05, annealing_num_steps=10_000)
    return actor, egreedy


def make_rollout(env: GymnaxEnv, actor: QValueActor, egreedy: EGreedyModule, steps: int):
    """``rollout(variables, td, key) -> TensorDict [*B, T]``: e-greedy CartPole from root ``td``.

    Nothing in it names a device: sharding the root ``td`` along its batch shards the whole
    rollout, because each environment's state and PRNG key travel in ``td`` (``"_env_state"``,
    ``"_rng"``) and JAX's partitionable threefry (``jax_threefry_partitionable``, on by default)
    draws the same numbers for the e-greedy coins whatever the sharding.
    """

    def policy(variables, td, key):
        td = actor.apply(variables["actor"], td)
        return egreedy.apply(variables["egreedy"], td, rngs={"exploration": key})

    def rollout(variables, td, key):
        return env.rollout(steps, lambda t, k: policy(variables, t, k), key=key, tensordict=td, auto_reset=False)

    return rollout


def dqn_loss(actor: QValueActor, params, target_params, batch: TensorDict) -> jax.Array:
    """Mean Huber TD error of a batch ``[N]`` of transitions (Mnih et al., 2015)."""
    q = actor.apply({"params": params}, batch)["action_value"]  # [N, A]
    q_taken = jnp.take_along_axis(q, batch["action"][..., None], axis=-1)[..., 0]  # [N]
    q_next = actor.apply({"params": target_params}, batch["next"])["action_value"].max(-1)
    not_terminal = 1.0 - batch["next", "terminated"][..., 0].astype(jnp.float32)
    target = batch["next", "reward"][..., 0] + GAMMA * not_terminal * q_next
    return optax.huber_loss(q_taken - jax.lax.stop_gradient(target)).mean()


def make_train_step(actor: QValueActor, optimizer: optax.GradientTransformation):
    """``train_step(state, batch) -> (state, metrics)``: one Adam step on the TD loss.

    ``state`` is ``(params, target_params, opt_state)``; ``metrics`` holds the scalars ``"loss"``
    and ``"grad_norm"`` (Adam's update is nearly invariant to the gradients' scale, so comparing
    the parameters alone would not catch a gradient summed instead of averaged over devices; the
    norm and Adam's moments do).

    Written for one device. The same function, jitted with the batch sharded and the state
    replicated, is the data-parallel step: the gradient is a mean over the whole batch, so XLA
    computes per-device partial sums and all-reduces them.
    """

    def train_step(state, batch):
        params, target_params, opt_state = state
        loss, grads = jax.value_and_grad(dqn_loss, argnums=1)(actor, params, target_params, batch)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        state = (optax.apply_updates(params, updates), target_params, opt_state)
        return state, {"loss": loss, "grad_norm": optax.tree.norm(grads)}

    return train_step


def make_shard_map_train_step(actor: QValueActor, optimizer: optax.GradientTransformation, mesh):
    """The data-parallel step with explicit collectives: ``jax.shard_map`` over ``mesh``'s ``"data"``.

    Each device computes the loss and gradients of its own shard of the batch, then
    ``lax.pmean`` averages them (equal shards, so the mean of means is the global mean) and every
    device applies the same Adam update to its replica of the parameters.

    The ``pcast(..., to="varying")`` matters: under ``shard_map``'s default ``check_vma=True``,
    the gradient with respect to a replicated (device-invariant) input is *summed* over the axis
    automatically, so a ``pmean`` on top would leave it ``n_devices`` times too large. Marking the
    parameters as varying keeps each device's gradient local until the explicit ``pmean``.
    (The other idiom: ``pmean`` the loss and differentiate that, with no collective on the
    gradients.)
    """

    def local_step(state, batch):
        params, target_params, opt_state = state
        local = jax.lax.pcast(params, AXIS, to="varying")
        loss, grads = jax.value_and_grad(dqn_loss, argnums=1)(actor, local, target_params, batch)
        grads, loss = jax.lax.pmean((grads, loss), AXIS)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        state = (optax.apply_updates(params, updates), target_params, opt_state)
        return state, {"loss": loss, "grad_norm": optax.tree.norm(grads)}

    # A PartitionSpec is a pytree prefix: P(AXIS) shards every entry of the batch TensorDict
    # along its first dimension, P() replicates the whole state.
    return jax.jit(jax.shard_map(local_step, mesh=mesh, in_specs=(P(), P(AXIS)), out_specs=(P(), P())))


def _scan_updates(step, num_updates: int):
    """``run(state, rollout)``: ``num_updates`` applications of ``step`` to the rollout's
    transitions ``[B, T]`` flattened to ``[B * T]``, as one ``lax.scan``.

    A batch sharded along ``B`` stays sharded along ``B * T`` (each device's rows are one
    contiguous block), and under ``shard_map`` each device flattens its own block.
    """

    def run(state, rollout):
        batch = rollout.reshape(-1)
        return jax.lax.scan(lambda s, _: step(s, batch), state, None, length=num_updates)

    return run


NET_OUTPUTS = ("action_value", "chosen_action_value")  # the rollout's entries a matmul computes


def shards_equal(sharded, local, rtol: float = 0.0) -> bool:
    """Whether each shard of ``sharded`` this process holds equals, bit for bit, the same slice
    of ``local`` (the same pytree on one device). On one host that is the whole tree; on
    several, each process checks its own shards. PRNG keys are compared by their raw data.
    With ``rtol > 0``, values may differ by ``rtol`` times the largest magnitude of their leaf."""
    raw = lambda x: jax.random.key_data(x) if jnp.issubdtype(x.dtype, jax.dtypes.prng_key) else x  # noqa: E731
    if jax.tree.structure(sharded) != jax.tree.structure(local):
        return False
    for x, y in zip(jax.tree.leaves(sharded), jax.tree.leaves(local)):
        y = np.asarray(raw(y))  # a key's raw data has one more, trailing, dimension
        if x.shape != y.shape[: x.ndim]:
            return False
        atol = rtol * float(np.max(np.abs(y), initial=0.0)) if rtol else 0.0
        for s in x.addressable_shards:
            a, b = np.asarray(raw(s.data)), y[s.index]
            if not (np.allclose(a, b, rtol=0, atol=atol) if rtol else np.array_equal(a, b)):
                return False
    return True


def main(argv: list[str] | None = None) -> dict:
    """Runs the comparisons and prints them; returns the results (used by the tests).

    Args:
      argv: the command line's arguments (``--help`` lists them); ``None`` reads ``sys.argv``.

    Returns:
      A dict with the two rollouts (``rollout``: sharded, ``rollout_single``: on one device),
      ``rollout_equal`` (`shards_equal` of the two), the collectives in the compiled programs of
      the sharded rollout and the jitted update (``rollout_collectives``,
      ``update_collectives``: lists of HLO op names), the mesh (``mesh``), the batch sharding
      (``data_sharding``) and, for each of the three updates (``single``, ``jit``,
      ``shard_map``), ``(state, metrics)`` on the host: the final
      ``(params, target_params, opt_state)`` and the per-update ``loss`` and ``grad_norm``
      ``[updates]``.

    Raises:
      ValueError: ``--num-envs`` not a positive multiple of the device count, ``--steps``,
        ``--updates`` or ``--num-processes`` below 1, several processes without a coordinator
        and a valid process id, or ``--host-devices`` / ``--num-processes`` disagreeing with
        the devices and processes jax already started with (these two act before jax starts,
        so only when this file is run as a script).
    """
    args = _parser().parse_args(argv)
    _check_args(args)
    local = jax.local_devices()
    if args.host_devices is not None and len(local) != args.host_devices:
        raise ValueError(
            f"--host-devices {args.host_devices}: jax already started with {len(local)} device(s) "
            f"({local[0].platform}); the flag only works when this file is run as a script, before jax "
            "is imported. Otherwise set XLA_FLAGS=--xla_force_host_platform_device_count=N yourself."
        )
    if args.num_processes != jax.process_count():
        raise ValueError(
            f"--num-processes {args.num_processes}: jax runs {jax.process_count()} process(es); "
            "jax.distributed.initialize must come before jax starts, so the flag only works when this "
            "file is run as a script."
        )
    n = jax.device_count()  # over all processes
    if args.num_envs < 1 or args.num_envs % n:
        raise ValueError(f"--num-envs must be a positive multiple of the device count {n}, got {args.num_envs}.")
    tag = f"[process {jax.process_index()}/{jax.process_count()}] " if jax.process_count() > 1 else ""

    mesh = make_mesh()
    data = NamedSharding(mesh, P(AXIS))  # first batch dimension split over the devices
    replicated = NamedSharding(mesh, P())  # a full copy on every device
    print(
        f"{tag}{n} device(s) ({local[0].platform}, {len(local)} here); mesh {dict(mesh.shape)}; "
        f"{args.num_envs} environments"
    )

    env = GymnaxEnv("CartPole-v1", batch_size=(args.num_envs,), categorical_action_encoding=True)
    actor, egreedy = make_agent(env)
    optimizer = optax.adam(1e-3)

    def setup(key):
        k_reset, k_actor, k_egreedy, k_rollout = jax.random.split(key, 4)
        root = env.reset(k_reset)
        actor_variables = actor.init(k_actor, root)
        variables = {"actor": actor_variables, "egreedy": egreedy.init(k_egreedy, actor.apply(actor_variables, root))}
        return root, variables, k_rollout

    # Sharded arrays are made where they live, by jit with out_shardings: each device computes
    # its own shard (on several hosts, jax.device_put cannot place PRNG keys such as "_rng" on
    # another process's devices). The values are those of the single-device setup.
    key = jax.random.key(args.seed)
    root_1, variables_1, k_rollout_1 = jax.jit(setup)(key)  # on the default device, local[0]
    root, variables, k_rollout = jax.jit(setup, out_shardings=(data, replicated, replicated))(key)

    # 1. The rollout: the same jitted function; only where its inputs live differs.
    rollout = jax.jit(make_rollout(env, actor, egreedy, args.steps))
    out_single = rollout(variables_1, root_1, k_rollout_1)
    out = rollout(variables, root, k_rollout)
    # The environments' trajectories (states, keys, observations, actions, rewards) are equal bit
    # for bit. The Q-network's outputs come from a matmul over 2 rows per device instead of 16 on
    # one, and XLA:CPU may sum those in another order: equal to float32 rounding only.
    same = shards_equal(out.exclude(*NET_OUTPUTS), out_single.exclude(*NET_OUTPUTS)) and shards_equal(
        out.select(*NET_OUTPUTS), out_single.select(*NET_OUTPUTS), rtol=1e-6
    )
    # Independent environments need no communication: the compiled program (cached, not
    # recompiled here) holds no cross-device collective.
    hlo = rollout.lower(variables, root, k_rollout).compile().as_text()
    collectives = sorted(set(re.findall(COLLECTIVES, hlo)))
    print(
        f"{tag}rollout {out.batch_size}: observation sharding {out['observation'].sharding.spec}, "
        f"equal to the single-device rollout: {same}, collectives: {collectives or 'none'}"
    )

    # 2. The DQN update on the rollout's B*T transitions.
    init_state = jax.jit(lambda params: (params, params, optimizer.init(params)))  # placed as params
    state_1, state = init_state(variables_1["actor"]["params"]), init_state(variables["actor"]["params"])
    batch_1, batch = out_single.select(*TRANSITION_KEYS), out.select(*TRANSITION_KEYS)
    step = make_train_step(actor, optimizer)
    run_single = jax.jit(_scan_updates(step, args.updates))
    run_jit = jax.jit(
        _scan_updates(step, args.updates), in_shardings=(replicated, data), out_shardings=(replicated, replicated)
    )
    run_shard_map = jax.jit(_scan_updates(make_shard_map_train_step(actor, optimizer, mesh), args.updates))
    # Replicated outputs: every process can read them whole.
    results = {
        "single": jax.device_get(run_single(state_1, batch_1)),
        "jit": jax.device_get(run_jit(state, batch)),
        "shard_map": jax.device_get(run_shard_map(state, batch)),
    }
    update_collectives = sorted(set(re.findall(COLLECTIVES, run_jit.lower(state, batch).compile().as_text())))
    for name in ("single", "jit", "shard_map"):
        (new_params, _, _), metrics = results[name]
        diff = max(
            float(np.max(np.abs(a - b)))
            for a, b in zip(jax.tree.leaves(new_params), jax.tree.leaves(results["single"][0][0]))
        )
        print(
            f"{tag}{name:>9} update: loss {' '.join(f'{x:.6f}' for x in metrics['loss'])}; "
            f"grad norm {' '.join(f'{x:.6f}' for x in metrics['grad_norm'])}; "
            f"max |params - single-device params| {diff:.1e}"
        )
    print(f"{tag}collectives in the jitted data-parallel update: {update_collectives or 'none'}")
    return {
        "rollout": out,
        "rollout_single": out_single,
        "rollout_equal": same,
        "rollout_collectives": collectives,
        "update_collectives": update_collectives,
        "mesh": mesh,
        "data_sharding": data,
        **results,
    }


if __name__ == "__main__":
    main(sys.argv[1:])
