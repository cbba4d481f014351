"""Monte Carlo sampling of random networks at initialization.

:func:`sample` draws networks block by block with one of the registered
methods (see :mod:`deepeft.sampling._methods` and ``README.md`` here) and
reduces them to streaming, mergeable estimators; :class:`Estimates` reads
moments, cumulants and vertices with standard errors out of them.
"""

from __future__ import annotations

from ._core import (
    DEFAULT_METHOD as DEFAULT_METHOD,
    ORDERS as ORDERS,
    SamplingAccuracyWarning as SamplingAccuracyWarning,
    block_rng as block_rng,
    draw as draw,
    sample as sample,
)
from ._estimates import Estimates as Estimates
from ._methods import METHODS as METHODS, Sampler as Sampler, register as register
from ._patterns import enumerate_patterns as enumerate_patterns

__all__ = [
    "DEFAULT_METHOD",
    "METHODS",
    "ORDERS",
    "Estimates",
    "Sampler",
    "SamplingAccuracyWarning",
    "block_rng",
    "draw",
    "enumerate_patterns",
    "register",
    "sample",
]
