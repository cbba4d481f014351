"""Options shared by the ``deepeft`` subcommands: the network, the inputs, output.

Each subcommand lives in a module ``deepeft._cli_<name>`` exposing
``register(subparsers)``, which adds its parser and sets ``func`` to a function
``run(args) -> int``. Use :func:`add_network_options` and
:func:`network_from_args` so every command spells the network the same way.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from .network import Network

__all__ = [
    "CLIError",
    "add_network_options",
    "console",
    "emit_json",
    "inputs_from_args",
    "network_from_args",
    "parse_float_list",
    "parse_int_list",
]


class CLIError(Exception):
    """A user error on the command line: printed as one line, exit status 2."""


def parse_int_list(text: str) -> list[int]:
    try:
        return [int(t) for t in text.replace(" ", "").split(",") if t]
    except ValueError as exc:
        msg = f"expected comma-separated integers, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from exc


def parse_float_list(text: str) -> list[float]:
    try:
        return [float(t) for t in text.replace(" ", "").split(",") if t]
    except ValueError as exc:
        msg = f"expected a number or comma-separated numbers, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from exc


def add_network_options(parser: argparse.ArgumentParser, *, default_activation: str = "linear") -> None:
    """``--widths`` or ``--n0/--width/--depth``, ``--cw``, ``--cb``, ``--activation``, ``--init``, ``--inputs``."""
    g = parser.add_argument_group("network")
    g.add_argument("--widths", type=parse_int_list, metavar="N0,N1,...,NL",
                   help="all widths, input first (e.g. 8,32,32,32)")
    g.add_argument("--n0", type=int, default=None, help="input dimension (with --width/--depth; default 1)")
    g.add_argument("--width", type=int, default=None, help="hidden and output width (default 32)")
    g.add_argument("--depth", type=int, default=None, help="number of layers L (default 10)")
    g.add_argument("--cw", type=parse_float_list, default=[1.0], metavar="CW[,CW...]",
                   help="weight variance C_W, one value or one per layer (default 1)")
    g.add_argument("--cb", type=parse_float_list, default=[0.0], metavar="CB[,CB...]",
                   help="bias variance C_b, one value or one per layer (default 0)")
    g.add_argument("--activation", default=default_activation, help=f"activation (default {default_activation})")
    g.add_argument("--init", default="gaussian", help="weight ensemble: gaussian or orthogonal (default gaussian)")
    g.add_argument("--inputs", type=Path, default=None, metavar="FILE",
                   help="inputs as .npy or .csv, shape (N_D, n0); default one input with G^(0) = 1")
    parser.add_argument("--json", action="store_true", help="machine-readable JSON on stdout")


def _scalar_or_list(values: list[float]) -> float | list[float]:
    return values[0] if len(values) == 1 else values


def network_from_args(args: argparse.Namespace) -> Network:
    """Build the :class:`Network` the options describe (errors become :class:`CLIError`)."""
    try:
        if args.widths is not None:
            if any(v is not None for v in (args.n0, args.width, args.depth)):
                msg = "give either --widths or --n0/--width/--depth, not both"
                raise CLIError(msg)
            return Network(args.widths, args.activation, _scalar_or_list(args.cw),
                           _scalar_or_list(args.cb), args.init)
        n0 = 1 if args.n0 is None else args.n0
        width = 32 if args.width is None else args.width
        depth = 10 if args.depth is None else args.depth
        return Network.uniform(n0, width, depth, args.activation, _scalar_or_list(args.cw),
                               _scalar_or_list(args.cb), args.init)
    except (ValueError, TypeError) as exc:
        raise CLIError(str(exc)) from exc


def inputs_from_args(args: argparse.Namespace, net: Network) -> np.ndarray:
    """Read ``--inputs`` (.npy or .csv) or return one input with G^(0) = 1."""
    path = args.inputs
    if path is None:
        return np.ones((1, net.n0))
    if not path.exists():
        msg = f"--inputs: file {str(path)!r} does not exist"
        raise CLIError(msg)
    try:
        if path.suffix.lower() == ".npy":
            x = np.load(path, allow_pickle=False)
        elif path.suffix.lower() in (".csv", ".txt"):
            x = np.loadtxt(path, delimiter=",", ndmin=2)
        else:
            msg = f"--inputs: unsupported file type {path.suffix!r}; use .npy or .csv"
            raise CLIError(msg)
    except (OSError, ValueError) as exc:
        msg = f"--inputs: could not read {str(path)!r}: {exc}"
        raise CLIError(msg) from exc
    try:
        return net.check_inputs(x)
    except (ValueError, TypeError) as exc:
        msg = f"--inputs: {exc}"
        raise CLIError(msg) from exc


def _default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    msg = f"not JSON serialisable: {type(obj).__name__}"
    raise TypeError(msg)


def emit_json(payload: Any) -> None:
    """Write ``payload`` as JSON to stdout (arrays become nested lists; NaN/inf as null)."""

    def clean(o: Any) -> Any:
        if isinstance(o, float) and not np.isfinite(o):
            return None
        if isinstance(o, dict):
            return {str(k): clean(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [clean(v) for v in o]
        if isinstance(o, np.ndarray):
            return clean(o.tolist())
        if isinstance(o, (np.floating, np.integer)):
            return clean(o.item())
        return o

    json.dump(clean(payload), sys.stdout, indent=2, default=_default)
    sys.stdout.write("\n")


def console():  # type: ignore[no-untyped-def]
    """A rich console on stdout."""
    from rich.console import Console

    return Console()
