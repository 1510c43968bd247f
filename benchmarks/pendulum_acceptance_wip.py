import sys, time, jax, jax.numpy as jnp, gymnax
from gymnax.environments.classic_control.pendulum import EnvState
from jaxrl_modules import Bounded, TensorDict
from jaxrl_modules.planners import CEMPlanner, MPPIPlanner

env, params = gymnax.make("Pendulum-v1")

def step_fn(obs, action):  # the true dynamics on the observation
    state = EnvState(theta=jnp.arctan2(obs[1], obs[0]), theta_dot=obs[2], last_u=jnp.float32(0.0), time=0)
    obs2, _, reward, done, _ = env.step_env(jax.random.key(0), state, action, params)
    return obs2, reward, jnp.zeros((), bool)

def run(planner, episodes, steps, seed=0):
    keys = jax.random.split(jax.random.key(seed), episodes)
    obs, states = jax.vmap(env.reset_env, in_axes=(0, None))(keys, params)
    td = TensorDict({"observation": obs, "is_init": jnp.ones((episodes,), bool),
                     "_planner_mean": jnp.zeros((episodes, planner.planning_horizon, 1)), "action": jnp.zeros((episodes, 1))}, batch_size=[episodes])
    def body(carry, key):
        td, states = carry
        td = planner.apply({}, td, rngs={"planning": key})
        obs, states, reward, _, _ = jax.vmap(env.step_env, in_axes=(None, 0, 0, None))(key, states, td["action"], params)
        td = td.set("observation", obs).set("is_init", jnp.zeros((episodes,), bool))
        return (td, states), (reward, states.theta)
    (_, _), (rewards, theta) = jax.lax.scan(body, (td, states), jax.random.split(jax.random.key(seed + 1), steps))
    return rewards.sum(0), theta

if __name__ == "__main__":
    kind, H, C, I, K = sys.argv[1], *map(int, sys.argv[2:6])
    extra = dict(temperature=float(sys.argv[6])) if kind == "mppi" else {}
    cls = CEMPlanner if kind == "cem" else MPPIPlanner
    p = cls(action_spec=Bounded(-2.0, 2.0, shape=(1,)), planning_horizon=H, optim_steps=I, num_candidates=C, top_k=K,
            step_fn=step_fn, warm_start=True, init_std=float(sys.argv[7]) if len(sys.argv) > 7 else 1.0, **extra)
    t = time.time()
    ret, theta = jax.jit(lambda: run(p, 5, 200, int(__import__("os").environ.get("SEED", 0))))()
    print(kind, H, C, I, K, extra, "returns", [round(float(r), 1) for r in ret], "mean", float(ret.mean()), "time", time.time() - t)
