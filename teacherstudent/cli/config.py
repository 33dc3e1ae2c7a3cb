"""``teacherstudent config [--linear] [--template FILE] [--explain TABLE.KEY]``.

Prints the built-in defaults as TOML, writes a filled-in template with a comment on every
key, or explains one key (or table): type, default, meaning and constraint. Everything comes
from :mod:`teacherstudent.reference`, the same source as the configuration reference of the
documentation.
"""

from __future__ import annotations

import argparse
import sys

HELP = ("print the default configuration, write a commented template, or explain a key "
        "(type, default, meaning)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``teacherstudent config``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The command's parser.
    """
    parser.add_argument("--linear", action="store_true",
                        help="the [linear] table of `teacherstudent linear` instead of the "
                        "model configuration (ode, simulate, compare, sweep)")
    parser.add_argument("--template", metavar="FILE", default=None,
                        help="write a filled-in configuration file, every key at its default "
                        "with a comment saying what it means (an existing FILE is never "
                        "replaced)")
    parser.add_argument("--explain", metavar="TABLE.KEY", default=None,
                        help="explain one key (e.g. algorithm.eta_w, linear.alpha) or a whole "
                        "table (e.g. run)")


def main(args: argparse.Namespace) -> int:
    """Print the defaults, write the template or explain a key.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options.

    Returns
    -------
    int
        0.

    Raises
    ------
    ConfigError
        An unknown key or table, or a template path that exists or cannot be written
        (exit status 2 in the CLI).
    """
    from pathlib import Path

    from .. import reference
    from ..validation import ConfigError

    schema = "linear" if args.linear else "model"
    if args.explain is not None:
        if args.template is not None:
            raise ConfigError("--explain and --template do not go together")
        sys.stdout.write(reference.explain(args.explain))
        return 0
    if args.template is None:
        sys.stdout.write(reference.defaults_toml(schema))
        return 0
    path = Path(args.template)
    if path.exists() or path.is_symlink():
        raise ConfigError(f"--template: {path} exists; it is never replaced (choose another "
                          "name or remove it first)")
    if not path.parent.is_dir():
        raise ConfigError(f"--template: the folder {path.parent} does not exist")
    try:
        with path.open("x", encoding="utf-8") as fh:  # "x": fails if it appeared meanwhile
            fh.write(reference.template(schema))
    except OSError as exc:
        raise ConfigError(f"--template: cannot write {path}: {exc}") from None
    print(f"wrote {path}: every key at its default "
          f"(teacherstudent {'linear' if args.linear else 'ode'} {path} runs it)")
    return 0
