"""Write the sphinx-gallery sources of the study gallery from ``simulations/``.

Every study of the repository (``simulations/NAME.toml`` + ``NAME.py``, found by
:func:`teacherstudent.studies.discover`) gets one gallery page, generated into
``docs/gallery/`` before sphinx-gallery runs (the folder is rebuilt at every build and is
not committed). A page shows

* the study's one-line description, the command that regenerates it, and its committed
  figure from ``figures/`` (which is also the thumbnail);
* what the figure shows, with its numbers: the study's section of ``figures/README.md``;
* the numbers as the study wrote them (``figures/data/*.json`` or the ``.txt`` table), by a
  small script that sphinx-gallery executes;
* the declaration (``NAME.toml``) and the code (``NAME.py``).

Heavy studies are not run by the documentation build (the gallery must build in a few
minutes on two cores); the studies in :data:`EXECUTED` take seconds, and their pages run them
again while the documentation is built and compare the fresh numbers with the committed ones.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

#: Studies quick enough to run while the documentation is built (a few seconds each).
EXECUTED = ("default-run",)

SECTIONS = {
    "ode": ("1_ode", "Order-parameter ODEs (nonlinear teacher–student meta-learning)",
            "Each study integrates the order-parameter ODEs (N → ∞, P = ∞) on a grid of "
            "settings. Unless a page says otherwise the setting is the default run: FO-ANIL, "
            "K = M = 3, readout 1/√K, T = I, u ~ N(0, I), η_J = η_0 = 3, inner head rate "
            "η_w = 9, one inner step, Q(0) = 0.5·I, R(0) random of scale 1e-3, w(0) = 0, "
            "α_final = 450."),
    "simulation": ("2_simulation", "Simulations against theory",
                   "Monte Carlo simulations of the finite-N networks (PyTorch), each compared "
                   "with the ODEs from the same measured initial overlaps."),
    "linear": ("3_linear", "Linear representation learning",
               "Population and finite-sample dynamics of linear representation learning "
               "(MAML, ANIL, their first-order versions, ARM, FedAvg, Reptile, iMAML, "
               "FedRep) and the 1-D \"MAML needs depth\" model."),
}


def _figure_stem(name: str, figures: Path) -> str | None:
    for png in sorted(figures.glob("*.png")):
        stem = png.stem
        if stem == name or re.fullmatch(rf"(fig\d+|sim)-{re.escape(name)}", stem):
            return stem
    return None


def _section(stem: str, study_path: Path, simulations: Path) -> str:
    if study_path.parent != simulations:
        return "linear"
    return "simulation" if stem.startswith("sim-") else "ode"


def _readme_sections(readme: Path) -> dict[str, str]:
    """``{figure stem: markdown}`` of the ``### `stem` — ...`` sections of figures/README.md."""
    text = readme.read_text(encoding="utf-8") if readme.exists() else ""
    out: dict[str, str] = {}
    parts = re.split(r"^(#{2,3} .*)$", text, flags=re.M)
    for head, body in zip(parts[1::2], parts[2::2], strict=True):
        m = re.match(r"### `([^`]+)`", head)
        if m:
            out[m.group(1)] = body.strip()
    return out


def _html(markdown: str) -> str:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable("table").render(markdown)


def _indent(text: str, n: int = 3) -> str:
    return "\n".join((" " * n + line) if line.strip() else "" for line in text.splitlines())


