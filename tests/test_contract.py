"""The user-facing contract, table-driven, over every command and the Python API.

Every case runs in-process (``teacherstudent.cli.main`` or an API call) in one workspace of
user files and results, and asserts: the exit status; no traceback; the key or value the
message must name; and that the user's files are unchanged. A refused case (status 2) must
leave the workspace exactly as it was (nothing written: the checks come before any work);
a case that runs may add its own new files and replace only the results it names.

The rule for outputs (``teacherstudent.outputs``): a folder, a path below a file or an
unwritable place is refused before any work; the command's own input and a file that is not
a teacherstudent result are never replaced, whatever the flags; an existing result is
replaced only with ``--force``. Divergence: exit status 1, the message says what diverged and
where, the partial result is kept.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import teacherstudent as ts
from teacherstudent.cli import main
from teacherstudent.config import ConfigError
from teacherstudent.dataset import load, save
from teacherstudent.simulation.compare import compare

ROOT = Path(__file__).resolve().parents[1]

TINY_SIM = ["--N", "30", "--seeds", "1", "--set", "run.alpha_max=0.5", "--set", "run.n_save=6",
            "--device", "cpu", "--no-progress"]
ODE_SPEC = 'kind = "ode"\n[base.run]\nalpha_max = 5.0\nn_save = 5\n[grid]\n' \
           '"algorithm.eta_J" = [1.0, 2.0]\n'


# --------------------------------------------------------------------------- the workspace
@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Path:
    """User files (configs, notes, foreign files, folders) and results of every kind."""
    from matplotlib.figure import Figure

    from teacherstudent.outputs import FIGURE_METADATA
    from teacherstudent.simulation.checkpoint import save_checkpoint

    d = tmp_path_factory.mktemp("contract")
    (d / "run.toml").write_text("[run]\nalpha_max = 5.0\nn_save = 10\n")
    (d / "bad.toml").write_text("[model\nK = ")
    (d / "lin.toml").write_text('[linear]\nd = 6\nk = 2\nrounds = 5\nseeds = 1\n'
                                'algorithms = ["arm", "anil"]\n')
    (d / "notes.txt").write_text("my notes, not a result\n")
    (d / "notes.png").write_text("not a figure of ours\n")
    (d / "own.pdf").write_text("a PDF of the user\n")
    (d / "folder").mkdir()
    (d / "dir.nc").mkdir()
    (d / "linconf.nc").write_text((d / "lin.toml").read_text())  # a config named like a result
    (d / "busy").mkdir()
    (d / "busy" / "photo.jpg").write_text("jpeg")
    xr.Dataset({"t2m": (("time",), np.arange(3.0))}).to_netcdf(d / "foreign.nc",
                                                               engine="h5netcdf")
    xr.Dataset({"dist": (("x",), np.arange(3.0))}).to_netcdf(d / "foreign_dist.nc",
                                                             engine="h5netcdf")
    save(ts.integrate(None, **{"run.alpha_max": 5.0, "run.n_save": 10}), d / "ode.nc")
    fig = Figure()
    fig.add_subplot().plot([0, 1])
    fig.savefig(d / "ode.png", metadata=FIGURE_METADATA[".png"])
    save(ts.integrate(None, **{"run.alpha_max": 50.0, "run.solver": "euler", "run.dt": 0.5,
                               "algorithm.eta_J": 50.0, "algorithm.eta_w": 50.0}),
         d / "diverged.nc")
    sim = ts.simulate(None, N=30, seeds=1, device="cpu", progress=False,
                      **{"run.alpha_max": 0.5, "run.n_save": 6})
    save(sim, d / "sim.nc")
    dead = sim.copy(deep=True)  # every replica diverged before the first save point
    for v in ("eg", "eg_pre", "eg_opt", "Q", "R", "w"):
        dead[v] = dead[v].where(dead.alpha == 0)
    dead.attrs.update(status=-1, message="diverged: seed 0 at alpha = 0.01")
    save(dead, d / "simdiv.nc")
    save(ts.linear.run({"linear": {"d": 6, "k": 2, "rounds": 5, "seeds": 1}}), d / "lin.nc")
    save_checkpoint(d / "old.ckpt.pt", {"fingerprint": "another run"})
    (d / "spec.toml").write_text(ODE_SPEC)
    (d / "spec_K.toml").write_text(ODE_SPEC.replace('"algorithm.eta_J" = [1.0, 2.0]',
                                                    '"model.K" = [3, 300]'))
    (d / "spec_unknown.toml").write_text(ODE_SPEC + "colour = 'red'\n")
    (d / "spec_kind.toml").write_text(ODE_SPEC.replace('"ode"', '"odes"'))
    (d / "spec_key.toml").write_text(ODE_SPEC.replace("eta_J", "eta_X"))
    (d / "spec_point.toml").write_text(ODE_SPEC.replace("2.0]", "-2.0]"))
    (d / "spec_save.toml").write_text('save = ["eg", "foo"]\n' + ODE_SPEC)
    (d / "spec_zip.toml").write_text('mode = "zip"\n' + ODE_SPEC
                                     + '"algorithm.eta_w" = [1.0]\n')
    (d / "spec_base.toml").write_text('base = "missing.toml"\n' + ODE_SPEC.split("[base.run]")[0]
                                      + '[grid]\n"algorithm.eta_J" = [1.0]\n')
    (d / "spec_ckpt.toml").write_text('kind = "simulate"\n[base.simulation]\nN = 30\n'
                                      'checkpoint_every = 0.1\n[grid]\n"simulation.seeds" = '
                                      '[1, 2]\n')
    return d


def _snapshot(root: Path) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


# --------------------------------------------------------------------------- the cases
@dataclass
class Case:
    """``argv`` for the CLI, or ``call`` (an API call, status 2 meaning ConfigError)."""

    name: str
    argv: list[str] | None = None
    status: int = 2
    needle: str | tuple[str, ...] = ()
    call: Callable[[], object] | None = None
    replaces: tuple[str, ...] = ()  # results the case may replace (with --force)
    check: Callable[[Path], None] | None = None  # what a run kept

    def __post_init__(self):
        if isinstance(self.needle, str):
            self.needle = (self.needle,)


def C(name, argv, status=2, needle=(), **kw) -> Case:
    return Case(name, argv.split() if isinstance(argv, str) else argv, status, needle, **kw)


def A(name, call, needle) -> Case:
    return Case(f"api {name}", None, 2, needle, call=call)


def _kept_interrupt_free(path: str, status: int) -> Callable[[Path], None]:
    def check(d: Path) -> None:
        ds = load(d / path)
        assert int(ds.attrs["status"]) == status, ds.attrs["message"]

    return check


def _set(*pairs: str) -> list[str]:
    out = []
    for p in pairs:
        out += ["--set", p]
    return out


ODE = [
    C("ode init.seed = -1", ["ode", "run.toml", "-o", "x.nc", *_set("init.seed=-1")],
      needle="init.seed"),
    C("ode non-numeric save_alpha", ["ode", "-o", "x.nc", *_set("run.save_alpha=abc")],
      needle="run.save_alpha"),
    C("ode save_alpha with a string", ["ode", "-o", "x.nc", *_set('run.save_alpha=[1, "x"]')],
      needle="run.save_alpha"),
    C("ode config is a folder", "ode folder -o x.nc", needle=("folder", "is a folder")),
    C("ode config missing", "ode missing.toml -o x.nc", needle="missing.toml"),
    C("ode config malformed", "ode bad.toml -o x.nc", needle=("bad.toml", "TOML")),
    C("ode init.Q = 1e308", ["ode", "-o", "x.nc", *_set("init.Q=1e308")], needle="init.Q"),
    C("ode model.K = 0", ["ode", "-o", "x.nc", *_set("model.K=0")], needle="model.K"),
    C("ode model.K = 300 (size)", ["ode", "-o", "x.nc", *_set("model.K=300")],
      needle=("model.K", "run.check_size")),
    C("ode alpha_max = 1e300 (work)", ["ode", "-o", "x.nc", *_set("run.alpha_max=1e300")],
      needle=("run.alpha_max", "run.check_size")),
    C("ode alpha_max = 1e12 euler (work)",
      ["ode", "-o", "x.nc", *_set("run.alpha_max=1e12", "run.solver=euler")],
      needle="run.alpha_max"),
    C("ode negative rate", ["ode", "-o", "x.nc", *_set("algorithm.eta_J=-1")],
      needle="algorithm.eta_J"),
    C("ode unknown algorithm", ["ode", "-o", "x.nc", *_set("algorithm.name=foo")],
      needle="algorithm.name"),
    C("ode unknown key", ["ode", "-o", "x.nc", *_set("model.bogus=1")], needle="model.bogus"),
    C("ode unknown table", ["ode", "-o", "x.nc", *_set("colour.red=1")], needle="[colour]"),
    C("ode --set without =", ["ode", "-o", "x.nc", "--set", "model.K"], needle="--set"),
    C("ode --set three parts", ["ode", "-o", "x.nc", *_set("a.b.c=1")], needle="table.key"),
    C("ode unknown solver", ["ode", "-o", "x.nc", *_set("run.solver=foo")],
      needle="run.solver"),
    C("ode n_save = 1", ["ode", "-o", "x.nc", *_set("run.n_save=1")], needle="run.n_save"),
    C("ode dt = 0", ["ode", "-o", "x.nc", *_set("run.dt=0")], needle="run.dt"),
    C("ode gamma = 2", ["ode", "-o", "x.nc", *_set("tasks.gamma=2")], needle="tasks.gamma"),
    C("ode R inconsistent", ["ode", "-o", "x.nc", *_set("init.R=3.0")], needle="init.R"),
    C("ode head_cov shape", ["ode", "-o", "x.nc", *_set("tasks.head_cov=[[1, 0], [0, 1]]")],
      needle="tasks.head_cov"),
    C("ode check_size not a bool", ["ode", "-o", "x.nc", *_set("run.check_size=maybe")],
      needle="run.check_size"),
    C("ode alpha_min_save >= alpha_max", ["ode", "run.toml", "-o", "x.nc",
                                          *_set("run.alpha_min_save=10")],
      needle="run.alpha_min_save"),
    C("ode save_alpha beyond alpha_max", ["ode", "run.toml", "-o", "x.nc",
                                          *_set("run.save_alpha=[1, 20]")],
      needle="run.save_alpha"),
    C("ode unknown activation", ["ode", "-o", "x.nc", *_set("model.activation=swish")],
      needle="model.activation"),
    C("ode -o its own config", "ode run.toml -o run.toml", needle=("run.toml", "own input")),
    C("ode -o foreign text", "ode run.toml -o notes.txt",
      needle=("notes.txt", "not a teacherstudent result")),
    C("ode -o foreign netCDF", "ode run.toml -o foreign.nc",
      needle=("foreign.nc", "not a teacherstudent result")),
    C("ode -o foreign even with --force", "ode run.toml -o notes.txt --force",
      needle="notes.txt"),
    C("ode -o own config even with --force", "ode run.toml -o run.toml --force",
      needle="own input"),
    C("ode -o existing result", "ode run.toml -o ode.nc --no-plot", needle=("ode.nc", "--force")),
    C("ode -o a folder", "ode run.toml -o folder", needle=("folder", "is a folder")),
    C("ode -o below a file", "ode run.toml -o notes.txt/x.nc",
      needle=("notes.txt", "not a folder")),
    C("ode --plot foreign", "ode run.toml -o new.nc --plot notes.png", needle="notes.png"),
    C("ode --plot a folder", "ode run.toml -o new.nc --plot folder", needle="folder"),
    C("ode --plot is the dataset", "ode run.toml -o new.nc --plot new.nc", needle="--plot"),
    C("ode --force keeps a foreign figure", "ode run.toml -o ode.nc --force --plot notes.png",
      needle="notes.png"),
    C("ode --extend missing", "ode --extend missing.nc -o x.nc", needle="missing.nc"),
    C("ode --extend foreign netCDF", "ode --extend foreign.nc -o x.nc", needle="foreign.nc"),
    C("ode --extend a text file", "ode --extend notes.txt -o x.nc", needle="notes.txt"),
    C("ode --extend with a config", "ode run.toml --extend ode.nc -o x.nc", needle="--extend"),
    C("ode --extend not further", "ode --extend ode.nc -o ode.nc", needle="run.alpha_max"),
    C("ode --extend diverged run", ["ode", "--extend", "diverged.nc", "-o", "x.nc",
                                    *_set("run.alpha_max=100")], needle="diverged.nc"),
    C("ode --extend onto foreign", ["ode", "--extend", "ode.nc", "-o", "notes.txt",
                                    *_set("run.alpha_max=10")], needle="notes.txt"),
    C("ode --extend onto another result", ["ode", "--extend", "ode.nc", "-o", "sim.nc",
                                           *_set("run.alpha_max=10")], needle="--force"),
    C("ode runs", "ode run.toml -o ode_new.nc -q", status=0,
      check=_kept_interrupt_free("ode_new.nc", 0)),
    C("ode replaces with --force", "ode run.toml -o ode.nc --no-plot -q --force", status=0,
      replaces=("ode.nc",)),
    C("ode diverges: exit 1, kept",
      ["ode", "-o", "ode_div.nc", "-q", "--no-plot",
       *_set("run.alpha_max=50", "run.solver=euler", "run.dt=0.5", "algorithm.eta_J=50",
             "algorithm.eta_w=50")],
      status=1, needle=("diverged", "alpha =", "ode_div.nc"),
      check=lambda d: load(d / "ode_div.nc").attrs["status"] < 0),
]

SIMULATE = [
    C("simulate --device foo", ["simulate", "run.toml", "-o", "s.nc", *TINY_SIM, "--device",
                                "foo"], needle=("simulation.device", "'foo'")),
    C("simulate --device cuda:x", ["simulate", "-o", "s.nc", *TINY_SIM, "--device", "cuda:x"],
      needle="simulation.device"),
    C("simulate --device tpu", ["simulate", "-o", "s.nc", *TINY_SIM, "--device", "tpu"],
      needle="simulation.device"),
    C("simulate --N 0", ["simulate", "-o", "s.nc", *TINY_SIM, "--N", "0"], needle="--N"),
    C("simulate --seeds 0", ["simulate", "-o", "s.nc", *TINY_SIM, "--seeds", "0"],
      needle="--seeds"),
    C("simulate N <= K + M", ["simulate", "-o", "s.nc", *TINY_SIM, "--N", "5"],
      needle="simulation.N"),
    C("simulate N = 1e9 (memory)", ["simulate", "-o", "s.nc", *TINY_SIM, "--N", "1000000000"],
      needle=("simulation.N", "simulation.check_size")),
    C("simulate seeds = 1e7 (memory)", ["simulate", "-o", "s.nc", *TINY_SIM, "--N", "1000",
                                        "--seeds", "10000000"],
      needle=("simulation.seeds", "simulation.check_size")),
    C("simulate alpha_max = 1e12 (time)", ["simulate", "-o", "s.nc", *TINY_SIM,
                                           *_set("run.alpha_max=1e12")],
      needle=("run.alpha_max", "simulation.check_size")),
    C("simulate check_size not a bool", ["simulate", "-o", "s.nc", *TINY_SIM,
                                         *_set("simulation.check_size=1")],
      needle="simulation.check_size"),
    C("simulate dtype float16", ["simulate", "-o", "s.nc", *TINY_SIM,
                                 *_set("simulation.dtype=float16")],
      needle="simulation.dtype"),
    C("simulate rng foo", ["simulate", "-o", "s.nc", *TINY_SIM, *_set("simulation.rng=foo")],
      needle="simulation.rng"),
    C("simulate base_seed -1", ["simulate", "-o", "s.nc", *TINY_SIM,
                                *_set("simulation.base_seed=-1")],
      needle="simulation.base_seed"),
    C("simulate device in config", ["simulate", "-o", "s.nc", "--N", "30", "--seeds", "1",
                                    *_set("simulation.device=tpu")],
      needle="simulation.device"),
    C("simulate init.seed -1", ["simulate", "-o", "s.nc", *TINY_SIM, *_set("init.seed=-1")],
      needle="init.seed"),
    C("simulate -o its own config", ["simulate", "run.toml", "-o", "run.toml", *TINY_SIM],
      needle="own input"),
    C("simulate -o foreign", ["simulate", "run.toml", "-o", "notes.txt", *TINY_SIM],
      needle="notes.txt"),
    C("simulate -o foreign with --force", ["simulate", "-o", "foreign.nc", *TINY_SIM,
                                           "--force"], needle="foreign.nc"),
    C("simulate -o existing result", ["simulate", "-o", "sim.nc", *TINY_SIM],
      needle=("sim.nc", "--force")),
    C("simulate -o a folder", ["simulate", "-o", "folder", *TINY_SIM], needle="folder"),
    C("simulate -o below a file", ["simulate", "-o", "notes.txt/s.nc", *TINY_SIM],
      needle="notes.txt"),
    C("simulate --checkpoint foreign", ["simulate", "-o", "s.nc", *TINY_SIM, "--checkpoint",
                                        "notes.txt"], needle=("checkpoint", "notes.txt")),
    C("simulate --checkpoint is the output", ["simulate", "-o", "s.nc", *TINY_SIM,
                                              "--checkpoint", "s.nc"], needle="checkpoint"),
    C("simulate --checkpoint is the config", ["simulate", "run.toml", "-o", "s.nc", *TINY_SIM,
                                              "--checkpoint", "run.toml"],
      needle=("checkpoint", "own input")),
    C("simulate existing checkpoint", ["simulate", "-o", "s.nc", *TINY_SIM, "--checkpoint",
                                       "old.ckpt.pt"], needle=("old.ckpt.pt", "--resume")),
    C("simulate --resume without checkpoint", ["simulate", "-o", "s.nc", *TINY_SIM,
                                               "--resume"], needle="--resume"),
    C("simulate --resume another run", ["simulate", "-o", "s.nc", *TINY_SIM, "--resume",
                                        "--checkpoint", "old.ckpt.pt"],
      needle=("old.ckpt.pt", "different run")),
    C("simulate --resume foreign checkpoint", ["simulate", "-o", "s.nc", *TINY_SIM,
                                               "--resume", "--checkpoint", "notes.txt"],
      needle="notes.txt"),
    C("simulate --dtype float16", ["simulate", "-o", "s.nc", *TINY_SIM, "--dtype", "float16"],
      needle="--dtype"),
    C("simulate runs", ["simulate", "run.toml", "-o", "sim_new.nc", *TINY_SIM, "-q"],
      status=0, check=_kept_interrupt_free("sim_new.nc", 0)),
    C("simulate diverges: exit 1, seed and alpha named",
      ["simulate", "-o", "sim_div.nc", *TINY_SIM, "-q", "--set", "run.alpha_max=2",
       *_set("algorithm.eta_J=60", "algorithm.eta_w=60")],
      status=1, needle=("diverged", "seed 0 at alpha", "sim_div.nc"),
      check=lambda d: np.isfinite(load(d / "sim_div.nc").diverged_alpha.values).all()),
]

COMPARE = [
    C("compare --device foo", ["compare", "-o", "c.nc", *TINY_SIM, "--device", "foo"],
      needle="'foo'"),
    C("compare -o its own config", ["compare", "run.toml", "-o", "run.toml", *TINY_SIM],
      needle="own input"),
    C("compare -o foreign", ["compare", "-o", "notes.txt", *TINY_SIM], needle="notes.txt"),
    C("compare -o existing result", ["compare", "-o", "sim.nc", *TINY_SIM],
      needle=("sim.nc", "--force")),
    C("compare --plot foreign", ["compare", "-o", "c.nc", "--plot", "notes.png", *TINY_SIM],
      needle="notes.png"),
    C("compare --plot a folder", ["compare", "-o", "c.nc", "--plot", "folder", *TINY_SIM],
      needle="folder"),
    C("compare --pdf onto a foreign PDF", ["compare", "-o", "c.nc", "--plot", "own.png",
                                           "--pdf", *TINY_SIM], needle="own.pdf"),
    C("compare --plot is the output", ["compare", "-o", "c.nc", "--plot", "c.nc", *TINY_SIM],
      needle="--plot"),
    C("compare --N 0", ["compare", "-o", "c.nc", *TINY_SIM, "--N", "0"], needle="--N"),
    C("compare --resume without checkpoint", ["compare", "-o", "c.nc", *TINY_SIM, "--resume"],
      needle="--resume"),
    C("compare init.seed -1", ["compare", "-o", "c.nc", *TINY_SIM, *_set("init.seed=-1")],
      needle="init.seed"),
    C("compare seeds = 1e7 (memory)", ["compare", "-o", "c.nc", *TINY_SIM, "--N", "1000",
                                       "--seeds", "10000000"], needle="simulation.seeds"),
    C("compare config is a folder", ["compare", "folder", "-o", "c.nc", *TINY_SIM],
      needle="folder"),
    C("compare existing checkpoint", ["compare", "-o", "c.nc", *TINY_SIM, "--checkpoint",
                                      "old.ckpt.pt"], needle="--resume"),
    C("compare runs", ["compare", "run.toml", "-o", "cmp_new.nc", *TINY_SIM, "-q"], status=0,
      check=lambda d: (d / "cmp_new.png").is_file()),
]

SWEEP = [
    C("sweep spec missing", "sweep missing.toml -o st", needle="missing.toml"),
    C("sweep spec is a folder", "sweep folder -o st", needle="folder"),
    C("sweep spec malformed", "sweep bad.toml -o st", needle="bad.toml"),
    C("sweep unknown spec key", "sweep spec_unknown.toml -o st", needle="colour"),
    C("sweep unknown kind", "sweep spec_kind.toml -o st", needle="kind"),
    C("sweep unknown grid key", "sweep spec_key.toml -o st", needle="algorithm.eta_X"),
    C("sweep invalid point", "sweep spec_point.toml -o st", needle=("grid point 1",
                                                                   "algorithm.eta_J")),
    C("sweep point too large", "sweep spec_K.toml -o st", needle=("grid point 1", "model.K")),
    C("sweep unknown save", "sweep spec_save.toml -o st", needle="foo"),
    C("sweep zip of unequal lists", "sweep spec_zip.toml -o st", needle="zip"),
    C("sweep base file missing", "sweep spec_base.toml -o st", needle="missing.toml"),
    C("sweep simulate with checkpoints", "sweep spec_ckpt.toml -o st",
      needle="checkpoint_every"),
    C("sweep -o its own spec", "sweep spec.toml -o spec.toml", needle="spec.toml"),
    C("sweep -o a file", "sweep spec.toml -o notes.txt", needle=("notes.txt", "is a file")),
    C("sweep -o a folder of other files", "sweep spec.toml -o busy",
      needle=("busy", "not a sweep store")),
    C("sweep -o below a file", "sweep spec.toml -o notes.txt/st", needle="notes.txt"),
    C("sweep --scheduler malformed", "sweep spec.toml -o st --scheduler foo",
      needle=("--scheduler", "'foo'")),
    C("sweep --scheduler bad port", "sweep spec.toml -o st --scheduler tcp://host:99999",
      needle="--scheduler"),
    C("sweep --scheduler with a path", "sweep spec.toml -o st --scheduler tcp://h:1/x/y",
      needle="--scheduler"),
    C("sweep --scheduler unreachable",
      "sweep spec.toml -o st --scheduler tcp://127.0.0.1:1 --scheduler-timeout 0.5",
      needle=("tcp://127.0.0.1:1", "cannot connect")),
    C("sweep --scheduler-timeout -1", "sweep spec.toml -o st --scheduler-timeout -1",
      needle="--scheduler-timeout"),
    C("sweep --workers 0", "sweep spec.toml -o st --workers 0", needle="--workers"),
    C("sweep --chunk-size 0", "sweep spec.toml -o st --chunk-size 0", needle="--chunk-size"),
    C("sweep --on-code-change foo", "sweep spec.toml -o st --on-code-change foo",
      needle="--on-code-change"),
]

PLOT = [
    C("plot missing file", "plot missing.nc", needle="missing.nc"),
    C("plot a folder", "plot folder", needle="folder"),
    C("plot a text file", "plot notes.txt", needle=("notes.txt", "netCDF")),
    C("plot a foreign netCDF", "plot foreign.nc", needle=("foreign.nc", "not a teacherstudent")),
    C("plot a foreign netCDF that looks linear", "plot foreign_dist.nc -o fd.png",
      needle="foreign_dist.nc"),
    C("plot ode as linear", "plot ode.nc --kind linear -o x.png", needle=("--kind", "ode")),
    C("plot ode as sweep", "plot ode.nc --kind sweep -o x.png", needle="--kind"),
    C("plot ode as compare", "plot ode.nc --kind compare -o x.png", needle="--kind"),
    C("plot linear as ode", "plot lin.nc --kind ode -o x.png", needle=("--kind", "linear")),
    C("plot simulation as ode", "plot sim.nc --kind ode -o x.png", needle="--kind"),
    C("plot linear as sweep", "plot lin.nc --kind sweep -o x.png", needle="--kind"),
    C("plot a fully diverged simulation", "plot simdiv.nc -o x.png",
      needle=("simdiv.nc", "nothing to draw", "diverged")),
    C("plot -o foreign", "plot ode.nc -o notes.png", needle="notes.png"),
    C("plot -o foreign with --force", "plot ode.nc -o notes.png --force", needle="notes.png"),
    C("plot -o the result itself", "plot ode.nc -o ode.nc", needle="own input"),
    C("plot -o existing figure", "plot ode.nc", needle=("ode.png", "--force")),
    C("plot -o a folder", "plot ode.nc -o folder", needle="folder"),
    C("plot -o below a file", "plot ode.nc -o notes.txt/x.png", needle="notes.txt"),
    C("plot --pdf onto a foreign PDF", "plot ode.nc -o own.png --pdf", needle="own.pdf"),
    C("plot replaces its figure with --force", "plot ode.nc --force", status=0,
      replaces=("ode.png",)),
    C("plot a simulation", "plot sim.nc -o sim_fig.png", status=0,
      check=lambda d: (d / "sim_fig.png").stat().st_size > 1000),
]

LINEAR = [
    C("linear d = 0", ["linear", "-o", "l.nc", *_set("linear.d=0")], needle="linear.d"),
    C("linear d = 1e8 (memory)", ["linear", "-o", "l.nc", *_set("linear.d=100000000")],
      needle=("linear.d", "linear.check_size")),
    C("linear seeds = 1e7 (memory)", ["linear", "-o", "l.nc", *_set("linear.seeds=10000000")],
      needle=("linear.seeds", "linear.check_size")),
    C("linear n_tasks = 1e8 (memory)", ["linear", "-o", "l.nc",
                                        *_set("linear.n_tasks=100000000")],
      needle="linear.n_tasks"),
    C("linear rounds = 1e12 (time)", ["linear", "-o", "l.nc", *_set("linear.rounds=1000000000000")],
      needle="linear.rounds"),
    C("linear k > d", ["linear", "-o", "l.nc", *_set("linear.k=30")], needle="linear.k"),
    C("linear unknown algorithm", ["linear", "-o", "l.nc", *_set('linear.algorithms=["foo"]')],
      needle="linear.algorithms"),
    C("linear unknown key", ["linear", "-o", "l.nc", *_set("bogus=1")], needle="linear.bogus"),
    C("linear check_size not a bool", ["linear", "-o", "l.nc", *_set("linear.check_size=2")],
      needle="linear.check_size"),
    C("linear -o not .nc", "linear -o out.txt", needle="--output"),
    C("linear -o foreign netCDF", "linear lin.toml -o foreign.nc", needle="foreign.nc"),
    C("linear -o existing result", "linear lin.toml -o lin.nc", needle=("lin.nc", "--force")),
    C("linear -o a folder", "linear lin.toml -o dir.nc", needle=("dir.nc", "is a folder")),
    C("linear --plot foreign", "linear lin.toml -o l.nc --plot notes.png", needle="notes.png"),
    C("linear --plot is the dataset", "linear lin.toml -o l.nc --plot l.nc", needle="--plot"),
    C("linear config is a folder", "linear folder -o l.nc", needle="folder"),
    C("linear config of the ODE", "linear run.toml -o l.nc", needle="[run]"),
    C("linear config malformed", "linear bad.toml -o l.nc", needle="bad.toml"),
    C("linear runs", "linear lin.toml -o lin_new.nc -q", status=0,
      check=lambda d: (d / "lin_new.png").is_file()),
    C("linear diverges: exit 1, round named",
      ["linear", "lin.toml", "-o", "lin_div.nc", "-q", "--no-plot",
       *_set("linear.alpha=50", "linear.rounds=20")],
      status=1, needle=("diverged", "at round", "lin_div.nc"),
      check=lambda d: (load(d / "lin_div.nc").diverged_round >= 0).any()),
]

STUDIES = ["--studies", str(ROOT / "simulations")]
REPRODUCE = [
    C("reproduce --out a file", ["reproduce", "default-run", "--out", "notes.txt", *STUDIES],
      needle=("--out", "notes.txt")),
    C("reproduce --out below a file", ["reproduce", "default-run", "--out", "notes.txt/figs",
                                       *STUDIES], needle="notes.txt"),
    C("reproduce --out the studies folder", ["reproduce", "default-run", "--out",
                                             str(ROOT / "simulations"), *STUDIES],
      needle="own input"),
    C("reproduce unknown study", ["reproduce", "no-such-study", "--out", "figs", *STUDIES],
      needle="no-such-study"),
    C("reproduce missing studies folder", "reproduce all --studies nowhere --out figs",
      needle="nowhere"),
]


def _sweep_api(store, **kw):
    from teacherstudent.sweep import run_sweep

    return lambda: run_sweep({"kind": "ode", "base": {"run": {"alpha_max": 5.0}},
                              "grid": {"algorithm.eta_J": [1.0]}}, store=store,
                              progress=False, **kw)


API = [
    A("integrate init.seed = -1", lambda: ts.integrate(None, **{"init.seed": -1}), "init.seed"),
    A("integrate overrides= init.seed = -1",
      lambda: ts.integrate(None, overrides={"init.seed": -1}), "init.seed"),
    A("integrate unknown initial key", lambda: ts.integrate(None, initial={"X": 1}),
      "initial"),
    A("integrate initial wrong shape", lambda: ts.integrate(None, initial={"Q": np.eye(2)}),
      "initial['Q']"),
    A("integrate initial non-finite",
      lambda: ts.integrate(None, initial={"w": [np.nan, 0.0, 0.0]}), "initial['w']"),
    A("integrate initial not numbers", lambda: ts.integrate(None, initial={"w": ["a", "b", "c"]}),
      "initial['w']"),
    A("integrate model.K = 300", lambda: ts.integrate(None, **{"model.K": 300}), "model.K"),
    A("integrate alpha_max = 1e300", lambda: ts.integrate(None, **{"run.alpha_max": 1e300}),
      "run.alpha_max"),
    A("integrate K a float32", lambda: ts.integrate(None, **{"model.K": np.float32(2.5)}),
      "model.K"),
    A("integrate unknown key", lambda: ts.integrate(None, **{"run.eta": 1.0}), "run.eta"),
    A("integrate a folder", lambda: ts.integrate(Path(".")), "is a folder"),
    A("simulate device foo", lambda: ts.simulate(None, N=30, seeds=1, device="foo",
                                                 progress=False), "simulation.device"),
    A("simulate N a string", lambda: ts.simulate(None, N="abc", seeds=1, progress=False),
      "simulation.N"),
    A("simulate N = 2.5", lambda: ts.simulate(None, N=2.5, seeds=1, progress=False),
      "simulation.N"),
    A("simulate seeds = 0", lambda: ts.simulate(None, N=30, seeds=0, progress=False),
      "simulation.seeds"),
    A("simulate dtype float16", lambda: ts.simulate(None, N=30, seeds=1, dtype="float16",
                                                    progress=False), "simulation.dtype"),
    A("simulate overrides= init.seed -1", lambda: ts.simulate(
        None, N=30, seeds=1, overrides={"init.seed": -1}, progress=False), "init.seed"),
    A("simulate dotted init.seed -1", lambda: ts.simulate(
        None, N=30, seeds=1, progress=False, **{"init.seed": -1}), "init.seed"),
    A("simulate N = 1e9", lambda: ts.simulate(None, N=10**9, seeds=1, progress=False),
      "simulation.N"),
    A("compare device foo", lambda: compare(None, N=30, seeds=1, device="foo"),
      "simulation.device"),
    A("extend a foreign netCDF", lambda: ts.ode.extend("foreign.nc"), "foreign.nc"),
    A("extend a missing file", lambda: ts.ode.extend("missing.nc"), "missing.nc"),
    A("linear d = 0", lambda: ts.linear.run({"linear": {"d": 0}}), "linear.d"),
    A("linear d = 1e8", lambda: ts.linear.run({"linear": {"d": 10**8}}), "linear.d"),
    A("sweep store is a file", _sweep_api("notes.txt"), "notes.txt"),
    A("sweep store of other files", _sweep_api("busy"), "busy"),
    A("sweep scheduler malformed", _sweep_api("st_api", scheduler="foo"), "--scheduler"),
]

CASES = ODE + SIMULATE + COMPARE + SWEEP + PLOT + LINEAR + REPRODUCE + API


def test_the_table_is_large_and_covers_every_command():
    assert len(CASES) >= 120, len(CASES)
    commands = {c.argv[0] for c in CASES if c.argv}
    assert commands == {"ode", "simulate", "compare", "sweep", "plot", "linear", "reproduce"}
    assert len({c.name for c in CASES}) == len(CASES)  # unique ids
    assert {c.status for c in CASES} == {0, 1, 2}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_contract(case: Case, ws: Path, capsys, monkeypatch):
    monkeypatch.chdir(ws)
    before = _snapshot(ws)
    if case.call is not None:
        with pytest.raises(ConfigError) as err:
            case.call()
        text, status = str(err.value), 2
    else:
        try:
            status = main(case.argv)
        except SystemExit as exc:  # argparse: usage and exit status 2
            status = exc.code
        cap = capsys.readouterr()
        text = cap.err
        assert "Traceback" not in cap.err and "Traceback" not in cap.out
    assert status == case.status, text
    for needle in case.needle:
        assert needle in text, f"{needle!r} not in {text!r}"
    if status == 2:
        assert text.count("\n") <= 3 or "usage:" in text, text  # one message
    after = _snapshot(ws)
    if status == 2:
        # refused before any work: nothing written, nothing changed
        assert after == before
    else:
        changed = [p for p, h in before.items() if after.get(p) != h]
        assert sorted(changed) == sorted(case.replaces), changed
    if case.check is not None:
        case.check(ws)


# --------------------------------------------------------------------------- overwrites
# Every command, pointed at a foreign file and at its own input, refuses (even with --force)
# and leaves both untouched; the same result is replaced only with --force.
OVERWRITE = {
    "ode": (["ode", "run.toml"], "-o", ".nc", ["-q", "--no-plot"]),
    "simulate": (["simulate", "run.toml", *TINY_SIM], "-o", ".nc", ["-q"]),
    "compare": (["compare", "run.toml", *TINY_SIM], "-o", ".nc", ["-q"]),
    "linear": (["linear", "linconf.nc"], "-o", ".nc", ["-q", "--no-plot"]),
    "plot": (["plot", "ode.nc"], "-o", ".png", []),
    "sweep": (["sweep", "spec.toml"], "-o", "", ["-q"]),
    "reproduce": (["reproduce", "default-run", "--studies", str(ROOT / "simulations")],
                  "--out", "", []),
}
OWN_INPUT = {"reproduce": str(ROOT / "simulations")}


@pytest.mark.parametrize("command", sorted(OVERWRITE))
def test_every_command_refuses_foreign_files_and_its_own_input(command, ws, capsys,
                                                                monkeypatch):
    monkeypatch.chdir(ws)
    base, flag, suffix, extra = OVERWRITE[command]
    own = OWN_INPUT.get(command, base[1])
    foreign = ws / f"mine{suffix or '.txt'}"
    foreign.write_text("the user's own file\n")
    try:
        before = _snapshot(ws)
        for target in (foreign.name, own):
            for force in ([], ["--force"] if command not in ("sweep", "reproduce") else []):
                argv = [*base, flag, target, *extra, *force]
                assert main(argv) == 2, argv
                err = capsys.readouterr().err
                assert target in err and "Traceback" not in err, err
                assert _snapshot(ws) == before
    finally:
        foreign.unlink()


def test_a_result_is_replaced_only_with_force(ws, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "run.toml").write_text((ws / "run.toml").read_text())
    argv = ["ode", "run.toml", "-o", "r.nc", "-q", "--no-plot"]
    assert main(argv) == 0
    first = (tmp_path / "r.nc").read_bytes()
    assert main(argv) == 2 and "--force" in capsys.readouterr().err
    assert (tmp_path / "r.nc").read_bytes() == first
    assert main([*argv, "--force"]) == 0
    assert ts.dataset.load(tmp_path / "r.nc").attrs["status"] == 0
    # the one exception: --extend A -o A replaces A by the longer run (every old point kept)
    assert main(["ode", "--extend", "r.nc", "-o", "r.nc", "-q", "--no-plot",
                 "--set", "run.alpha_max=8"]) == 0
    ext = ts.dataset.load(tmp_path / "r.nc")
    assert math.isclose(float(ext.alpha[-1]), 8.0)


def test_a_late_write_failure_goes_to_a_fallback(tmp_path, capsys, monkeypatch):
    """The checks pass, the disk fails at the end: the result is saved elsewhere, named."""
    from teacherstudent import dataset

    real = dataset.save
    calls = []

    def flaky(ds, path):
        calls.append(path)
        if len(calls) == 1:
            raise OSError(28, "No space left on device")
        return real(ds, path)

    monkeypatch.setattr(dataset, "save", flaky)
    out = tmp_path / "r.nc"
    assert main(["ode", "-o", str(out), "-q", "--no-plot", "--set", "run.alpha_max=5"]) == 0
    err = capsys.readouterr().err
    assert "No space left" in err and "saved to" in err
    fallback = Path(str(calls[1]))
    assert fallback != out and ts.dataset.load(fallback).attrs["status"] == 0
    fallback.unlink()


def test_figures_are_marked_as_ours(ws):
    from teacherstudent.outputs import is_result

    assert is_result(ws / "ode.png") and not is_result(ws / "notes.png")
    assert is_result(ws / "old.ckpt.pt")  # simulation checkpoints carry the marker
