"""The sweep store: a folder of per-chunk netCDF files plus one consolidated netCDF.

Layout of a store folder ``STORE/``::

    STORE/spec.json         the spec as given (for the record)
    STORE/code.sha256       the fingerprint of the code that computed the parts
                            (:func:`teacherstudent.dataset.code_fingerprint`)
    STORE/parts/*.nc        one file per finished chunk: dimension ``point`` and a ``key``
                            variable (the hash of each point's full config)
    STORE/sweep.nc          the consolidated result, rebuilt at the end of every run

A re-run with other code (the package was edited or upgraded) does not silently mix results:
:meth:`Store.check_code` stops with a message naming both fingerprints unless told to
``reuse`` the old points or to ``recompute`` them (the old parts are moved aside to
``STORE/parts-<old fingerprint>/``, never deleted).

Chunk files are written atomically (write to ``.part``, then rename), so a crash never leaves
a half-written file; a re-run reads the keys of the existing chunks and computes only the
missing points. netCDF cannot be appended to safely in place; many small files can.

The consolidated dataset has one dimension per grid key (``mode = "product"``, coordinates
named by the dotted keys, e.g. ``"algorithm.eta_J"``) or a dimension ``point`` (zip / points),
and per point: ``status`` (0 ok, < 0 diverged / stopped / failed, see :data:`STATUS_CODES`),
``message``, ``key``, ``point_time``, ``computed_at``, ``worker``, ``worker_seq`` and the data
variables of the run.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ..config import ConfigError
from ..dataset import code_fingerprint, load, provenance, save
from .spec import Spec
from .tasks import ERROR

__all__ = ["Store", "STATUS_CODES", "LOST", "INVALID", "coordinate_values"]

#: A point whose task was lost (its Dask task failed after the allowed retries).
LOST = -101
#: A point refused by validation (``on_invalid = "skip"``).
INVALID = -102
STATUS_CODES = {
    0: "ok",
    -1: "diverged: non-finite state", -2: "diverged: integral domain",
    -3: "diverged: C not positive definite", -4: "stopped: max_steps",
    -5: "stopped: step size underflow",
    ERROR: "the point raised an exception (message holds it)",
    LOST: "the point's Dask task failed (re-run to retry)",
    INVALID: "the point's config is invalid (on_invalid = 'skip')",
}
RESULT_NAME = "sweep.nc"
CODE_NAME = "code.sha256"
ON_CODE_CHANGE = ("stop", "reuse", "recompute")


def coordinate_values(values: list[Any]) -> np.ndarray:
    """netCDF-friendly coordinate values: numbers (``"inf"`` → inf) or strings."""
    def as_float(v: Any) -> float:
        if isinstance(v, bool):
            raise TypeError
        if isinstance(v, str):
            if v.strip().lower() in ("inf", "infinity"):
                return float("inf")
            raise TypeError
        if isinstance(v, (int, float)):
            return float(v)
        raise TypeError

    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return np.array(values, dtype=np.int64)
    try:
        return np.array([as_float(v) for v in values], dtype=float)
    except TypeError:
        return np.array([v if isinstance(v, str) else json.dumps(v) for v in values], dtype=object)


class Store:
    """A sweep store folder (see the module docstring)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.parts = self.path / "parts"
        self.result_path = self.path / RESULT_NAME

    def create(self, spec: Spec, on_code_change: str = "stop") -> str | None:
        """Create the folders, check the code fingerprint (see :meth:`check_code`, whose
        result is returned), record the spec and this code's fingerprint."""
        old = self.check_code(on_code_change)
        self.parts.mkdir(parents=True, exist_ok=True)
        (self.path / "spec.json").write_text(json.dumps(spec.source, indent=1, default=str))
        (self.path / CODE_NAME).write_text(code_fingerprint() + "\n")
        return old

    def check_code(self, on_code_change: str = "stop") -> str | None:
        """Compare the fingerprint of the code that computed the stored parts with this
        code's. Returns the old fingerprint when it differs (after applying the policy:
        ``"stop"`` raises ConfigError, ``"reuse"`` keeps the parts, ``"recompute"`` moves
        them to ``parts-<old>/``), else None."""
        if on_code_change not in ON_CODE_CHANGE:
            raise ConfigError(f"on_code_change must be one of {', '.join(ON_CODE_CHANGE)}, "
                              f"got {on_code_change!r}")
        if not self.part_files():
            return None
        try:
            old = (self.path / CODE_NAME).read_text().strip()
        except OSError:
            old = "unknown"
        now = code_fingerprint()
        if old == now:
            return None
        if on_code_change == "stop":
            raise ConfigError(
                f"the store {self.path} holds points computed by other code (fingerprint "
                f"{old}, this code {now}); re-run with --on-code-change reuse to keep them "
                "or --on-code-change recompute to compute every point anew (the old parts "
                f"are kept in {self.path / ('parts-' + old)})")
        if on_code_change == "recompute":
            aside = self.path / f"parts-{old}"
            n = 1
            while aside.exists():
                n += 1
                aside = self.path / f"parts-{old}-{n}"
            self.parts.rename(aside)
        return old

    # ------------------------------------------------------------------ chunks
    def part_files(self) -> list[Path]:
        """The finished chunk files (sorted by name)."""
        return sorted(self.parts.glob("chunk-*.nc")) if self.parts.exists() else []

    def scan(self) -> dict[str, Path]:
        """Map the key of every finished point to its chunk file (unreadable files skipped)."""
        import h5py

        done: dict[str, Path] = {}
        for f in self.part_files():
            try:
                with h5py.File(f, "r") as h:
                    keys = h["key"].asstr()[...]
            except (OSError, KeyError) as exc:
                warnings.warn(f"sweep store: skipping unreadable chunk {f.name}: {exc}",
                              stacklevel=2)
                continue
            for k in keys:
                done.setdefault(str(k), f)
        return done

    def write_chunk(self, ds: xr.Dataset) -> Path:
        """Write one finished chunk atomically; the name is a hash of its point keys."""
        keys = "\n".join(str(k) for k in ds["key"].values)
        name = "chunk-" + hashlib.sha256(keys.encode()).hexdigest()[:20] + ".nc"
        return save(ds, self.parts / name)

    # ------------------------------------------------------------------ result
    def read_points(self, keys: Iterable[str]) -> xr.Dataset | None:
        """The finished points among ``keys`` as one dataset along ``point`` (by key)."""
        wanted = set(keys)
        done = self.scan()
        files = sorted({done[k] for k in wanted if k in done})
        if not files:
            return None
        parts = []
        for f in files:
            ds = load(f)
            ds.attrs = {}
            ds = ds.assign_coords(point=ds["key"].values.astype(str))
            # keep the first file holding a key (a key computed twice is the same point)
            mine = [done[k] == f and k in wanted for k in ds["point"].values]
            parts.append(ds.isel(point=np.flatnonzero(mine)))
        parts = [p for p in parts if p.sizes["point"]]
        return xr.concat(parts, dim="point", join="outer", coords="different", compat="equals")

    def consolidate(self, spec: Spec, lost: dict[str, str] | None = None,
                    extra_attrs: dict[str, Any] | None = None) -> xr.Dataset:
        """Assemble the finished points of ``spec`` into the grid dataset and write it."""
        ds = assemble(spec, self.read_points(p.key for p in spec.points), lost or {})
        base_cfg = _resolved_base(spec)
        ds.attrs.update(provenance(base_cfg, "sweep", 0.0))
        ds.attrs.update({
            "sweep_kind": spec.kind,
            "sweep_name": spec.name,
            "sweep_mode": spec.mode,
            "sweep_keys": json.dumps(spec.grid_keys),
            "sweep_spec": json.dumps(spec.source, default=str),
            "n_points": len(spec.points),
            "n_ok": int((ds["status"] == 0).sum()),
            "n_failed": int((ds["status"] < 0).sum()),
        })
        ds.attrs.update(extra_attrs or {})
        from ..outputs import write_with_fallback

        # the parts are safe; a late failure to write the result goes to a fallback file
        path = write_with_fallback(lambda p: save(ds, p), self.result_path, "the sweep result")
        return load(path)  # exactly what the file holds


