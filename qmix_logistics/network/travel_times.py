"""Fastest-path travel times from the source nodes asked for, computed on first use and kept.

A city network has far too many nodes for all-pairs matrices (13,000 nodes: 1.3 GB per matrix), but a
simulated day only ever asks for drives that start where a vehicle can stand: a depot or the
destination of an order. :class:`TravelTimes` runs one Dijkstra per new source (scipy, several
sources per call) and appends its row of minutes and km, so memory is (sources x nodes), never
nodes squared. The rows are exactly those of an all-pairs computation: each source's search is
independent of the others.

Zone nodes (TNTP centroids) are split in two for the search: an "out" copy that only starts paths
and an "in" copy that only ends them, so no path passes through a zone.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
from numba import njit
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from qmix_logistics.common.errors import QlogError

EXACT_PERCENTILE_NODES = 2000
"""Up to this many nodes, :meth:`TravelTimes.percentile_min` is taken over all pairs (exact)."""
PERCENTILE_SAMPLE_SOURCES = 128
"""Above it, over all targets of this many sources drawn with a fixed seed (an estimate)."""
SHARED_BUDGET_BYTES = 1 << 30
"""A shared table stops taking new worlds' sources beyond this many bytes of rows (see :meth:`TravelTimes.fits`)."""
_BATCH_CELLS = 1 << 22  # sources x nodes per Dijkstra call: bounds the temporary [batch, nodes] arrays (32 MB)
_PATH_CACHE = 64  # predecessor rows kept for drawing paths


