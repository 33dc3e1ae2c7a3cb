"""The first second of ``teacherstudent ode`` (plain script: ``python benchmarks/bench_cli.py``).

Prints, for the built-in default run (FO-ANIL, K = M = 3, α_max = 450), after one warm-up
run that fills numba's on-disk kernel cache, with the kernels the command takes (the module
of ``teacherstudent compile`` when it is built and current, else numba's; ``--jit``: numba's
always, ``TEACHERSTUDENT_AOT=0``):

* the wall time of the command in fresh processes, with ``--no-plot`` and with its figure
  (median, min and max of ``--runs`` runs) and the peak resident memory of each
  (``os.wait4``: the child's own ``ru_maxrss``);
* where the time goes, measured inside one fresh process that does what the command does:
  imports (``teacherstudent.cli`` and the modules the ``ode`` command needs), the kernel
  load (the compiled module, or numba's cache: the first
  :func:`teacherstudent.ode.integrate_table` minus the second), the solve itself, the
  result's arrays, the netCDF write, and the figure (import of the plotting package, the
  dataset it draws (the plain arrays; older code converted them to xarray), drawing,
  writing the PNG);
* the heaviest imports of the ``--no-plot`` path (``python -X importtime``, cumulative) and
  which heavy libraries it loads at all.

Targets (issue 16): ``teacherstudent ode --no-plot`` ≤ 0.7 s warm, with its figure ≤ 1.5 s;
peak RSS of the default run ≤ 200 MB. Timings on a shared machine are noisy: the load
average is printed with them. Options: ``--runs N`` (default 7), ``--numba-cache-dir DIR``
(a private kernel cache, e.g. while other processes edit the kernel sources), ``--jit``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEAVY = (
    "numba",
    "numpy",
    "xarray",
    "pandas",
    "scipy",
    "h5py",
    "h5netcdf",
    "netCDF4",
    "matplotlib",
    "matplotlib.pyplot",
    "rich",
    "torch",
    "dask",
    "sympy",
    "PIL",
)

# what one fresh process does, phase by phase (the same calls as `teacherstudent ode`)
PHASES = r"""
import json, sys, time
t = time.perf_counter
out = {}
t0 = t()
import teacherstudent.cli, teacherstudent.cli.ode
from teacherstudent.config import load_config
from teacherstudent.dataset import save
try:
    from teacherstudent.ode import integrate_table
except ImportError:  # the code before the command wrote its result without xarray
    from teacherstudent.ode import integrate as integrate_table
out["import"] = t() - t0
heavy = %(heavy)r
out["loaded_before_run"] = [m for m in heavy if m in sys.modules]
t0 = t()
table = integrate_table(load_config(None))
first = t() - t0
t0 = t()
table = integrate_table(load_config(None))
second = t() - t0
out["kernel_load"] = first - second
out["kernels"] = table.attrs.get("ode_kernels", "jit")
out["solve"] = float(table.attrs["wall_time_s"])
out["dataset"] = second - out["solve"]
t0 = t()
save(table, %(nc)r)
out["netcdf"] = t() - t0
out["loaded_no_plot"] = [m for m in heavy if m in sys.modules]
t0 = t()
import teacherstudent.plotting as P
out["plot_import"] = t() - t0
t0 = t()
# as the command: the plain arrays (older code: the xarray dataset, which it drew)
ds = table if hasattr(table, "isel") else getattr(table, "to_xarray", lambda: table)()
out["xarray_dataset"] = t() - t0
t0 = t()
fig = P.plot_ode(ds)
out["plot_draw"] = t() - t0
t0 = t()
P.savefig(fig, %(png)r)
out["plot_write"] = t() - t0
out["loaded_plot"] = [m for m in heavy if m in sys.modules]
print(json.dumps(out))
"""


def command() -> list[str]:
    """The installed ``teacherstudent`` script beside this Python, else ``python -m``."""
    script = Path(sys.executable).with_name("teacherstudent")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "teacherstudent"]


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """Wall time (s), peak RSS (MB) and CPU time (s, user + system) of one child process;
    the CPU time is the steadier figure on a loaded machine."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode()
    proc.stderr.close()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}):\n{err}")
    return wall, usage.ru_maxrss / 1024.0, usage.ru_utime + usage.ru_stime  # ru_maxrss: KB


def series(argv: list[str], env: dict[str, str], runs: int) -> dict[str, float]:
    walls, rss, cpu = zip(*(timed(argv, env) for _ in range(runs)), strict=True)
    return {
        "median": statistics.median(walls),
        "min": min(walls),
        "max": max(walls),
        "rss": max(rss),
        "cpu": statistics.median(cpu),
    }


