"""teacherstudent.plotting: one figure design per result kind, from the command that computes
the result and from ``teacherstudent plot FILE``; ``ax=``/``fig=``; no file without a path;
sweep figures name parameters by their symbols."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from matplotlib.figure import Figure

from teacherstudent import plotting
from teacherstudent.cli import main
from teacherstudent.dataset import load, save
from teacherstudent.plotting import plt
from teacherstudent.plotting.linear import plot_run


def _signature(fig: Figure):
    """What makes a figure's design: its panels with their labels, scales, titles and legend
    entries, and the figure title."""
    panels = []
    for ax in fig.axes:
        leg = ax.get_legend()
        panels.append((
            ax.get_xlabel(), ax.get_ylabel(), ax.get_xscale(), ax.get_yscale(),
            ax.get_title(loc="left"),
            tuple(t.get_text() for t in leg.get_texts()) if leg is not None else (),
        ))
    sup = fig.get_suptitle() if hasattr(fig, "get_suptitle") else ""
    return panels, sup


class _Saved:
    """Records every figure written (figure, path): Figure.savefig calls and the PNGs that
    the shared style writes from one render (plotting.style._tight_png)."""

    def __init__(self, mp: pytest.MonkeyPatch):
        from teacherstudent.plotting import style

        self.calls: list[tuple[Figure, str]] = []
        original = Figure.savefig
        original_png = style._tight_png

        def spy(fig, fname, *args, **kwargs):
            self.calls.append((fig, str(fname)))
            return original(fig, fname, *args, **kwargs)

        def spy_png(fig, path, *args, **kwargs):
            written = original_png(fig, path, *args, **kwargs)
            if written:
                self.calls.append((fig, str(path)))
            return written

        mp.setattr(Figure, "savefig", spy)
        mp.setattr(style, "_tight_png", spy_png)

    def figure(self, path) -> Figure:
        hits = [f for f, p in self.calls if p == str(path)]
        assert hits, f"no figure written to {path}; written: {[p for _, p in self.calls]}"
        return hits[-1]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Every kind computed by its command (which draws it) and drawn again by
    ``teacherstudent plot``: {kind: (dataset, command figure, plot figure)}."""
    d = tmp_path_factory.mktemp("runs")
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        saved = _Saved(mp)

        def both(kind, argv, nc):
            assert main(argv) == 0
            cmd = saved.figure(nc.with_suffix(".png"))
            again = d / f"{kind}-plot.png"
            assert main(["plot", str(nc), "-o", str(again)]) == 0
            return cmd, saved.figure(again)

        nc = d / "ode.nc"
        figs = both("ode", ["ode", "-o", str(nc), "-q", "--set", "run.alpha_max=20"], nc)
        out["ode"] = (load(nc), *figs)

        nc = d / "cmp.nc"
        tiny = ["--N", "50", "--seeds", "2", "--set", "run.alpha_max=2", "--set",
                "run.n_save=15", "--device", "cpu", "-q", "--no-progress"]
        figs = both("compare", ["compare", *tiny, "-o", str(nc)], nc)
        out["compare"] = (load(nc), *figs)

        nc = d / "lin.nc"
        figs = both("linear", ["linear", "-o", str(nc), "-q", "--set", "linear.rounds=20",
                               "--set", "linear.d=8", "--set", "linear.seeds=2",
                               "--set", 'linear.algorithms=["anil", "arm"]'], nc)
        out["linear"] = (xr.load_dataset(nc, engine="h5netcdf"), *figs)

        sim = d / "sim.nc"
        assert main(["simulate", *tiny, "-o", str(sim)]) == 0
        assert main(["plot", str(sim), "-o", str(d / "sim-plot.png")]) == 0
        out["simulate"] = (load(sim), None, saved.figure(d / "sim-plot.png"))
    return out


@pytest.mark.parametrize("kind", ["ode", "compare", "linear"])
def test_command_and_plot_draw_the_same_design(runs, kind):
    _, from_command, from_plot = runs[kind]
    assert _signature(from_command) == _signature(from_plot)
    panels = {"ode": 5, "compare": 3, "linear": 2}[kind]
    labelled = [ax for ax in from_command.axes if ax.get_xlabel() and ax.get_ylabel()]
    assert len(labelled) == panels
    assert any(ax.get_legend() is not None for ax in from_command.axes)


def test_compare_figure_shows_theory_and_simulation(runs):
    _, fig, _ = runs["compare"]
    ax_e, ax_R, ax_Q = fig.axes[:3]
    texts = [t.get_text() for t in ax_e.get_legend().get_texts()]
    assert any("theory" in t for t in texts) and any("simulation" in t for t in texts)
    assert "R" in ax_R.get_ylabel() and "Q" in ax_Q.get_ylabel()
    # theory lines above the simulation markers, which never hide them
    lines = [ln for ln in ax_R.get_lines() if len(set(np.asarray(ln.get_ydata()))) > 1]
    theory = [ln for ln in lines if ln.get_marker() in ("None", "", None)]
    sims = [ln for ln in lines if ln.get_marker() not in ("None", "", None)]
    assert theory and sims
    assert min(ln.get_zorder() for ln in theory) > max(ln.get_zorder() for ln in sims)