class SpeedGraph:
    """The road graph weighted by minutes for one top speed, searched one source at a time."""

    def __init__(self, tail: np.ndarray, head: np.ndarray, length_km: np.ndarray, speed_kmh: np.ndarray,
                 through: np.ndarray, cap_kmh: float) -> None:
        n = len(through)
        zones = np.flatnonzero(~through)
        in_copy = np.arange(n)
        in_copy[zones] = n + np.arange(len(zones))
        size = n + len(zones)
        cols = in_copy[head]  # edges leave from the original index (a zone's out copy)
        minutes = np.maximum(length_km / np.minimum(speed_kmh, cap_kmh) * 60.0, 1e-6)
        self.n_nodes = n
        self.batch = int(np.clip(_BATCH_CELLS // n, 16, 256))
        """Sources searched per Dijkstra call."""
        self._in_copy = in_copy
        self._split = len(zones) > 0
        self._weights = csr_matrix((minutes, (tail, cols)), shape=(size, size))
        lengths = csr_matrix((length_km, (tail, cols)), shape=(size, size))
        self._len_indptr = lengths.indptr.astype(np.int64)
        self._len_cols = lengths.indices.astype(np.int64)
        self._len_km = lengths.data.astype(np.float64)
        self._pred_rows: OrderedDict[int, np.ndarray] = OrderedDict()

    def search(self, sources: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Minutes ``[len(sources), n]`` from each source and the predecessor of each node on its path
        (negative for a through source itself; a zone source's own entry is that of its in copy)."""
        time_min, pred = dijkstra(self._weights, directed=True, indices=sources, return_predecessors=True)
        if self._split:
            time_min = time_min[:, self._in_copy]
            pred = pred[:, self._in_copy]
            pred[pred >= self.n_nodes] = -9999  # an in copy is never a predecessor
        time_min[np.arange(len(sources)), sources] = 0.0
        if not np.isfinite(time_min).all():
            raise QlogError("the road network is not strongly connected", field="network")
        return time_min, pred

    def rows(self, sources: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Minutes and km along the fastest path, each ``[len(sources), n]``."""
        time_min, pred = self.search(sources)
        km = _distances_along(sources.astype(np.int64), pred, self._len_indptr, self._len_cols, self._len_km,
                              self._in_copy)
        return time_min, km

    def predecessors(self, source: int) -> np.ndarray:
        """The predecessor row of ``source`` (for drawing paths; the last few are kept)."""
        row = self._pred_rows.get(source)
        if row is None:
            row = self.search(np.array([source]))[1][0].astype(np.int32)
            self._pred_rows[source] = row
            if len(self._pred_rows) > _PATH_CACHE:
                self._pred_rows.popitem(last=False)
        else:
            self._pred_rows.move_to_end(source)
        return row


@njit(cache=True)
def _distances_along(sources, pred, indptr, cols, length_km, in_copy):  # pragma: no cover - compiled
    """Sum edge lengths along each fastest path: km [sources, n]. Each node's km is its predecessor's
    plus the edge between them; a node's chain of predecessors is walked up to a node already done."""
    b, n = pred.shape
    dist = np.zeros((b, n))
    done = np.zeros(n, dtype=np.bool_)
    chain = np.empty(n, dtype=np.int64)
    for i in range(b):
        for v in range(n):
            done[v] = pred[i, v] < 0
        done[sources[i]] = True  # a zone's own row has a predecessor (its in copy's), never followed
        for v in range(n):
            depth = 0
            x = v
            while not done[x]:
                chain[depth] = x
                depth += 1
                x = pred[i, x]
            while depth > 0:
                depth -= 1
                y = chain[depth]
                p = pred[i, y]
                col = in_copy[y]
                edge = 0.0
                for e in range(indptr[p], indptr[p + 1]):
                    if cols[e] == col:
                        edge = length_km[e]
                        break
                dist[i, y] = dist[i, p] + edge
                done[y] = True
    return dist


class TravelTimes:
    """Minutes and km of fastest paths from the sources computed so far, for each of ``speeds``.

    ``rows_min[t, row_of[u], v]`` is the drive u -> v for vehicle type t (``rows_km`` likewise);
    ``row_of[u]`` is -1 until :meth:`ensure` has computed source ``u``. The row arrays grow as sources
    are added (and may be reallocated then: read them after ``ensure``). Compiled kernels take
    ``rows_min`` and ``row_of`` directly; Python code reads :attr:`time_min` and :attr:`dist_km`, which
    index like the old ``[type, from, to]`` matrices and compute missing sources on the way.
    """

    def __init__(self, graphs: Sequence[SpeedGraph], speeds: tuple[float, ...]) -> None:
        self.speeds = speeds
        self._graphs = list(graphs)
        self.n_nodes = graphs[0].n_nodes
        self.row_of = np.full(self.n_nodes, -1, dtype=np.int64)
        self.n_rows = 0
        self.rows_min = np.empty((len(graphs), 0, self.n_nodes))
        self.rows_km = np.empty((len(graphs), 0, self.n_nodes))
        self._percentiles: dict[tuple[float, int], float] = {}
        self.budget_bytes = SHARED_BUDGET_BYTES

    @property
    def time_min(self) -> TravelView:
        """Minutes, indexed ``[type, from, to]`` (``from``: node or node array, never a slice)."""
        return TravelView(self, km=False)

    @property
    def dist_km(self) -> TravelView:
        """Km along the fastest path, indexed like :attr:`time_min`."""
        return TravelView(self, km=True)

    @property
    def nbytes(self) -> int:
        """Memory held by the row arrays (bytes)."""
        return int(self.rows_min.nbytes + self.rows_km.nbytes + self.row_of.nbytes)

    def fits(self, sources: Any) -> bool:
        """Whether adding the rows of ``sources`` keeps the table within ``budget_bytes`` (an empty table
        always takes them). Over many seeds the union of destinations nears every node; a world that
        does not fit starts a fresh table instead, and the old one lives on only while a world holds it."""
        nodes = np.unique(np.asarray(sources, dtype=np.int64).ravel())
        missing = np.count_nonzero(self.row_of[nodes] < 0)
        rows = self.n_rows + missing
        return missing == 0 or self.n_rows == 0 or rows * len(self._graphs) * self.n_nodes * 16 <= self.budget_bytes

    def ensure(self, sources: Any) -> None:
        """Compute the rows of every node in ``sources`` not computed yet, several per Dijkstra call."""
        nodes = np.unique(np.asarray(sources, dtype=np.int64).ravel())
        if len(nodes) and (nodes[0] < 0 or nodes[-1] >= self.n_nodes):
            raise IndexError(f"source nodes must lie in 0..{self.n_nodes - 1}")
        missing = nodes[self.row_of[nodes] < 0]
        if not len(missing):
            return
        self._reserve(self.n_rows + len(missing))
        step = self._graphs[0].batch
        for start in range(0, len(missing), step):
            batch = missing[start:start + step]
            rows = slice(self.n_rows, self.n_rows + len(batch))
            for t, graph in enumerate(self._graphs):
                self.rows_min[t, rows], self.rows_km[t, rows] = graph.rows(batch)
            self.row_of[batch] = np.arange(rows.start, rows.stop)
            self.n_rows = rows.stop

    def rows_for(self, nodes: Any) -> Any:
        """Row index of each node in ``nodes`` (an int or an int array), computing missing ones."""
        if isinstance(nodes, (int, np.integer)):  # the common case, kept cheap
            row = self.row_of[nodes]
            if row < 0:
                self.ensure([nodes])
                row = self.row_of[nodes]
            return row
        if isinstance(nodes, slice) or nodes is Ellipsis or nodes is None:
            raise TypeError("travel times are kept per source: index the from-nodes explicitly, not with a slice")
        rows = self.row_of[nodes]
        if np.any(rows < 0):
            self.ensure(nodes)
            rows = self.row_of[nodes]
        return rows

    def percentile_min(self, q: float, t: int = 0) -> float:
        """The ``q``-th percentile of drive minutes between nodes for type ``t``, zero self-drives included.

        Exact over all pairs up to :data:`EXACT_PERCENTILE_NODES` nodes; above, over every target of
        :data:`PERCENTILE_SAMPLE_SOURCES` sources drawn with a fixed seed. Neither keeps rows.
        """
        key = (float(q), int(t))
        if key not in self._percentiles:
            n = self.n_nodes
            if n <= EXACT_PERCENTILE_NODES:
                sources = np.arange(n)
            else:
                rng = np.random.default_rng(0x7A0)
                sources = np.sort(rng.choice(n, size=PERCENTILE_SAMPLE_SOURCES, replace=False))
            times = np.empty((len(sources), n))
            step = self._graphs[t].batch
            for start in range(0, len(sources), step):
                batch = sources[start:start + step]
                times[start:start + len(batch)] = self._graphs[t].search(batch)[0]
            self._percentiles[key] = float(np.percentile(times, q))
        return self._percentiles[key]

    def _reserve(self, rows: int) -> None:
        capacity = self.rows_min.shape[1]
        if rows <= capacity:
            return
        capacity = min(self.n_nodes, max(rows, capacity + capacity // 2))
        for name in ("rows_min", "rows_km"):
            old = getattr(self, name)
            new = np.empty((old.shape[0], capacity, self.n_nodes))
            new[:, : self.n_rows] = old[:, : self.n_rows]
            setattr(self, name, new)


class TravelView:
    """Numpy-style reads of a :class:`TravelTimes`: ``[type]``, ``[type, from]`` (a row) or
    ``[type, from, to]``; bound to a type, ``[from]`` and ``[from, to]``. ``from`` is a node or an
    integer array (``np.ix_`` works); a slice is refused, since that would compute every row."""

    __slots__ = ("_km", "_table", "_type")

    def __init__(self, table: TravelTimes, *, km: bool, vehicle_type: int | None = None) -> None:
        self._table = table
        self._km = km
        self._type = vehicle_type

    @property
    def shape(self) -> tuple[int, ...]:
        n = self._table.n_nodes
        return (n, n) if self._type is not None else (len(self._table.speeds), n, n)

    def __getitem__(self, key: Any) -> Any:
        if not isinstance(key, tuple):
            key = (key,)
        if self._type is None:
            if len(key) == 1:
                return TravelView(self._table, km=self._km, vehicle_type=int(key[0]))
            t, key = key[0], key[1:]
        else:
            t = self._type
        rows = self._table.rows_for(key[0])
        store = self._table.rows_km if self._km else self._table.rows_min  # after rows_for: it may grow
        return store[(t, rows) + key[1:]]
