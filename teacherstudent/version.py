"""The package version (its own module, so that any module can read it without importing
the package's ``__init__``)."""

import functools

__version__ = "0.1.0"


def library_version(name: str) -> str:
    """The installed version of the library ``name`` without importing it (importing numba
    alone takes a quarter of a second; an already imported module answers for itself)."""
    import sys

    module = sys.modules.get(name)
    if module is not None and hasattr(module, "__version__"):
        return str(module.__version__)
    return _installed_version(name)


@functools.cache  # reading the metadata takes ~0.2 ms; installed versions do not change
def _installed_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:  # importable but not an installed distribution
        return "unknown"
