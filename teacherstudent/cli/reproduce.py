"""``teacherstudent reproduce NAME|all [--list] [--out figures/] [--quick]``.

The registry of studies that regenerate the figure gallery. It merges

* the nonlinear ODE studies of :mod:`teacherstudent.studies` (each declared by a TOML file in
  ``simulations/`` at the repository root),
* ``teacherstudent.linear.studies.STUDIES`` and ``teacherstudent.simulation.studies.STUDIES``
  when they can be imported (a warning names any that cannot).

Every entry is a callable ``f(out_dir: Path) -> list[Path]`` (the files it wrote). A study
that fails is reported and the others still run; the exit status is then 1. ``--quick`` sets
``TEACHERSTUDENT_QUICK=1`` while the studies run: studies that honour it use reduced grids.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path

HELP = "regenerate the figure gallery (studies declared in simulations/)"

EXTERNAL = ("teacherstudent.linear.studies", "teacherstudent.simulation.studies")


@dataclass(frozen=True)
class Study:
    name: str
    func: Callable[[Path], list[Path]]
    source: str  # module that defines it

    @property
    def description(self) -> str:
        doc = (getattr(self.func, "__doc__", None) or "").strip()
        return doc.splitlines()[0] if doc else ""


def registry(warn: bool = True) -> dict[str, Study]:
    """All studies, in order: the ODE studies, then the linear and simulation ones."""
    from .. import studies as ode_studies

    out = {n: Study(n, f, ode_studies.__name__) for n, f in ode_studies.STUDIES.items()}
    for modname in EXTERNAL:
        try:
            mod = import_module(modname)
            found = dict(mod.STUDIES)
        except Exception as exc:  # noqa: BLE001 - any failure: skip that group
            if warn:
                warnings.warn(f"studies of {modname} unavailable: {exc}", stacklevel=2)
            continue
        for n, f in found.items():
            key = n if n not in out else f"{modname.split('.')[1]}-{n}"
            out[key] = Study(key, f, modname)
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", default=None, help="study name, or 'all'")
    parser.add_argument("--list", action="store_true", help="list the studies and exit")
    parser.add_argument("--out", default="figures", help="output folder (default figures/)")
    parser.add_argument("--quick", action="store_true",
                        help="reduced grids (TEACHERSTUDENT_QUICK=1), for tests")


def main(args: argparse.Namespace) -> int:
    from ..config import ConfigError

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reg = registry()
    for w in caught:
        print(f"teacherstudent reproduce: warning: {w.message}", file=sys.stderr)
    if args.list or args.name is None:
        width = max(len(n) for n in reg)
        for s in reg.values():
            print(f"{s.name:<{width}}  {s.description}  [{s.source}]")
        return 0 if args.list else 2
    if args.name == "all":
        names = list(reg)
    elif args.name in reg:
        names = [args.name]
    else:
        raise ConfigError(f"unknown study {args.name!r}; known: {', '.join(reg)} (or 'all')")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    old = os.environ.get("TEACHERSTUDENT_QUICK")
    if args.quick:
        os.environ["TEACHERSTUDENT_QUICK"] = "1"
    failed = []
    t_all = time.perf_counter()
    try:
        for n in names:
            t0 = time.perf_counter()
            print(f"[{n}] running ...", flush=True)
            try:
                files = reg[n].func(out) or []
            except ConfigError:
                raise
            except Exception:  # noqa: BLE001 - report and go on with the others
                failed.append(n)
                print(f"[{n}] FAILED after {time.perf_counter() - t0:.1f} s:", file=sys.stderr)
                traceback.print_exc()
                continue
            dt = time.perf_counter() - t0
            print(f"[{n}] {dt:.1f} s, {len(files)} files:")
            for f in files:
                print(f"    {f}")
    finally:
        if args.quick:
            if old is None:
                os.environ.pop("TEACHERSTUDENT_QUICK", None)
            else:
                os.environ["TEACHERSTUDENT_QUICK"] = old
    print(f"done: {len(names) - len(failed)}/{len(names)} studies in "
          f"{time.perf_counter() - t_all:.1f} s" + (f"; failed: {', '.join(failed)}" if failed
                                                    else ""))
    return 1 if failed else 0
