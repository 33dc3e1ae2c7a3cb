"""``teacherstudent reproduce NAME|all [--list] [--out figures/] [--quick] [--studies DIR]``.

Runs the studies that regenerate the figure gallery. The studies are found in ``./simulations``
of the current folder (a checkout of the repository) or in ``--studies DIR``: every
``NAME.py`` there (and in its sub-folders) beside its declaration ``NAME.toml`` is one study,
named ``NAME`` with ``-`` for ``_`` (:mod:`teacherstudent.studies` describes the contract and
holds the registry). A study that fails is reported and the others still run; the exit status
is then 1. ``--quick`` sets ``TEACHERSTUDENT_QUICK=1`` while the studies run: they use
reduced grids.
"""

from __future__ import annotations

import argparse

HELP = "regenerate the figure gallery (the studies in ./simulations or --studies DIR)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``teacherstudent reproduce``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The command's parser.
    """
    parser.add_argument("name", nargs="?", default=None, help="study name, or 'all'")
    parser.add_argument("--list", action="store_true", help="list the studies and exit")
    parser.add_argument("--out", default="figures",
                        help="output folder (default figures/); the files its studies write "
                        "there are regenerated (replaced). A file, a path below a file or an "
                        "unwritable folder is refused before any work")
    parser.add_argument("--quick", action="store_true",
                        help="reduced grids (TEACHERSTUDENT_QUICK=1), for tests")
    parser.add_argument("--studies", default=None, metavar="DIR",
                        help="folder of the studies (default: ./simulations)")


def main(args: argparse.Namespace) -> int:
    """List or run the studies.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options.

    Returns
    -------
    int
        0; 1 when a study failed; 2 without a study name (the list is printed).

    Raises
    ------
    ConfigError
        A missing studies folder or an unknown study name (status 2 in the CLI).
    """
    from .. import studies
    from ..config import ConfigError
    from ..outputs import check_folder

    registry = studies.discover(args.studies)
    if args.list or args.name is None:
        print("\n".join(studies.listing(registry)))
        return 0 if args.list else 2
    names = studies.select(registry, args.name)
    out = check_folder(args.out, what="--out")
    source = studies.simulations_dir(args.studies).resolve()
    if out.resolve() == source or source in out.resolve().parents:
        raise ConfigError(f"--out '{out}' is (inside) the studies folder {source}, this "
                          "command's own input; choose another folder")
    failed = studies.run_studies(registry, names, args.out, quick=args.quick,
                                 log=lambda line: print(line, flush=True))
    return 1 if failed else 0
