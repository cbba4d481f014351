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
criticality(activation), susceptibilities(activation, cb, cw, K)
    Critical initialisation (C_b, C_W), χ∥ and χ⊥, universality classes;
    phase_diagram, depth_scaling and plot_depth_scaling beside them.
finite_width_check(...)
    Monte Carlo at several widths, fitted to X_∞ + b/n and compared with theory.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import activations as activations
from ._theory import Theory as Theory, theory as theory
from .network import Network as Network

__all__ = [
    "AccuracyWarning",
    "Comparison",
    "ConvergenceError",
    "CriticalPoint",
    "Estimate",
    "Estimates",
    "Network",
    "NoCriticalPointError",
    "Theory",
    "__version__",
    "activations",
    "compare",
    "criticality",
    "depth_scaling",
    "finite_width_check",
    "fixed_point",
    "output_distribution",
    "phase_diagram",
    "plot_depth_scaling",
    "sample",
    "susceptibilities",
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
    "criticality": ("_criticality", "criticality"),
    "susceptibilities": ("_criticality", "susceptibilities"),
    "phase_diagram": ("_criticality", "phase_diagram"),
    "depth_scaling": ("_criticality", "depth_scaling"),
    "fixed_point": ("_criticality", "fixed_point"),
    "plot_depth_scaling": ("_criticality", "plot_depth_scaling"),
    "CriticalPoint": ("_criticality", "CriticalPoint"),
    "ConvergenceError": ("_criticality", "ConvergenceError"),
    "NoCriticalPointError": ("_criticality", "NoCriticalPointError"),
    "finite_width_check": ("finite_width", "finite_width_check"),
    "AccuracyWarning": ("gaussian", "AccuracyWarning"),
}

if TYPE_CHECKING:  # pragma: no cover
    from ._criticality import (
        ConvergenceError,
        CriticalPoint,
        NoCriticalPointError,
        criticality,
        depth_scaling,
        fixed_point,
        phase_diagram,
        plot_depth_scaling,
        susceptibilities,
    )
    from .comparison import Comparison, compare
    from .distributions import output_distribution
    from .estimators import Estimate
    from .finite_width import finite_width_check
    from .gaussian import AccuracyWarning
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
