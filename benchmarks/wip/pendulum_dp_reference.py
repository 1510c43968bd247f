import jax, jax.numpy as jnp, numpy as np, gymnax, time
jax.config.update("jax_enable_x64", False)
env, params = gymnax.make('Pendulum-v1')
NT, NW, NA = 721, 321, 81
ths = jnp.linspace(-jnp.pi, jnp.pi, NT)  # periodic: last == first
ws = jnp.linspace(-8, 8, NW)
us = jnp.linspace(-2, 2, NA)
def norm(th): return ((th + jnp.pi) % (2*jnp.pi)) - jnp.pi
def dyn(th, w, u):
    nw = jnp.clip(w + (15*jnp.sin(th) + 3*u)*0.05, -8, 8)
    return th + nw*0.05, nw
def rew(th, w, u): return -(norm(th)**2 + 0.1*w**2 + 0.001*u**2)
def interp(V, th, w):
    th = norm(th)
    x = (th + jnp.pi) / (2*jnp.pi) * (NT-1); y = (w + 8) / 16 * (NW-1)
    x0 = jnp.clip(jnp.floor(x), 0, NT-2).astype(int); y0 = jnp.clip(jnp.floor(y), 0, NW-2).astype(int)
    fx = x - x0; fy = y - y0
    return (V[x0,y0]*(1-fx)*(1-fy) + V[x0+1,y0]*fx*(1-fy) + V[x0,y0+1]*(1-fx)*fy + V[x0+1,y0+1]*fx*fy)
TH, W = jnp.meshgrid(ths, ws, indexing='ij')
@jax.jit
def backup(V):
    def per_u(u):
        nth, nw = dyn(TH, W, u)
        return rew(TH, W, u) + interp(V, nth, nw)
    Q = jax.lax.map(per_u, us)
    return Q.max(0)
t=time.time()
Vs = [jnp.zeros((NT, NW))]
for k in range(200):
    Vs.append(backup(Vs[-1]))
Vs = jnp.stack(Vs)  # Vs[k]: value with k steps remaining
print('dp time', time.time()-t)
ufine = jnp.linspace(-2, 2, 401)
@jax.jit
def episode(th, w):
    def body(s, k):
        th, w = s
        V = Vs[199 - k]
        nth, nw = dyn(th, w, ufine)
        q = rew(th, w, ufine) + interp(V, nth, nw)
        u = ufine[jnp.argmax(q)]
        r = rew(th, w, u)
        return dyn(th, w, u), r
    _, rs = jax.lax.scan(body, (th, w), jnp.arange(200))
    return rs.sum()
for seed in range(5):
    keys = jax.random.split(jax.random.key(seed), 5)
    obs, st = jax.vmap(env.reset_env, in_axes=(0,None))(keys, params)
    rets = [float(episode(a, b)) for a, b in zip(st.theta, st.theta_dot)]
    vpred = [float(interp(Vs[200], a, b)) for a, b in zip(st.theta, st.theta_dot)]
    print(seed, 'DP closed loop', [round(r,1) for r in rets], 'mean', round(np.mean(rets),1), 'V', [round(v,1) for v in vpred])
# worst case: hanging straight down at rest
print('bottom', float(episode(jnp.float32(jnp.pi), jnp.float32(0.0))))
