import sys, time, json, jax, jax.numpy as jnp, numpy as np, gymnax
sys.path.insert(0, '/work/wip6')
from gymnax.environments.classic_control.pendulum import EnvState
from jaxrl_modules import Bounded, TensorDict
from jaxrl_modules.planners import CEMPlanner, MPPIPlanner
env, params = gymnax.make("Pendulum-v1")
def step_fn(obs, action):
    state = EnvState(theta=jnp.arctan2(obs[1], obs[0]), theta_dot=obs[2], last_u=jnp.float32(0.0), time=0)
    obs2, _, reward, done, _ = env.step_env(jax.random.key(0), state, action, params)
    return obs2, reward, jnp.zeros((), bool)
SEEDS=[0,1,2,3,4]
def run(planner, steps=200):
    keys = jnp.concatenate([jax.random.split(jax.random.key(s), 5) for s in SEEDS])
    n = len(keys)
    obs, states = jax.vmap(env.reset_env, in_axes=(0, None))(keys, params)
    td = TensorDict({"observation": obs, "is_init": jnp.ones((n,), bool)}, batch_size=[n])
    td = planner.apply({}, td, rngs={"planning": jax.random.key(99)})  # creates plan key
    td = td.set("is_init", jnp.ones((n,), bool))
    def body(carry, key):
        td, states = carry
        td = planner.apply({}, td, rngs={"planning": key})
        obs, states, reward, _, _ = jax.vmap(env.step_env, in_axes=(None, 0, 0, None))(key, states, td["action"], params)
        td = td.set("observation", obs).set("is_init", jnp.zeros((n,), bool))
        return (td, states), reward
    _, rewards = jax.lax.scan(body, (td, states), jax.random.split(jax.random.key(1), steps))
    return rewards.sum(0)
if __name__ == "__main__":
    cfg = json.loads(sys.argv[1])
    kind = cfg.pop("kind", "cem"); SEEDS[:] = cfg.pop("seeds", SEEDS)
    cls = CEMPlanner if kind == "cem" else MPPIPlanner
    p = cls(action_spec=Bounded(-2.0, 2.0, shape=(1,)), step_fn=step_fn, warm_start=True, **cfg)
    t = time.time()
    ret = np.asarray(jax.jit(lambda: run(p))()).reshape(len(SEEDS), 5)
    print(kind, cfg, "means", [round(float(r), 1) for r in ret.mean(1)], "min", round(float(ret.mean(1).min()),1), "time %.1f" % (time.time() - t))
    print("   per-ep", ret.round(0).astype(int).tolist())
