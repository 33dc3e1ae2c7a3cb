"""The package version (its own module, so that any module can read it without importing
the package's ``__init__``)."""

__version__ = "0.1.0"


def library_version(name: str) -> str:
    """The installed version of the library ``name`` without importing it (importing numba
    alone takes a quarter of a second; an already imported module answers for itself)."""
    import sys

    module = sys.modules.get(name)
    if module is not None and hasattr(module, "__version__"):
        return str(module.__version__)
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:  # importable but not an installed distribution
        return "unknown"