def import_profile(env: dict[str, str], top: int = 12) -> list[tuple[str, float]]:
    """The heaviest top-level packages imported by the ``--no-plot`` path (cumulative s)."""
    code = (
        "import teacherstudent.cli, teacherstudent.cli.ode; "
        "import teacherstudent.config, teacherstudent.dataset, teacherstudent.ode, "
        "teacherstudent.outputs"
    )
    res = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    best: dict[str, float] = {}
    for line in res.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = (p.strip() for p in line[len("import time:") :].split("|"))
        if not cumulative.isdigit():
            continue
        if "." in name.strip() and not name.strip().startswith("teacherstudent."):
            continue  # only top-level packages (and our own modules)
        key = name.strip()
        best[key] = max(best.get(key, 0.0), int(cumulative) / 1e6)
    return sorted(best.items(), key=lambda kv: -kv[1])[:top]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--numba-cache-dir", default=None)
    ap.add_argument("--jit", action="store_true", help="numba's kernels, not the compiled module")
    opts = ap.parse_args()
    env = dict(os.environ)
    if opts.jit:
        env["TEACHERSTUDENT_AOT"] = "0"
    if opts.numba_cache_dir:
        env["NUMBA_CACHE_DIR"] = str(Path(opts.numba_cache_dir).absolute())
    env.pop("MPLBACKEND", None)
    with tempfile.TemporaryDirectory() as tmp:
        base = [*command(), "ode", "--force", "--no-progress", "-q"]
        plain = [*base, "-o", f"{tmp}/np.nc", "--no-plot"]
        with_fig = [*base, "-o", f"{tmp}/fig.nc"]
        t0 = time.perf_counter()
        timed(with_fig, env)  # fills the kernel cache if needed
        print(f"warm-up run (fills the kernel cache if needed): {time.perf_counter() - t0:.2f} s")
        load0 = os.getloadavg()
        no_plot = series(plain, env, opts.runs)
        fig = series(with_fig, env, opts.runs)
        code = PHASES % {"heavy": HEAVY, "nc": f"{tmp}/phases.nc", "png": f"{tmp}/phases.png"}
        phases = [
            json.loads(
                subprocess.run(
                    [sys.executable, "-c", code],
                    env=env,
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
            )
            for _ in range(max(3, opts.runs // 2))
        ]
        profile = import_profile(env)
        load1 = os.getloadavg()

    print(
        f"load average: {load0[0]:.2f} before, {load1[0]:.2f} after (1 min; {os.cpu_count()} CPUs)"
    )
    print(
        f"\nteacherstudent ode, warm, {opts.runs} fresh processes each "
        "(median [min–max]; peak RSS):"
    )
    for name, s, target in (("--no-plot", no_plot, 0.7), ("with figure", fig, 1.5)):
        print(
            f"  {name:<12} {s['median']:6.2f} s  [{s['min']:.2f}–{s['max']:.2f}]  "
            f"(target ≤ {target} s)   CPU {s['cpu']:5.2f} s   "
            f"peak RSS {s['rss']:6.1f} MB (target ≤ 200 MB)"
        )
    keys = [
        ("import", "imports (cli, config, dataset, ode)"),
        ("kernel_load", "kernel load"),
        ("solve", "solve"),
        ("dataset", "dataset + errors"),
        ("netcdf", "netCDF write"),
        ("plot_import", "plotting import"),
        ("xarray_dataset", "figure: its dataset (older code: xarray)"),
        ("plot_draw", "figure: draw"),
        ("plot_write", "figure: write PNG"),
    ]
    print(f"\nbreakdown in one fresh process (median of {len(phases)}):")
    for key, label in keys:
        values = [p[key] for p in phases if key in p]
        if values:
            print(f"  {label:<38} {statistics.median(values) * 1e3:8.1f} ms")
    print(f"  (kernels: {phases[-1]['kernels']})")
    print("\nheavy libraries loaded (last run):")
    for stage in ("loaded_before_run", "loaded_no_plot", "loaded_plot"):
        print(f"  {stage:<18} {', '.join(phases[-1][stage]) or 'none'}")
    print("  (the command's own path: `ode --no-plot` stops after the netCDF write)")
    print("\nheaviest imports of the --no-plot path (python -X importtime, cumulative):")
    for name, s in profile:
        print(f"  {name:<38} {s * 1e3:8.1f} ms")


if __name__ == "__main__":
    main()
