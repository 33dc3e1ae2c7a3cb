"""The documentation's sources, cheaply (the full Sphinx build is its own CI step).

* ``CITATION.cff`` is valid (Citation File Format 1.2.0) and lists the package and the papers
  it implements;
* every key of every configuration table has a meaning, a type and a constraint, and the
  generated reference shows them; every sweep-spec key has a meaning;
* the README links only to files inside the repository;
* no file a user reads points to documents outside the repository;
* the gallery generator gives every committed figure a page; the docs' own checker of the
  built site catches a CDN script.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest
import yaml

from teacherstudent import config as model_config
from teacherstudent import reference
from teacherstudent.linear import config as linear_config
from teacherstudent.sweep.spec import SPEC_DOCS, SPEC_KEYS
from teacherstudent.validation import ConfigError, describe, described

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- CITATION.cff
PAPERS = {  # what must be cited: a fragment of the title and an identifier
    "Saad & Solla 1995": ("soft committee machines", "10.1103/PhysRevE.52.4225"),
    "Goldt et al. 2019": ("teacher-student setup", "1906.08632"),
    "meta-learning paper": ("Meta-learning Representation in the Teacher-student", "2408.12545"),
    "Collins et al. 2022, MAML/ANIL": ("MAML and ANIL Provably Learn Representations",
                                       "2202.03483"),
    "Collins et al. 2022, FedAvg": ("FedAvg with Fine Tuning", "2205.13692"),
}


def _cff() -> dict:
    return yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))


def test_citation_cff_has_the_required_fields_and_the_papers():
    cff = _cff()
    assert cff["cff-version"] == "1.2.0"
    for key in ("message", "title", "authors", "version", "type"):
        assert cff.get(key), key
    from teacherstudent.version import __version__

    assert str(cff["version"]) == __version__
    assert all("name" in a or "family-names" in a for a in cff["authors"])
    refs = cff["references"]
    for ref in refs:
        assert ref["type"] in ("article", "conference-paper", "software")
        assert ref["title"] and ref["authors"] and isinstance(ref["year"], int)
        for a in ref["authors"]:
            assert a.get("family-names") and a.get("given-names")
    text = "\n".join(f"{r['title']} {r.get('doi', '')} {r.get('identifiers', '')}" for r in refs)
    for name, (title, ident) in PAPERS.items():
        assert title.lower() in text.lower(), name
        assert ident in text, name


def test_citation_cff_validates_against_the_schema():
    pytest.importorskip("cffconvert")  # in the docs extra
    from cffconvert.cli.create_citation import create_citation

    create_citation(str(ROOT / "CITATION.cff"), None).validate()


# --------------------------------------------------------------------------- the reference
@pytest.mark.parametrize("schema", reference.SCHEMAS)
def test_every_key_of_every_table_is_documented(schema):
    tables = reference.entries(schema)
    assert tables
    missing = [e.dotted for rows in tables.values() for e in rows if not e.meaning.strip()]
    assert missing == [], f"add the meaning of {missing} to DOCS beside DEFAULTS/CHECKS"
    untyped = [e.dotted for rows in tables.values() for e in rows if not e.type]
    assert untyped == [], f"the checks of {untyped} carry no type (validation.described)"


def test_docs_tables_name_only_tables_that_exist():
    assert set(model_config.DOCS) <= set(model_config.CHECKS)
    assert set(linear_config.DOCS) >= set(linear_config.CHECKS)


def test_every_sweep_spec_key_is_documented():
    assert [k for k in SPEC_KEYS if not SPEC_DOCS.get(k)] == []


def test_type_and_constraint_come_from_the_check():
    e = reference.lookup("run.n_save")[0]
    assert (e.type, e.constraint, e.default) == ("integer", "≥ 2", model_config.DEFAULTS[
        "run"]["n_save"])
    assert 'one of "erf", "linear"' in reference.lookup("model.activation")[0].constraint
    assert reference.lookup("algorithm.eta_0")[0].type == "float, optional"
    assert reference.lookup("algorithm.eta_0")[0].default_text == "not set"
    # a new check describes itself; a check without a description falls back to its docstring

    @described("integer", "odd")
    def odd(key, v):
        return v

    def bare(key, v):
        """A thing."""
        return v

    assert describe(odd) == ("integer", "odd")
    assert describe(bare) == ("", "A thing")


def test_explain_a_key_and_a_table_and_refuse_unknown_ones():
    text = reference.explain("algorithm.eta_w")
    assert "INNER" in text and "default:    9.0" in text and "--set algorithm.eta_w" in text
    table = reference.explain("linear")
    assert all(k in table for k in linear_config.CHECKS)
    with pytest.raises(ConfigError, match="known keys of"):
        reference.lookup("algorithm.eta")
    with pytest.raises(ConfigError, match="unknown table"):
        reference.lookup("nope.K")


def test_generated_rst_lists_every_key_and_command():
    rst = reference.config_rst("model") + reference.config_rst("linear")
    for schema in reference.SCHEMAS:
        for rows in reference.entries(schema).values():
            for e in rows:
                assert f"``{e.key}``" in rst, e.dotted
    from teacherstudent.cli import COMMANDS

    cli = reference.cli_rst()
    for name in COMMANDS:
        assert f"teacherstudent {name}\n" in cli
    assert "--set" in cli and "--template" in cli
    spec = reference.spec_rst()
    assert all(f"``{k}``" in spec for k in SPEC_KEYS)


# --------------------------------------------------------------------------- what users read
def _user_facing_files() -> list[Path]:
    files = [ROOT / "README.md", ROOT / "CHANGELOG.md", ROOT / "figures" / "README.md"]
    files += sorted((ROOT / "theory").glob("*.md"))
    files += sorted(p for p in (ROOT / "teacherstudent").rglob("*.py"))
    files += sorted(p for p in (ROOT / "simulations").rglob("*") if p.suffix in (".py", ".toml"))
    skip = {"_build", "gallery", "auto_gallery", "generated"}
    files += sorted(p for p in (ROOT / "docs").rglob("*")
                    if p.suffix in (".md", ".rst", ".py", ".css")
                    and not skip & set(p.relative_to(ROOT / "docs").parts))
    return [p for p in files if p.is_file()]


def test_no_pointer_to_documents_outside_the_repository():
    bad = re.compile(r"shared/spec|spec §|spec \(§|seeds? 00\d")
    hits = []
    for path in _user_facing_files():
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if bad.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
    assert hits == []


def test_readme_links_stay_inside_the_repository():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\[[^\]]*\]\(([^)\s]+)\)", text)
    assert links, "the README links to the theory and the docs"
    for target in links:
        assert not re.match(r"[a-z]+:", target), f"external link {target}"
        path = (ROOT / target.split("#")[0]).resolve()
        assert path.is_relative_to(ROOT) and path.exists(), target
    assert "sphinx" in text and "-W" in text  # the docs build command


def test_pyproject_has_a_docs_extra_and_keeps_torch_pinned():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    docs = " ".join(project["optional-dependencies"]["docs"])
    for tool in ("sphinx", "pydata-sphinx-theme", "numpydoc", "sphinx-gallery", "myst-nb",
                 "jupyter-cache", "sphinx-mathjax-offline", "ipykernel"):
        assert tool in docs, tool
    assert "torch>=2.3,<2.14" in project["dependencies"]
    assert "dev" in project["optional-dependencies"]


def test_docs_configuration_fetches_nothing():
    namespace: dict = {}
    source = (ROOT / "docs" / "conf.py").read_text()
    assert not re.search(r"https?://", source)
    extensions = re.search(r"extensions = \[(.*?)\]", source, re.S).group(1)
    exec(f"extensions = [{extensions}]", namespace)
    assert "sphinx-mathjax-offline" in namespace["extensions"]
    assert not any("intersphinx" in e for e in namespace["extensions"])
    assert "binder" not in source.split("sphinx_gallery_conf", 1)[1]


# --------------------------------------------------------------------------- the docs' helpers
def _load(name: str):
    path = ROOT / "docs" / "_ext" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"docs_{name}", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_gallery_has_a_page_for_every_committed_figure(tmp_path):
    gallery = _load("gallery_pages")
    pages = gallery.generate(ROOT, tmp_path / "gallery")
    figures = {p.stem for p in (ROOT / "figures").glob("*.png")}
    assert len(pages) == len(figures)
    text = "\n".join(p.read_text() for p in pages)
    for stem in figures:
        assert f"/../figures/{stem}.png" in text, stem
    for page in pages:  # each page is valid Python that sphinx-gallery can run
        compile(page.read_text(), str(page), "exec")
    executed = [p for p in pages if "discover(ROOT" in p.read_text()]
    assert len(executed) == len(gallery.EXECUTED)


def test_offline_checker_refuses_remote_scripts(tmp_path):
    check = _load("check_offline")
    (tmp_path / "ok.html").write_text('<script src="_static/x.js"></script>'
                                      '<a href="https://example.org">a link is fine</a>')
    assert check.remote_resources(tmp_path) == []
    (tmp_path / "bad.html").write_text('<script src="https://cdn.example.org/m.js"></script>'
                                       '<link rel="stylesheet" href="//cdn.example.org/a.css">')
    assert len(check.remote_resources(tmp_path)) == 2


def test_every_theory_file_has_a_page_and_its_script_links_resolve(tmp_path):
    gallery = _load("gallery_pages")
    pages = gallery.theory_pages(ROOT / "theory", tmp_path / "theory")
    assert len(pages) == len(list((ROOT / "theory").glob("*.md")))
    for page in pages:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8")):
            if not re.match(r"[a-z]+:|#", target):
                resolved = (ROOT / "docs" / "theory" / target.split("#")[0]).resolve()
                md = (tmp_path / "theory" / target.split("#")[0])
                assert resolved.exists() or md.exists(), f"{page.name}: {target}"
