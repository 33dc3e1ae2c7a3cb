"""Client side of a sweep: plan chunks, run them on Dask, write them as they finish.

:func:`run_sweep` validates the spec (every point) before submitting anything, skips the
points already in the store (keyed by the hash of their full config), submits the missing
ones in chunks (one Dask task per chunk of points, pure and idempotent, so a task lost with a
dying worker is simply run again elsewhere), writes every finished chunk to the store at
once, shows a rich progress bar (points done / failed / remaining), and finally consolidates
the store into one dataset over the grid.

Without ``scheduler`` a :class:`distributed.LocalCluster` of worker processes (one thread
each) is started for the sweep and closed at the end; with it, an existing cluster is used
(``"tcp://host:port"`` or a :class:`distributed.Client`).
"""

from __future__ import annotations

import logging
import math
import os
import re
import shutil
import tempfile
import time
from collections.abc import Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ..config import ConfigError
from .spec import Point, Spec, load_spec
from .store import Store
from .tasks import Layout, WarmUp, run_chunk

__all__ = ["run_sweep", "plan_chunks", "ode_layout", "check_scheduler", "SCHEDULER_TIMEOUT"]

#: Seconds to wait for an existing Dask scheduler (``scheduler="tcp://..."``).
SCHEDULER_TIMEOUT = 10.0
_ADDRESS = re.compile(r"(?:(?:tcp|tls|ws|wss|ucx|inproc)://)?(\[[0-9a-fA-F:]+\]|[\w.-]+):(\d+)/?")


def check_scheduler(address: Any) -> Any:
    """A scheduler address ``[tcp://]HOST:PORT`` (or a Client, or None), else ConfigError."""
    if address is None or not isinstance(address, str):
        return address
    m = _ADDRESS.fullmatch(address.strip())
    if not m or not 0 < int(m.group(2)) < 65536:
        raise ConfigError(f"--scheduler must be an address like tcp://HOST:PORT, got "
                          f"{address!r}")
    return address.strip()


def ode_layout(spec: Spec) -> Layout:
    """The common α grid (union of the points' saved α) and the largest K, M."""
    from ..ode import SaveAt

    cfgs = [p.config for p in spec.points if p.config is not None]
    grids: dict[bytes, np.ndarray] = {}
    for cfg in cfgs:
        a = SaveAt.from_config(cfg).alpha
        grids.setdefault(a.tobytes(), a)
    alpha = np.unique(np.concatenate(list(grids.values()))) if grids else np.zeros(0)
    K = max((c["model"]["K"] for c in cfgs), default=1)
    M = max((c["model"]["M"] for c in cfgs), default=1)
    return Layout(alpha, K, M)


def plan_chunks(points: list[Point], n_workers: int, chunk_size: int | None,
                kind: str) -> list[list[Point]]:
    """Split the points to compute into chunks (one Dask task each).

    Default size: ``ode`` points take milliseconds, so about four chunks per worker, capped
    at 100 points per chunk (bounded loss on a crash); other kinds one point per chunk.
    """
    if not points:
        return []
    if chunk_size is None:
        if kind == "ode":
            chunk_size = max(1, min(100, math.ceil(len(points) / (4 * max(n_workers, 1)))))
        else:
            chunk_size = 1
    return [points[i:i + chunk_size] for i in range(0, len(points), chunk_size)]


