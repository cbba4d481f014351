"""deepeft: statistics of deep neural networks at initialization.

The effective theory of Roberts & Yaida, *The Principles of Deep Learning
Theory* (arXiv:2106.10165), made computable: exact finite-width results for
deep linear networks, Monte Carlo with honest error bars, and the tables and
figures that compare them.

Public API
----------
Network
    A frozen description of the ensemble (widths, C_W, C_b, σ, weight law).
theory(net, x)
    Exact (deep linear) theory: kernel, M-point moments and cumulants, the
    four- and six-point vertices V and U with their leading 1/n forms.
sample(net, x, networks=..., seed=...)
    Monte Carlo estimates of the same quantities with standard errors.
compare(theory, estimates)
    Theory against Monte Carlo, with z-scores.
output_distribution(net, x)
    Exact law of one output coordinate (scipy.stats interface).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import activations as activations
from ._theory import Theory as Theory, theory as theory
from .network import Network as Network

__all__ = [
    "Comparison",
    "Estimate",
    "Estimates",
    "Network",
    "Theory",
    "__version__",
    "activations",
    "compare",
    "output_distribution",
    "sample",
    "theory",
]

__version__ = "0.1.0"

# Heavier parts load on first use, so that `import deepeft` and the CLI stay fast.
_LAZY = {
    "sample": ("sampling", "sample"),
    "Estimates": ("sampling", "Estimates"),
    "Estimate": ("estimators", "Estimate"),
    "compare": ("comparison", "compare"),
    "Comparison": ("comparison", "Comparison"),
    "output_distribution": ("distributions", "output_distribution"),
}

if TYPE_CHECKING:  # pragma: no cover
    from .comparison import Comparison, compare
    from .distributions import output_distribution
    from .estimators import Estimate
    from .sampling import Estimates, sample


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(f".{module}", __name__), attr)
        globals()[name] = value
        return value
    msg = f"module 'deepeft' has no attribute {name!r}"
    raise AttributeError(msg)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
