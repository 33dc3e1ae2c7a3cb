"""Sphinx directives that write reference pages from the package itself.

* ``ts-config-reference`` (option ``:schema: model|linear``): every table and key, with its
  type and constraint (from the key's check), default and meaning
  (:func:`teacherstudent.reference.config_rst`);
* ``ts-spec-reference``: the top-level keys of a sweep spec;
* ``ts-cli-reference``: every command's ``--help``, from argparse.

Use them in reStructuredText pages (the text they generate is reStructuredText). The
generated text is parsed in place, so the pages can never drift from the
code: a key added to ``CHECKS`` appears here with the next build.
"""

from __future__ import annotations

from docutils import nodes
from docutils.parsers.rst import Directive, directives
from docutils.statemachine import StringList
from sphinx.util.nodes import nested_parse_with_titles


class _Generated(Directive):
    has_content = False
    option_spec = {"schema": directives.unchanged, "heading": directives.unchanged}

    def text(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def run(self) -> list[nodes.Node]:
        container = nodes.container()
        lines = StringList(self.text().splitlines(), source="teacherstudent.reference")
        nested_parse_with_titles(self.state, lines, container, self.content_offset)
        return container.children


class ConfigReference(_Generated):
    def text(self) -> str:
        from teacherstudent.reference import config_rst

        return config_rst(self.options.get("schema", "model"), self.options.get("heading", "-"))


class SpecReference(_Generated):
    def text(self) -> str:
        from teacherstudent.reference import spec_rst

        return spec_rst()


class CliReference(_Generated):
    def text(self) -> str:
        from teacherstudent.reference import cli_rst

        return cli_rst(self.options.get("heading", "-"))


def _escape(text: str) -> str:
    for ch in ("\\", "*", "`", "|", "_"):
        text = text.replace(ch, "\\" + ch)
    return text


class StatusCodes(_Generated):
    """The status codes of ODE runs and sweep points, from the solver and the store."""

    def text(self) -> str:
        from teacherstudent.ode.solver_state import STATUS_MESSAGES
        from teacherstudent.sweep.store import STATUS_CODES

        lines = [".. list-table:: Status codes (``attrs['status']`` of a run, ``status`` of a "
                 "sweep point)", "   :header-rows: 1", "   :widths: 10 90", "",
                 "   * - status", "     - meaning"]
        codes = {**{k: f"ODE run: {v}" for k, v in STATUS_MESSAGES.items() if k <= 0}}
        for k, v in STATUS_CODES.items():
            if k not in codes or k < -5:
                codes[k] = f"sweep point: {v}"
        for k in sorted(codes, reverse=True):
            lines += [f"   * - ``{k}``", f"     - {_escape(codes[k])}"]
        return "\n".join(lines) + "\n"


def setup(app):
    app.add_directive("ts-config-reference", ConfigReference)
    app.add_directive("ts-spec-reference", SpecReference)
    app.add_directive("ts-cli-reference", CliReference)
    app.add_directive("ts-status-codes", StatusCodes)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