def test_simulation_result_has_the_compare_design(runs):
    _, compare_fig, _ = runs["compare"]
    _, _, sim_fig = runs["simulate"]

    def panels(fig):
        return [(ax.get_xlabel(), ax.get_ylabel(), ax.get_title(loc="left"))
                for ax in fig.axes]

    assert panels(sim_fig) == panels(compare_fig)
    legend = [t.get_text() for t in sim_fig.axes[0].get_legend().get_texts()]
    assert legend and not any("theory" in t for t in legend)


def _sweep(ndim: int) -> xr.Dataset:
    alpha = np.logspace(-2, 2, 40)
    eJ, ew = np.array([1.0, 2.0, 5.0]), np.array([3.0, 9.0, 27.0])
    rate = eJ[:, None] * ew[None, :] / 100
    eg = (1 / 6) / (1 + (alpha[None, None, :] * rate[:, :, None]) ** 4)
    attrs = {"algorithm.name": "fo-anil", "model.K": 3, "model.M": 3,
             "algorithm.eta_J": 3.0, "algorithm.eta_w": 9.0, "kind": "sweep"}
    if ndim == 2:
        return xr.Dataset({"eg": (("algorithm.eta_J", "algorithm.eta_w", "alpha"), eg)},
                          coords={"algorithm.eta_J": eJ, "algorithm.eta_w": ew,
                                  "alpha": alpha}, attrs=attrs)
    return xr.Dataset({"eg": (("algorithm.eta_J", "alpha"), eg[:, 1])},
                      coords={"algorithm.eta_J": eJ, "alpha": alpha}, attrs=attrs)


def _all_text(fig: Figure) -> list[str]:
    out = [fig.get_suptitle() if hasattr(fig, "get_suptitle") else ""]
    for ax in fig.axes:
        out += [ax.get_xlabel(), ax.get_ylabel(), ax.get_title(loc="left"), ax.get_title()]
        leg = ax.get_legend()
        if leg is not None:
            out += [t.get_text() for t in leg.get_texts()]
    return out


def test_sweep_axes_use_symbols_and_title_hides_swept_base_values(tmp_path, monkeypatch):
    saved = _Saved(monkeypatch)
    nc = save(_sweep(2), tmp_path / "sweep.nc")
    assert main(["plot", str(nc), "-o", str(tmp_path / "s.png")]) == 0
    fig = saved.figure(tmp_path / "s.png")
    maps = [ax for ax in fig.axes if ax.get_xlabel()]
    assert len(maps) == 2
    for ax in maps:
        assert ax.get_xlabel() == r"$\eta_w$" and ax.get_ylabel() == r"$\eta_J$"
    title = fig.get_suptitle()
    assert "FO-ANIL" in title and "K=3" in title
    assert r"\eta_J" not in title and r"\eta_w" not in title  # both swept: no base value
    assert not any("algorithm." in t for t in _all_text(fig))

    one = plotting.plot_sweep(_sweep(1))
    texts = _all_text(one)
    assert r"$\eta_J$" in [ax.get_xlabel() for ax in one.axes]
    assert r"$\eta_J=2$" in texts  # the curves' legend
    title = one.get_suptitle()
    assert r"\eta_J" not in title and r"$\eta_w=9$" in title  # η_w is not swept: shown
    assert not any("algorithm." in t for t in texts)
    plt.close("all")


def test_param_symbols():
    assert plotting.param_label("algorithm.eta_J") == r"$\eta_J$"
    assert plotting.param_label("eta_w") == r"$\eta_w$"
    assert plotting.param_label("tasks.head_cov") == r"$\Sigma_u$"
    assert plotting.param_label("algorithm.inner_steps") == "$s$"
    assert plotting.param_label("no.such_key") == "no.such_key"
    assert plotting.param_value("algorithm.eta_J", 3.0) == r"$\eta_J=3$"
    title = plotting.run_title({"algorithm.name": "anil", "algorithm.eta_J": 3.0,
                                "algorithm.eta_w": 9.0}, exclude=["algorithm.eta_J"])
    assert title == r"ANIL,  $\eta_w=9$"


def _draw_all(runs):
    """Every figure function, called with the keywords it is given."""
    ds = {k: v[0] for k, v in runs.items()}
    calls = {
        "ode": lambda kw: plotting.plot_ode(ds["ode"], **kw),
        "heatmaps": lambda kw: plotting.plot_heatmaps(ds["ode"], [5.0, 20.0], **kw),
        "compare": lambda kw: plotting.plot_compare(ds["compare"], **kw),
        "simulate": lambda kw: plotting.plot_compare(ds["simulate"], **kw),
        "sweep": lambda kw: plotting.plot_sweep(_sweep(2), **kw),
        "sweep-1d": lambda kw: plotting.plot_sweep(_sweep(1), **kw),
        "linear": lambda kw: plotting.plot_linear(ds["linear"], **kw),
        "linear-run": lambda kw: plot_run(ds["linear"], **kw),
    }
    return calls


