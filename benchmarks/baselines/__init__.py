"""Hand-written reference training runs the recipes are benchmarked against.

* `dqn_jax`: DQN on CartPole-v1 in pure JAX (gymnax, flax.linen, optax; no jaxrl_modules), written in
  purejaxrl's style with purejaxrl's hyperparameters;
* `dqn_torchrl`: the same DQN as a TorchRL loop (QValueActor + EGreedyModule over a gymnasium
  CartPole-v1), timed in frames per second.
"""
