"""The array namespace a law is evaluated in: NumPy, JAX or PyTensor.

Each law is written once against the small set of operations below (softplus(x) = log(1 + e^x)), so the same
formula serves NumPy
(tables, tests), JAX (planner, NumPyro) and PyTensor (PyMC). The namespace is read off the arguments.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np


def _numpy() -> SimpleNamespace:
    return SimpleNamespace(
        name="numpy", log=np.log, exp=np.exp, logaddexp=np.logaddexp, asarray=np.asarray,
        softplus=lambda x: np.logaddexp(0.0, x),
    )


def _jax() -> SimpleNamespace:
    import jax.numpy as jnp

    return SimpleNamespace(
        name="jax", log=jnp.log, exp=jnp.exp, logaddexp=jnp.logaddexp, asarray=jnp.asarray,
        softplus=lambda x: jnp.logaddexp(0.0, x),
    )


def _pytensor() -> SimpleNamespace:
    import pytensor.tensor as pt
    from pytensor.graph.basic import Variable

    def asarray(x: Any) -> Any:
        # PyTensor would store 3e8 or 0.5 as float32 constants (they are exact there) and then take
        # their logs in float32; constants enter as float64.
        return x if isinstance(x, Variable) else pt.as_tensor_variable(np.asarray(x, dtype=np.float64))

    return SimpleNamespace(name="pytensor", log=pt.log, exp=pt.exp, logaddexp=pt.logaddexp, asarray=asarray,
                           softplus=lambda x: pt.logaddexp(0.0, x))


_FACTORIES = {"numpy": _numpy, "jax": _jax, "pytensor": _pytensor}
_CACHE: dict[str, SimpleNamespace] = {}


def backend_of(x: Any) -> str:
    """Which namespace an array belongs to: 'jax', 'pytensor' or 'numpy' (the default)."""
    module = type(x).__module__
    if module.startswith(("jax", "jaxlib")):
        return "jax"
    if module.startswith("pytensor"):
        return "pytensor"
    return "numpy"


def namespace(*arrays: Any) -> SimpleNamespace:
    """The namespace of the first non-NumPy argument, else NumPy."""
    name = "numpy"
    for x in arrays:
        name = backend_of(x)
        if name != "numpy":
            break
    if name not in _CACHE:
        _CACHE[name] = _FACTORIES[name]()
    return _CACHE[name]


def is_concrete(x: Any) -> bool:
    """True for values that can be checked now (Python and NumPy numbers, concrete JAX arrays)."""
    name = backend_of(x)
    if name == "pytensor":
        return False
    if name == "jax":
        import jax

        return not isinstance(x, jax.core.Tracer)
    return True
