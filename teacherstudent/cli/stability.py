"""``teacherstudent stability [CONFIG.toml] [--set key=value ...] [--json OUT.json] [--N 250,1000]
[--no-integrate] [--saddles] [--force]``.

Prints the unspecialised fixed point the run passes, its spectrum, the escape rate and the
predicted plateau escape α* (:func:`teacherstudent.analysis.stability`; theory in
``theory/plateau.md``), next to the α* of the integrated run. ``--saddles`` adds the sequence
of shoulders a run with unequal teacher units visits (:func:`teacherstudent.analysis.
saddle_sequence`): per stage the teacher units learnt, the fixed point and its leading
eigenvalues, the transverse rate and the predicted and integrated escape. ``--json`` writes
the same as a JSON summary; that path is checked before any work
(:mod:`teacherstudent.outputs`).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from .common import add_force
from .ode import add_config_arguments

HELP = (
    "fixed point of the plateau, its eigenvalues, escape rate and predicted escape α* "
    "(matched asymptotics) against the integrated run"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``teacherstudent stability``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The command's parser.
    """
    add_config_arguments(parser)
    parser.add_argument(
        "--json", default=None, metavar="OUT.json", help="also write the result as JSON"
    )
    parser.add_argument(
        "--N",
        default=None,
        metavar="N1,N2,...",
        help="also predict α* of simulations at these input dimensions (initial overlaps ~ N^-1/2)",
    )
    parser.add_argument(
        "--delta",
        type=float,
        default=1e-2,
        help="unstable amplitude at which the linear solution is matched to "
        "the integrated nonlinear one (default 1e-2)",
    )
    parser.add_argument(
        "--no-integrate",
        action="store_true",
        help="do not integrate the run: take the fixed point near the initial "
        "state (a run that starts on its plateau) and skip the measured α*",
    )
    parser.add_argument(
        "--saddles",
        action="store_true",
        help="also follow the run from shoulder to shoulder (unequal teacher units: "
        "tasks.head_cov) with each stage's fixed point, rates and predicted escape",
    )
    add_force(parser)


def _saddle_lines(seq) -> list[str]:
    lines = [
        "saddle sequence    stage  learnt  symmetric  ε(fixed point)  leading Re λ  "
        "transverse rate  α* predicted  α* integrated  α* law"
    ]
    for s in seq.stages:
        fp = s.fixed_point
        learnt = ",".join(str(n + 1) for n in s.learnt) or "-"
        lines.append(
            f"                   {s.index:5d}  {learnt:6s}  {str(s.symmetric):9s}  "
            f"{_fmt(fp.eg) if fp else 'nan':14s}  {_fmt(fp.rate) if fp else 'nan':12s}  "
            f"{_fmt(s.rate):15s}  {_fmt(s.alpha_escape):12s}  "
            f"{_fmt(s.alpha_escape_integrated):13s}  {_fmt(s.alpha_escape_law)}"
        )
    if seq.final is not None:
        lines.append(
            f"final              {seq.final.kind}, {seq.final.stability}, ε = {seq.final.eg:.3g}"
        )
    return lines


def _sizes(text: str | None) -> list[int]:
    from ..config import ConfigError

    if text is None:
        return []
    try:
        out = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"--N must be comma-separated positive integers, got '{text}'") from None
    if not out or min(out) < 1:
        raise ConfigError(f"--N must be comma-separated positive integers, got '{text}'")
    return out


def _fmt(v: float) -> str:
    return "nan" if not math.isfinite(v) else f"{v:.6g}"


def main(args: argparse.Namespace) -> int:
    """Compute and print the stability of the plateau; 0 done, 2 bad input.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options.

    Returns
    -------
    int
        0.
    """
    from ..analysis import stability
    from ..config import ConfigError, load_config, parse_overrides
    from ..outputs import write_with_fallback
    from .common import check_outputs

    cfg = load_config(args.config, parse_overrides(args.overrides))
    sizes = _sizes(args.N)
    if not (args.delta > 0 and math.isfinite(args.delta)):
        raise ConfigError(f"--delta must be a positive number, got {args.delta}")
    if args.saddles:
        from ..analysis.saddles import require_invariant_subspaces

        if args.no_integrate:
            raise ConfigError("--saddles compares with the integrated run: drop --no-integrate")
        require_invariant_subspaces(cfg, "--saddles")
    out = Path(args.json) if args.json else None
    check_outputs([("--json", out)], inputs=[args.config], force=args.force)
    seq = None
    if args.saddles:  # one integrated run serves both analyses
        from ..analysis import saddle_sequence
        from ..ode import integrate

        ds = integrate(cfg)
        st = stability(cfg, delta=args.delta, dataset=ds)
        seq = saddle_sequence(cfg, delta=args.delta, dataset=ds)
    else:
        st = stability(cfg, delta=args.delta, integrate=not args.no_integrate)
    fp = st.state
    ev = fp.eigenvalues
    lines = [
        f"fixed point        {fp.kind}, {fp.stability} (max |drift| {fp.residual:.2g}, "
        f"Jacobian: {fp.jacobian_method}"
        + (
            f", closed form vs differences {fp.jacobian_check:.2g})"
            if math.isfinite(fp.jacobian_check)
            else ")"
        ),
        f"plateau height     ε* = {_fmt(fp.eg)}",
        "eigenvalues        "
        + " ".join(
            _fmt(v.real) if abs(v.imag) < 1e-12 else f"{v.real:.6g}{v.imag:+.3g}i" for v in ev
        ),
        f"zero modes         {fp.zero_modes} (dimension of the continuum of fixed points)",
        f"escape rate        {_fmt(st.rate)}",
        f"unstable amplitude {_fmt(st.amplitude)} at α = {_fmt(st.alpha_near)}",
        f"α* predicted       {_fmt(st.alpha_escape)}",
        f"α* integrated      {_fmt(st.alpha_escape_integrated)}",
    ]
    pred_N = {}
    if sizes:
        aN = st.alpha_escape_N(sizes)
        pred_N = {str(n): float(a) for n, a in zip(sizes, aN, strict=True)}
        lines.append(
            "α*(N) predicted    "
            + ", ".join(f"N={n}: {_fmt(a)}" for n, a in zip(sizes, aN, strict=True))
        )
    if st.amplitude > 0.05:
        lines.append(
            "note               the run is never close to the fixed point (unstable amplitude "
            f"{st.amplitude:.3g} ≥ 0.05): no linear stage, the prediction is the integration "
            "from there"
        )
    if seq is not None:
        lines += _saddle_lines(seq)
    print("\n".join(lines))
    if out is not None:
        data = {
            **st.summary(),
            "alpha_escape_N": pred_N,
            "saddles": None if seq is None else seq.summary(),
            "config": args.config or "built-in defaults",
            "overrides": list(args.overrides),
        }
        text = (
            json.dumps(data, indent=1, default=lambda v: None, allow_nan=True).replace(
                "NaN", "null"
            )
            + "\n"
        )
        written = write_with_fallback(
            lambda p: (Path(p).write_text(text), Path(p))[1], out, "the JSON summary"
        )
        print(f"json               {written}")
    return 0