def _page(study, stem: str, notes: str, root: Path, executed: bool) -> str:
    rel_py = study.path.relative_to(root).as_posix()
    rel_toml = study.path.with_suffix(".toml").relative_to(root).as_posix()
    data_json = root / "figures" / "data" / f"{study.path.stem}.json"
    table_txt = root / "figures" / f"{stem}.txt"
    title = f"{study.name}"
    desc = study.description.rstrip(".")
    lines = [
        'r"""',
        title,
        "=" * len(title),
        "",
        _escape(desc) + ".",
        "",
        f"Regenerate it from the repository root with ``teacherstudent reproduce {study.name} "
        "--out figures/``; the declaration is "
        f"``{rel_toml}`` and the code ``{rel_py}``, both shown at the end of this page.",
        "",
        f".. image:: /../figures/{stem}.png",
        f"   :alt: {stem}: {_escape(desc)}",
        "   :width: 100%",
        "",
        f"*The committed figure* ``figures/{stem}.png`` (a PDF lies beside it).",
        "",
    ]
    if notes:
        lines += ["What it shows", "-------------", "", ".. raw:: html", "",
                  _indent('<div class="ts-notes">\n' + _html(notes) + "</div>"), ""]
    lines += ['"""', "", "# %%", "# The numbers", "# -----------", "#"]
    if data_json.exists():
        rel = data_json.relative_to(root).as_posix()
        lines += [
            f"# The scalar numbers the study wrote to ``{rel}`` (the file also holds the",
            "# arrays behind the figure):", "",
            f"# sphinx_gallery_thumbnail_path = '../figures/{stem}.png'",
            "import json",
            "from pathlib import Path", "",
            "ROOT = Path('../../..').resolve()  # the repository root, seen from this page", "",
            f"committed = json.loads((ROOT / '{rel}').read_text())",
            "for key, value in committed.items():",
            "    if isinstance(value, (int, float, str)):",
            "        print(f'{key:28s} {value}')",
            "",
        ]
    elif table_txt.exists():
        rel = table_txt.relative_to(root).as_posix()
        lines += [f"# The table the study wrote beside its figure, ``{rel}``:", "",
                  f"# sphinx_gallery_thumbnail_path = '../figures/{stem}.png'",
                  "from pathlib import Path", "",
                  "ROOT = Path('../../..').resolve()  # the repository root, seen from this page",
                  "", f"print((ROOT / '{rel}').read_text())", ""]
    else:
        lines += ["# This study writes no data file: its numbers are those quoted above (from",
                  "# ``figures/README.md``). The files it wrote to ``figures/``:", "",
                  f"# sphinx_gallery_thumbnail_path = '../figures/{stem}.png'",
                  "from pathlib import Path", "",
                  "ROOT = Path('../../..').resolve()  # the repository root, seen from this page",
                  "", f"for path in sorted((ROOT / 'figures').glob('{stem}.*')):",
                  "    print(path.relative_to(ROOT))", ""]
    if executed:
        lines += [
            "# %%",
            "# Run again now",
            "# -------------",
            "#",
            "# This study takes seconds, so the documentation build runs it again and compares",
            "# its numbers with the committed ones.",
            "",
            "import tempfile",
            "import time",
            "",
            "from teacherstudent.studies import discover",
            "",
            f"study = discover(ROOT / 'simulations')['{study.name}']",
            "with tempfile.TemporaryDirectory() as tmp:",
            "    start = time.perf_counter()",
            "    study(tmp)",
            "    seconds = time.perf_counter() - start",
        ]
        if data_json.exists():
            lines += [
                f"    fresh = json.loads((Path(tmp) / 'data' / '{data_json.name}').read_text())",
                "print(f'ran in {seconds:.1f} s')",
                "print(f\"{'number':28s} {'committed':>14s} {'now':>14s}\")",
                "for key, value in committed.items():",
                "    if isinstance(value, float) and key != 'wall_time_s':",
                "        print(f'{key:28s} {value:14.6g} {fresh[key]:14.6g}')",
                "",
            ]
        else:
            lines += ["print(f'ran in {seconds:.1f} s')", ""]
    lines += [
        "# %%",
        "# The declaration and the code",
        "# ----------------------------",
        "#",
        f"# ``{rel_toml}``:",
        "#",
        f"# .. literalinclude:: /../{rel_toml}",
        "#    :language: toml",
        "#",
        f"# ``{rel_py}`` (its ``run(out_dir)`` is what ``teacherstudent reproduce`` calls):",
        "#",
        f"# .. literalinclude:: /../{rel_py}",
        "#    :language: python",
        "",
    ]
    return "\n".join(lines)


def _escape(text: str) -> str:
    for ch in ("\\", "*", "`", "|"):
        text = text.replace(ch, "\\" + ch)
    return re.sub(r"(\w)_(?=\W|$)", r"\1\\_", text)