def test_ax_and_fig_are_honoured(runs):
    for name, draw in _draw_all(runs).items():
        fig, ax = plt.subplots(figsize=(12, 8))
        out = draw({"ax": ax})
        assert out is fig, name
        assert len(fig.axes) >= 1
        fig2 = plt.figure(figsize=(12, 8))
        assert draw({"fig": fig2}) is fig2, name
        assert fig2.axes, name
        plt.close(fig)
        plt.close(fig2)
    # one Axes per panel
    fig, axes = plt.subplots(1, 3)
    assert plotting.plot_compare(runs["compare"][0], ax=axes) is fig
    assert axes[0].get_ylabel() == plotting.EG_LABEL
    plt.close(fig)


def test_no_file_without_a_path(runs, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    saved = _Saved(monkeypatch)
    for name, draw in _draw_all(runs).items():
        out = draw({})
        assert isinstance(out, Figure), name
        plt.close(out)
    assert saved.calls == []
    assert list(tmp_path.iterdir()) == []


def test_with_a_path_png_and_pdf_and_the_figure_is_returned(runs, tmp_path):
    out = plotting.plot_compare(runs["compare"][0], tmp_path / "c.png", pdf=True)
    assert isinstance(out, Figure)
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "c.pdf").read_bytes()[:4] == b"%PDF"
    plt.close(out)


def test_plot_result_dispatches_by_kind(runs):
    for kind in ("ode", "compare", "linear"):
        fig = plotting.plot_result(runs[kind][0])
        assert _signature(fig)[0] == _signature(runs[kind][1])[0]
        plt.close(fig)


def test_cli_closes_its_figures(runs, tmp_path):
    before = len(plt.get_fignums())
    nc = save(runs["ode"][0], tmp_path / "o.nc")
    for _ in range(2):
        # the second run replaces the first one's figure: --force (outputs rule)
        assert main(["plot", str(nc), "-o", str(tmp_path / "o.png"), "--force"]) == 0
    assert len(plt.get_fignums()) == before


def _png(path):
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB")).astype(int), dict(im.info)


@pytest.mark.parametrize("title_y", [0.98, 1.15])
def test_png_from_one_render_is_savefigs_tight_png(tmp_path, title_y):
    """plotting.savefig writes a PNG from one render (cut to the tight box); it is the PNG
    of Figure.savefig(bbox_inches="tight") up to a sub-pixel shift. A title above the
    figure (title_y = 1.15) needs a larger canvas: then savefig itself writes it."""
    with plt.rc_context(plotting.STYLE):
        fig = plt.figure(figsize=(5, 3.5))
        ax = fig.add_subplot()
        x = np.logspace(-2, 3, 50)
        ax.loglog(x, 1 / (1 + x), label=r"$\varepsilon_g$")
        ax.set_xlabel(plotting.ALPHA_LABEL)
        ax.set_ylabel(plotting.EG_LABEL)
        ax.legend()
        fig.suptitle("a title", y=title_y)
    ours = plotting.savefig(fig, tmp_path / "ours.png", close=False)
    fig.savefig(tmp_path / "ref.png", dpi=plotting.STYLE["savefig.dpi"], bbox_inches="tight")
    plt.close(fig)
    a, info = _png(ours)
    b, _ = _png(tmp_path / "ref.png")
    assert info["Software"] == "teacherstudent"  # the marker of our results
    assert abs(a.shape[0] - b.shape[0]) <= 2 and abs(a.shape[1] - b.shape[1]) <= 2
    h, w = min(a.shape[0], b.shape[0]) - 2, min(a.shape[1], b.shape[1]) - 2
    best = min(np.abs(a[dy:dy + h, dx:dx + w] - b[1:1 + h, 1:1 + w]).mean()
               for dy in range(3) for dx in range(3))
    assert best < 8  # of 255: antialiasing at a sub-pixel shift, the same picture
    blank = np.abs(a - 255).mean()  # negative control: the comparison sees the content
    assert blank > 4 * best + 1


def test_ode_figure_of_the_plain_arrays_is_that_of_the_dataset():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from teacherstudent.ode import integrate_table

    t = integrate_table(None, **{"run.alpha_max": 60.0, "run.n_save": 80})
    pixels = []
    for ds in (t, t.to_xarray()):
        fig = plotting.plot_ode(ds)
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        pixels.append(np.asarray(canvas.buffer_rgba()).copy())
        plt.close(fig)
    np.testing.assert_array_equal(pixels[0], pixels[1])
