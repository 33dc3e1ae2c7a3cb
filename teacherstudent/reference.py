"""The configuration reference, generated from the code that checks the configuration.

Every key is defined once: its default in ``DEFAULTS``, its check in ``CHECKS`` (the check
carries its type and constraint, :func:`teacherstudent.validation.describe`) and its meaning
in ``DOCS``, side by side in :mod:`teacherstudent.config` (the tables ``model tasks algorithm
init run simulation``) and :mod:`teacherstudent.linear.config` (the table ``linear``). This
module reads them for

* ``teacherstudent config``: the defaults as TOML (:func:`defaults_toml`), a filled-in,
  commented template (:func:`template`), one key or table explained (:func:`explain`);
* the documentation: the configuration reference (:func:`config_rst`), the sweep-spec keys
  (:func:`spec_rst`) and the command-line reference (:func:`cli_rst`, from argparse).

Example
-------
>>> from teacherstudent.reference import explain
>>> print(explain("algorithm.eta_w").splitlines()[0])
algorithm.eta_w
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .config import toml_value
from .validation import ConfigError, describe

__all__ = ["Entry", "SCHEMAS", "entries", "lookup", "explain", "defaults_toml", "template",
           "config_rst", "spec_rst", "cli_rst"]

#: The configuration schemas: which tables each command reads.
SCHEMAS = ("model", "linear")

_WHAT = {
    "model": "the model configuration of teacherstudent ode, simulate, compare and sweep "
    "(kind = \"ode\" or \"simulate\")",
    "linear": "the [linear] table of teacherstudent linear and sweep (kind = \"linear\")",
}

#: One line on each table, for the reference and the template.
TABLE_DOCS = {
    "model": "The two networks: sizes, activation, readout scales and label noise.",
    "tasks": "The law of the tasks: task heads u ~ N(ū, Σ_u), task teachers B^t and the "
    "meta-teacher's overlaps T.",
    "algorithm": "The meta-learning algorithm and its learning rates, inner steps and "
    "sample sizes.",
    "init": "The initial order parameters Q, R and the head initialisation w.",
    "run": "The α grid, the ODE solver and its stops (divergence, size checks).",
    "simulation": "Monte Carlo settings (teacherstudent simulate and compare only).",
    "linear": "Linear representation learning: y = ⟨B_*θ, x⟩ + z learnt by ŷ = wᵀBᵀx.",
}


@dataclass(frozen=True)
class Entry:
    """One configuration key as the reference shows it.

    Attributes
    ----------
    table, key : str
        Where the key lives (``table.key`` on the command line).
    type, constraint : str
        From the key's check (:func:`teacherstudent.validation.describe`).
    default : object
        The built-in default (``None``: not set).
    meaning : str
        From the ``DOCS`` table next to the default.
    """

    table: str
    key: str
    type: str
    constraint: str
    default: Any
    meaning: str

    @property
    def dotted(self) -> str:
        """``table.key``."""
        return f"{self.table}.{self.key}"

    @property
    def default_text(self) -> str:
        """The default as TOML (``not set`` for ``None``)."""
        return "not set" if self.default is None else toml_value(self.default)


def _schema(schema: str) -> tuple[dict, dict, dict]:
    """(DEFAULTS, CHECKS, DOCS) of a schema, each ``{table: {key: ...}}``."""
    if schema == "model":
        from . import config

        return config.DEFAULTS, config.CHECKS, config.DOCS
    if schema == "linear":
        from .linear import config as lin

        return {"linear": lin.DEFAULTS}, {"linear": lin.CHECKS}, {"linear": lin.DOCS}
    raise ValueError(f"schema must be one of {', '.join(SCHEMAS)}, got {schema!r}")


def entries(schema: str = "model") -> dict[str, list[Entry]]:
    """Every key of a schema, table by table, in the order of its checks.

    Parameters
    ----------
    schema : {"model", "linear"}
        ``"model"``: the tables of the ODEs and simulations; ``"linear"``: ``[linear]``.

    Returns
    -------
    dict
        ``{table: [Entry, ...]}``.

    Examples
    --------
    >>> [e.key for e in entries()["model"]][:2]
    ['K', 'M']
    """
    defaults, checks, docs = _schema(schema)
    out: dict[str, list[Entry]] = {}
    for table, table_checks in checks.items():
        rows = []
        for key, check in table_checks.items():
            type_name, constraint = describe(check)
            rows.append(Entry(table, key, type_name, constraint,
                              defaults.get(table, {}).get(key),
                              docs.get(table, {}).get(key, "")))
        out[table] = rows
    return out


def _all_tables() -> dict[str, list[Entry]]:
    return {**entries("model"), **entries("linear")}


def lookup(name: str) -> list[Entry]:
    """The entries of ``table.key`` (one) or of a whole ``table``.

    Parameters
    ----------
    name : str
        ``"algorithm.eta_w"``, ``"linear.alpha"`` or a table name such as ``"run"``.

    Returns
    -------
    list of Entry

    Raises
    ------
    ConfigError
        For an unknown table or key; the message lists the known ones.
    """
    tables = _all_tables()
    table, _, key = name.strip().partition(".")
    if table not in tables:
        raise ConfigError(f"unknown table [{table}] (known: {', '.join(tables)})")
    if not key:
        return list(tables[table])
    for e in tables[table]:
        if e.key == key:
            return [e]
    known = ", ".join(e.key for e in tables[table])
    raise ConfigError(f"unknown key '{table}.{key}' (known keys of [{table}]: {known})")


def _wrap(text: str, indent: str = "", width: int = 88) -> list[str]:
    return textwrap.wrap(text, width=width, initial_indent=indent, subsequent_indent=indent,
                         break_on_hyphens=False, break_long_words=False) or [indent.rstrip()]


def explain(name: str) -> str:
    """Plain text on one key (type, default, meaning, constraint) or on a whole table.

    Parameters
    ----------
    name : str
        ``table.key`` or ``table``.

    Returns
    -------
    str
        The text ``teacherstudent config --explain NAME`` prints.

    Raises
    ------
    ConfigError
        For an unknown table or key.
    """
    found = lookup(name)
    lines: list[str] = []
    if "." not in name:
        lines += [f"[{found[0].table}]"] + _wrap(TABLE_DOCS.get(found[0].table, ""), "  ") + [""]
    for e in found:
        lines.append(e.dotted)
        lines += _wrap(e.meaning, "  ")
        lines.append(f"  type:       {e.type}" + (f" ({e.constraint})" if e.constraint else ""))
        lines.append(f"  default:    {e.default_text}")
        lines.append(f"  set it:     [{e.table}] {e.key} = ...  or  --set {e.dotted}=...")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _tables(schema: str) -> Iterator[tuple[str, list[Entry]]]:
    yield from entries(schema).items()


def defaults_toml(schema: str = "model") -> str:
    """The built-in defaults as TOML; keys that are not set by default are comments.

    Parameters
    ----------
    schema : {"model", "linear"}

    Returns
    -------
    str
        TOML that :func:`teacherstudent.load_config` (or the linear one) reads back to the
        defaults.

    Examples
    --------
    >>> import tomllib
    >>> tomllib.loads(defaults_toml())["algorithm"]["eta_w"]
    9.0
    """
    lines: list[str] = []
    for table, rows in _tables(schema):
        lines.append(f"[{table}]")
        for e in rows:
            if e.default is None:
                lines.append(f"# {e.key} = ...  (not set by default)")
            else:
                lines.append(f"{e.key} = {toml_value(e.default)}")
        lines.append("")
    return "\n".join(lines)


def template(schema: str = "model") -> str:
    """A filled-in configuration file: every key at its default, each explained.

    Parameters
    ----------
    schema : {"model", "linear"}

    Returns
    -------
    str
        Commented TOML; as it is, it loads to the defaults.
    """
    from .version import __version__

    lines = [*_wrap(f"teacherstudent {__version__}: {_WHAT[schema]}.", "# "),
             "# Every key is at its default; delete the ones you do not change.",
             "# `teacherstudent config --explain TABLE.KEY` explains one key.", ""]
    for table, rows in _tables(schema):
        lines += _wrap(TABLE_DOCS.get(table, ""), "# ")
        lines.append(f"[{table}]")
        for e in rows:
            lines += _wrap(e.meaning, "# ")
            kind = e.type + (f" ({e.constraint})" if e.constraint else "")
            lines += _wrap(kind, "#   ")
            if e.default is None:
                lines.append(f"# {e.key} = ...  (not set by default)")
            else:
                lines.append(f"{e.key} = {toml_value(e.default)}")
        lines.append("")
    return "\n".join(lines)


# --------------------------------------------------------------------------- documentation
def _rst_text(text: str) -> str:
    """Plain text made safe for reStructuredText (no markup characters are interpreted)."""
    for ch in ("\\", "*", "`", "|", "_"):
        text = text.replace(ch, "\\" + ch)
    return text


def _list_table(header: list[str], rows: list[list[str]], widths: list[int]) -> list[str]:
    out = [".. list-table::", "   :header-rows: 1", f"   :widths: {' '.join(map(str, widths))}",
           "   :class: ts-reference", ""]
    for row in [header, *rows]:
        first = True
        for cell in row:
            out.append(("   * - " if first else "     - ") + (cell or " "))
            first = False
    return out + [""]


def config_rst(schema: str = "model", heading: str = "-") -> str:
    """The configuration reference of a schema as reStructuredText (one table per table).

    Parameters
    ----------
    schema : {"model", "linear"}
    heading : str
        The underline character of the per-table section titles.

    Returns
    -------
    str
    """
    out: list[str] = []
    for table, rows in _tables(schema):
        title = f"[{table}]"
        out += [f".. _config-{table}:", "", title, heading * len(title), "",
                _rst_text(TABLE_DOCS.get(table, "")), ""]
        body = []
        for e in rows:
            kind = _rst_text(e.type) + (f" — {_rst_text(e.constraint)}" if e.constraint else "")
            default = "*not set*" if e.default is None else f"``{e.default_text}``"
            body.append([f"``{e.key}``", kind, default, _rst_text(e.meaning)])
        out += _list_table(["key", "type and constraint", "default", "meaning"], body,
                           [14, 22, 12, 52])
    return "\n".join(out)


def spec_rst() -> str:
    """The top-level keys of a sweep spec as a reStructuredText table."""
    from .sweep.spec import SPEC_DOCS, SPEC_KEYS

    rows = [[f"``{k}``", _rst_text(SPEC_DOCS.get(k, ""))] for k in SPEC_KEYS]
    return "\n".join(_list_table(["key", "meaning"], rows, [16, 84]))


def cli_rst(heading: str = "-") -> str:
    """The command-line reference as reStructuredText: every command's ``--help``.

    Parameters
    ----------
    heading : str
        The underline character of the per-command section titles.

    Returns
    -------
    str
        One section per command of :data:`teacherstudent.cli.COMMANDS` with its one-line
        help and its argparse help (usage, arguments, options).
    """
    import os

    from .cli import COMMANDS, build_parser

    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "92"
    try:
        out: list[str] = []
        top = build_parser(None)
        out += [".. code-block:: text", ""]
        out += ["   " + line for line in top.format_help().splitlines()] + [""]
        for name, (_, help_) in COMMANDS.items():
            parser = build_parser(name)
            sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
            title = f"teacherstudent {name}"
            out += [f".. _cli-{name}:", "", title, heading * len(title), "",
                    _rst_text(help_[:1].upper() + help_[1:]) + ".", "",
                    ".. code-block:: text", ""]
            out += ["   " + line for line in sub.choices[name].format_help().splitlines()]
            out.append("")
        return "\n".join(out)
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old
