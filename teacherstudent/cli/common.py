"""What the commands share: ``--force`` and the output rule, writing with a fallback, and the
one-line reports of an interrupted or diverged run on stderr.

The output rule (the same for every command, :mod:`teacherstudent.outputs`): every path a
command will write is checked before any work; a folder, a path below a file or an
unwritable place is refused; the command's own input and a file that is not a teacherstudent
result are never replaced, whatever the flags; an existing teacherstudent result is replaced
only with ``--force``.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

__all__ = ["OUTPUT_RULE", "add_force", "check_outputs", "write_dataset", "write_figure",
           "report", "continue_command"]

OUTPUT_RULE = (
    "Outputs: every output path is checked before any work. The command's own input and a "
    "file that is not a teacherstudent result are never replaced; an existing teacherstudent "
    "result is replaced only with --force. Exit status: 0 done, 1 a run diverged or stopped "
    "(what was computed is kept), 2 bad input (nothing was run), 130 interrupted (Ctrl-C: "
    "what was computed is kept and the command that continues it is printed)."
)


def add_force(parser: argparse.ArgumentParser) -> None:
    """``--force`` and the output rule in the command's ``--help``."""
    parser.add_argument(
        "--force", action="store_true",
        help="replace existing teacherstudent results (never a foreign file or this "
        "command's own input)")
    parser.epilog = OUTPUT_RULE


def check_outputs(paths: Iterable[tuple[str, Path | None]], *, inputs: Iterable[Path | None],
                  force: bool) -> None:
    """:func:`teacherstudent.outputs.check_output` for every ``(what, path)`` (None skipped),
    and no two outputs the same file."""
    from ..config import ConfigError
    from ..outputs import check_output

    inputs = [p for p in inputs if p is not None]
    seen: dict[Path, str] = {}
    for what, path in paths:
        if path is None:
            continue
        key = Path(path).absolute()
        if key in seen:
            raise ConfigError(f"{what} '{path}' is also the {seen[key]}; give two files")
        seen[key] = what
        check_output(path, what=what, inputs=inputs, force=force)


def write_dataset(ds, path: Path) -> Path:
    """Save ``ds`` (netCDF); if that fails at the end, to a fallback file (named on stderr)."""
    from ..dataset import save
    from ..outputs import write_with_fallback

    return write_with_fallback(lambda p: save(ds, p), path, "the dataset")


def write_figure(draw: Callable[[Path], object], path: Path) -> Path:
    """``draw(path)`` writes the figure; a late write failure goes to a fallback file."""
    from ..outputs import write_with_fallback

    def write(p: Path) -> Path:
        draw(p)
        return p

    return write_with_fallback(write, path, "the figure")


def report(command: str, text: str) -> None:
    """One line on stderr, ``teacherstudent COMMAND: text``."""
    print(f"teacherstudent {command}: {text}", file=sys.stderr, flush=True)


def continue_command(command: str, argv: list[str], add: Iterable[str] = (),
                     drop: Iterable[str] = ()) -> str:
    """The shell command that continues a run: ``teacherstudent COMMAND ARGS`` with the
    options ``add`` appended (if missing) and the flags ``drop`` removed."""
    drop = set(drop)
    args = [a for a in argv if a not in drop]
    args += [a for a in add if a not in args]
    return shlex.join(["teacherstudent", command, *args])
