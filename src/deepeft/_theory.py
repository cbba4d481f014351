"""The theory object shared by every ensemble, and :func:`theory`, its dispatcher.

A theory answers, for a :class:`~deepeft.Network` and a set of inputs, the
statistics of the preactivations ``z^(l)`` at every layer. Subclasses say which
answers are exact and which are leading order in 1/n (``exact`` attribute and
each method's docstring).

Index conventions, everywhere in deepeft:

* ``layer`` runs over ``0..L``; layer 0 is the input (only :meth:`Theory.kernel`
  accepts it: ``G^(0) = x xᵀ / n_0``).
* ``neurons`` and ``inputs`` are equal-length sequences of integers: the
  correlator ``E[z_{neurons[0]; inputs[0]} ⋯ z_{neurons[M-1]; inputs[M-1]}]``.
  Only the equality pattern of the neuron labels matters, but each label must
  be a valid neuron of that layer (``0 <= i < n_layer``); input labels index
  the rows of ``x``.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

import numpy as np

from ._validate import check_correlator, check_layer
from .network import Network

__all__ = ["Theory", "theory"]


class Theory:
    """Base class of theory results for one network and one set of inputs.

    Attributes
    ----------
    network : Network
        The ensemble.
    x : ndarray, shape (N_D, n_0)
        The inputs.
    exact : bool
        True when :meth:`moment` and :meth:`cumulant` are exact at finite width.
    """

    exact: bool = False

    def __init__(self, network: Network, x: object) -> None:
        if not isinstance(network, Network):
            msg = f"`net` must be a deepeft.Network, got {type(network).__name__}."
            raise TypeError(msg)
        self.network = network
        self.x = network.check_inputs(x)
        self.g0 = self.x @ self.x.T / network.n0

    # ------------------------------------------------------------ bookkeeping
    @property
    def n_inputs(self) -> int:
        """N_D, the number of inputs."""
        return self.x.shape[0]

    @property
    def depth(self) -> int:
        """L."""
        return self.network.depth

    def _check_layer(self, layer: object, *, allow_input: bool = True) -> int:
        return check_layer(layer, self.depth, allow_input=allow_input)

    def _check_query(
        self, layer: object, neurons: Sequence[int], inputs: Sequence[int]
    ) -> tuple[int, tuple[int, ...], tuple[int, ...]]:
        """Validate a correlator query; return (layer, neurons, inputs) as ints."""
        layer = self._check_layer(layer, allow_input=False)
        neurons, inputs = check_correlator(
            neurons, inputs, layer=layer, width=self.network.widths[layer], n_inputs=self.n_inputs
        )
        return layer, neurons, inputs

    # ------------------------------------------------------------ interface
    def kernel(self, layer: int) -> np.ndarray:
        """The two-point kernel at ``layer``: (N_D, N_D) array."""
        raise NotImplementedError  # pragma: no cover - abstract

    def moment(self, layer: int, neurons: Sequence[int], inputs: Sequence[int]) -> float:
        """E[∏_k z^(layer)_{neurons[k]; inputs[k]}]."""
        raise NotImplementedError  # pragma: no cover - abstract

    def cumulant(self, layer: int, neurons: Sequence[int], inputs: Sequence[int]) -> float:
        """The connected part (joint cumulant) of the same correlator."""
        raise NotImplementedError  # pragma: no cover - abstract

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.network!r}, N_D={self.n_inputs})"


def theory(net: Network, x: object = None) -> Theory:
    """Theory of the ensemble ``net`` on inputs ``x``.

    Parameters
    ----------
    net : Network
        The ensemble.
    x : array_like, shape (N_D, n_0) or (n_0,), optional
        The inputs. Default: one input with ``G^(0) = 1`` (the vector of ones).

    Returns
    -------
    Theory
        * linear σ, Gaussian weights: :class:`~deepeft.linear_theory.LinearTheory`,
          exact at finite width (any M-point function, V, U, NTK);
        * linear σ, Haar-orthogonal weights (square layers; biases with one
          input only): :class:`~deepeft.orthogonal_theory.OrthogonalLinearTheory`,
          exact;
        * any other σ: :class:`~deepeft.nonlinear_theory.NonlinearTheory`, the
          leading order in 1/n (kernel K, vertex V, 2- and 4-point functions,
          NTK mean), with exact finite-width values where they exist
          (positively homogeneous σ, one input, no biases); see its
          ``exactness`` attribute.
        The ``exact`` attribute says whether ``moment``/``cumulant`` are exact.

    Raises
    ------
    TypeError
        When ``net`` is not a :class:`~deepeft.Network`.
    ValueError
        From the theory class, for an ensemble outside its scope (e.g.
        orthogonal weights with non-square layers), naming what is supported.
    """
    if not isinstance(net, Network):
        msg = f"`net` must be a deepeft.Network, got {type(net).__name__}."
        raise TypeError(msg)
    if x is None:
        x = np.ones(net.n0)
    # (module, class) implementing each ensemble; the modules load on demand.
    if net.is_linear and net.init == "gaussian":
        target = ("linear_theory", "LinearTheory")
    elif net.is_linear and net.init == "orthogonal":
        target = ("orthogonal_theory", "OrthogonalLinearTheory")
    else:
        target = ("nonlinear_theory", "NonlinearTheory")
    module = importlib.import_module(f".{target[0]}", __package__)
    return getattr(module, target[1])(net, x)