def generate(root: Path, out: Path) -> list[Path]:
    """Write the gallery sources for every study of ``root/simulations`` into ``out``.

    Parameters
    ----------
    root : Path
        The repository root.
    out : Path
        The folder sphinx-gallery reads (``docs/gallery``); it is emptied first.

    Returns
    -------
    list of Path
        The pages written.
    """
    from teacherstudent.studies import discover

    simulations = root / "simulations"
    figures = root / "figures"
    notes = _readme_sections(figures / "README.md")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / "GALLERY_HEADER.rst").write_text(_gallery_header(), encoding="utf-8")
    for folder, title, text in SECTIONS.values():
        (out / folder).mkdir()
        (out / folder / "GALLERY_HEADER.rst").write_text(
            f"{title}\n{'-' * len(title)}\n\n{text}\n", encoding="utf-8")
    written = []
    order = {"ode": [], "simulation": [], "linear": []}
    for study in discover(simulations).values():
        stem = _figure_stem(study.name, figures)
        if stem is None:
            continue  # a study without a committed figure has no page
        order[_section(stem, study.path, simulations)].append((stem, study))
    for key, items in order.items():
        items.sort(key=lambda it: _sort_key(it[0]))
        for i, (stem, study) in enumerate(items, start=1):
            page = out / SECTIONS[key][0] / f"plot_{i:02d}_{study.path.stem.replace('-', '_')}.py"
            page.write_text(_page(study, stem, notes.get(stem, ""), root,
                                  study.name in EXECUTED), encoding="utf-8")
            written.append(page)
    return written


def theory_pages(theory: Path, out: Path) -> list[Path]:
    """One page in ``out`` per ``theory/*.md``, its text as it is (``README.md`` → ``scripts``).

    The relative layout is the same (``docs/theory/NAME.md`` for ``theory/NAME.md``), so the
    links between the theory files keep working; links to the scripts beside them
    (``integrals.py``) are pointed at the files in ``theory/``, which the site offers as
    downloads.
    """
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    pages = []
    for md in sorted(theory.glob("*.md")):
        name = "scripts" if md.name == "README.md" else md.stem
        text = md.read_text(encoding="utf-8")
        text = re.sub(r"\]\((?![a-z]+:|#|/)([^)\s]+?\.(?!md\b)[A-Za-z0-9]+)\)",
                      lambda m: f"](../../theory/{m.group(1)})"
                      if (theory / m.group(1)).exists() else m.group(0), text)
        page = out / f"{name}.md"
        page.write_text(f"<!-- generated from theory/{md.name} by docs/conf.py -->\n\n{text}",
                        encoding="utf-8")
        pages.append(page)
    return pages


def _sort_key(stem: str) -> tuple[int, str]:
    m = re.match(r"fig(\d+)-", stem)
    return (int(m.group(1)), stem) if m else (10**6, stem)


def subsection_order(out: Path) -> list[str]:
    """The gallery's sections in order (for ``sphinx_gallery_conf['subsection_order']``)."""
    return [f"gallery/{folder}" for folder, _, _ in SECTIONS.values()]


def _gallery_header() -> str:
    return """Study gallery
=============

Every figure of the repository's gallery (``figures/``) with the numbers it quotes. Each is
one study in ``simulations/``: a declaration ``NAME.toml`` beside its code ``NAME.py``.
``teacherstudent reproduce NAME --out figures/`` (from the repository root) regenerates one,
``teacherstudent reproduce all --out figures/`` all of them, and
``teacherstudent reproduce --list`` lists them.

The pages show the committed figures; the heavy studies (minutes each) are not re-run when
the documentation is built, the quick ones are, and their pages compare the fresh numbers
with the committed ones.

**Definitions used throughout** (:mod:`teacherstudent.analysis`). The *plateau* is the first
stretch of at least 0.25 decades of α where \\|d ln ε/d ln α\\| < 0.05; its height is the median
ε over it. The *escape time* α\\* is the first α after the plateau's start with ε below 0.9
times its height. *α(ε ≤ 0.01)* is the solver's event time (``run.eg_threshold = 0.01``).
The *specialization* S is the mean \\|r\\| of each teacher unit's assigned student unit minus
the mean \\|r\\| of the others, on the normalised overlaps r = R/√(Q T): S = 1 when every
teacher unit has its own student unit, S ≈ 0 in the unspecialised (symmetric) state.
"""