def _resolved_base(spec: Spec) -> dict[str, Any] | None:
    from .spec import config_loader

    try:
        return config_loader(spec.kind)(spec.base)
    except Exception:  # noqa: BLE001 - provenance only
        return None


def assemble(spec: Spec, points: xr.Dataset | None, lost: dict[str, str]) -> xr.Dataset:
    """Order the computed points as the spec's points and reshape them onto the grid."""
    keys = [p.key for p in spec.points]
    if points is None:
        points = xr.Dataset({"status": (("point",), np.zeros(0, dtype=np.int64)),
                             "message": (("point",), np.zeros(0, dtype=object))},
                            coords={"point": np.zeros(0, dtype=object)})
    ds = points.reindex(point=keys)
    missing = ~np.isin(keys, points["point"].values)
    status = np.where(missing, LOST, ds["status"].fillna(LOST).values).astype(np.int64)
    message = ds["message"].values.astype(object)
    for i, p in enumerate(spec.points):
        if p.config is None:
            status[i], message[i] = INVALID, f"invalid: {p.error}"
        elif missing[i]:
            message[i] = lost.get(p.key, "not computed (interrupted); re-run to finish")
    ds["status"] = ("point", status)
    ds["message"] = ("point", np.array([str(m) for m in message], dtype=object))
    ds["key"] = ("point", np.array(keys, dtype=object))
    for name in ("worker", ):
        if name in ds:
            ds[name] = ("point", np.array([m if isinstance(m, str) else "" for m in
                                           ds[name].values], dtype=object))
    if "worker_seq" in ds:
        ds["worker_seq"] = ds["worker_seq"].fillna(-1).astype(np.int64)
    if "nfev" in ds:
        ds["nfev"] = ds["nfev"].fillna(-1).astype(np.int64)
    ds = ds.drop_vars("point")
    coords = {k: coordinate_values(v) for k, v in zip(spec.grid_keys, spec.grid_values,
                                                      strict=True)}
    if spec.mode != "product":
        return ds.assign_coords({k: ("point", v) for k, v in coords.items()})
    shape = spec.shape
    out = {}
    for name, var in ds.data_vars.items():
        var = var.transpose("point", ...)
        out[name] = (spec.dims + var.dims[1:], var.values.reshape(shape + var.shape[1:]),
                     var.attrs)
    other = {k: v for k, v in ds.coords.items() if "point" not in v.dims}
    return xr.Dataset(out, coords={**other, **coords})
