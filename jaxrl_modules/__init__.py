from jaxrl_modules.data import TensorDict