@contextmanager
def _dask_client(scheduler: Any, workers: int | None, timeout: float = SCHEDULER_TIMEOUT):
    """A distributed Client: the given one, one connected to an address, or a LocalCluster."""
    from distributed import Client, LocalCluster

    if isinstance(scheduler, Client):
        yield scheduler
        return
    if scheduler:
        try:
            client = Client(scheduler, timeout=f"{timeout}s")
        except (OSError, TimeoutError) as exc:
            raise ConfigError(f"--scheduler {scheduler}: cannot connect within {timeout:g} s "
                              f"({type(exc).__name__}: {exc}); is the scheduler running?"
                              ) from None
        try:
            yield client
        finally:
            client.close()
        return
    n = workers or os.cpu_count() or 1
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=logging.ERROR)
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def _progress(enabled: bool, total: int, skipped: int):
    """A rich progress bar (points done / failed / remaining), or a no-op."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("[bold]sweep"), BarColumn(),
        TextColumn("{task.completed}/{task.total} points"),
        TextColumn("[green]done {task.fields[done]}"),
        TextColumn("[red]failed {task.fields[failed]}"),
        TextColumn("remaining {task.fields[remaining]}"),
        TimeElapsedColumn(),
        console=Console(stderr=True), disable=not enabled, transient=False,
    )
    task = progress.add_task("sweep", total=total, completed=skipped, done=skipped, failed=0,
                             remaining=total - skipped)
    return progress, task


def run_sweep(spec: str | Path | Mapping[str, Any] | Spec, store: str | Path | None = None,
              workers: int | None = None, scheduler: Any = None, progress: bool = True,
              chunk_size: int | None = None, on_code_change: str = "stop",
              scheduler_timeout: float = SCHEDULER_TIMEOUT) -> xr.Dataset:
    """Run (or resume) a sweep and return the consolidated dataset over the grid.

    Parameters
    ----------
    spec : str, Path, dict or Spec
        A SPEC.toml path, a dict of the same shape or a :class:`~.spec.Spec` (the sweep-spec
        format of the documentation). Every point is validated before anything is submitted.
    store : str or Path, optional
        The store folder; ``None``: a temporary folder, deleted afterwards (nothing is
        resumable). The store is checked before any work
        (:func:`teacherstudent.outputs.check_store`: a file or a folder of other files is
        refused).
    workers : int, optional
        Size of the LocalCluster started when no ``scheduler`` is given (default: the number of
        cores).
    scheduler : str or distributed.Client, optional
        An address (``tcp://HOST:PORT``) or a client of an existing cluster.
    progress : bool
        Show a progress bar.
    chunk_size : int, optional
        Points per Dask task (overrides the spec's).
    on_code_change : {"stop", "reuse", "recompute"}
        A store computed by other code (an edited or upgraded package) is refused (``"stop"``)
        unless told to ``"reuse"`` its points (attrs ``reused_code_sha256`` names the old code)
        or to ``"recompute"`` them (its parts are moved aside, every point is computed anew).
    scheduler_timeout : float
        Seconds to connect to ``scheduler``.

    Returns
    -------
    xarray.Dataset
        One dimension per grid key (or ``point``), per point ``status``, ``message``, ``key``
        and the run's variables; attrs ``n_computed`` (points computed now) and ``n_skipped``
        (found in the store).

    Examples
    --------
    >>> from teacherstudent.sweep import run_sweep
    >>> spec = {"kind": "ode", "base": {"run": {"alpha_max": 20.0}},
    ...         "grid": {"algorithm.eta_J": [1.0, 3.0]}}
    >>> ds = run_sweep(spec, workers=1, progress=False)  # doctest: +SKIP
    >>> ds.eg.dims  # doctest: +SKIP
    ('algorithm.eta_J', 'alpha')
    """
    from ..outputs import check_store

    t_start = time.perf_counter()
    source = Path(spec) if isinstance(spec, (str, Path)) else None
    spec = load_spec(spec)  # validates every point before anything is submitted
    scheduler = check_scheduler(scheduler)
    tmp = None
    if store is None:
        tmp = tempfile.mkdtemp(prefix="teacherstudent-sweep-")
        store = tmp
    else:
        check_store(store, inputs=[source])
    fresh = not Path(store).exists()
    st = Store(store)
    try:
        old_code = st.create(spec, on_code_change)
        done = st.scan()
        todo_keys: dict[str, Point] = {}
        for p in spec.points:
            if p.config is not None and p.key not in done:
                todo_keys.setdefault(p.key, p)  # a point listed twice is computed once
        todo = list(todo_keys.values())
        n_valid = sum(p.config is not None for p in spec.points)
        skipped = n_valid - len(todo)
        lost: dict[str, str] = {}
        computed = failed = 0
        if todo:
            try:
                computed, failed, lost = _compute(spec, st, todo, workers, scheduler,
                                                  progress, chunk_size, n_valid, skipped,
                                                  scheduler_timeout)
            except ConfigError:  # e.g. the scheduler cannot be reached: leave no empty store
                if fresh and tmp is None and not st.part_files():
                    shutil.rmtree(st.path, ignore_errors=True)
                raise
        wall = time.perf_counter() - t_start
        extra = {"n_computed": computed, "n_skipped": skipped, "n_lost": len(lost),
                 "wall_time_s": wall}
        if old_code is not None and on_code_change == "reuse":
            extra["reused_code_sha256"] = old_code
        ds = st.consolidate(spec, lost, extra)
        return ds
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _compute(spec: Spec, st: Store, todo: list[Point], workers: int | None, scheduler: Any,
             show: bool, chunk_size: int | None, total: int, skipped: int,
             timeout: float = SCHEDULER_TIMEOUT):
    """Submit the chunks, write each finished one; returns (computed, failed, lost)."""
    from distributed import as_completed

    layout = ode_layout(spec) if spec.kind == "ode" else None
    computed = failed = 0
    lost: dict[str, str] = {}
    with _dask_client(scheduler, workers, timeout) as client:
        client.register_plugin(WarmUp(spec.kind))  # numba kernels loaded once per worker
        n_workers = len(client.scheduler_info(n_workers=-1)["workers"]) or (workers or 1)
        chunks = plan_chunks(todo, n_workers, chunk_size or spec.chunk_size, spec.kind)
        futures = {}
        for chunk in chunks:
            items = [(p.key, p.config) for p in chunk]
            name = "sweep-chunk-" + _chunk_token(spec.kind, items, spec.save)
            fut = client.submit(run_chunk, spec.kind, items, layout, spec.save, key=name,
                                pure=False, retries=2)
            futures[fut] = chunk
        bar, task = _progress(show, total, skipped)
        with bar, _cancel_on_interrupt(client, futures):
            for fut in as_completed(futures):
                chunk = futures.pop(fut)
                try:
                    ds = fut.result()
                except Exception as exc:  # noqa: BLE001 - e.g. KilledWorker: keep going
                    msg = f"lost: {type(exc).__name__}: {exc}"
                    lost.update({p.key: msg for p in chunk})
                    n_fail = len(chunk)
                else:
                    st.write_chunk(ds)
                    computed += len(chunk)
                    n_fail = int((ds["status"].values < 0).sum())
                fut.release()
                failed += n_fail
                done = skipped + computed + len(lost)
                bar.update(task, completed=done, done=done - failed, failed=failed,
                           remaining=total - done)
    return computed, failed, lost


@contextmanager
def _cancel_on_interrupt(client: Any, futures: dict):
    """On Ctrl-C (or any error) cancel the chunks still pending: no orphan work is left on
    a shared cluster, and a re-run recomputes exactly the points missing from the store."""
    try:
        yield
    except BaseException:
        if futures:
            client.cancel(list(futures), force=True)
        raise


def _chunk_token(kind: str, items: list[tuple[str, Any]], save: list[str] | None) -> str:
    import hashlib

    text = kind + "|" + ",".join(k for k, _ in items) + "|" + ",".join(save or [])
    return hashlib.sha256(text.encode()).hexdigest()[:20]
