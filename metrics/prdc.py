"""Precision, recall, density and coverage (Kynkäänniemi et al. 2019; Naeem et al. 2020).

Same definitions as the reference ``prdc`` package (``prdc.compute_prdc``): a sample's k-NN
radius is the distance to its k-th nearest neighbour in its own set (itself excluded), and

    precision = fraction of fake samples inside at least one real k-NN ball
    recall    = fraction of real samples inside at least one fake k-NN ball
    density   = (1/k) * mean over fakes of the number of real balls containing it
    coverage  = fraction of real samples whose ball contains at least one fake

("inside" is a strict <). Distances are computed in row chunks of ``chunk_size``, so peak memory
is chunk_size x max(N, M) distances and the N x M matrix never exists at once.

Exactness. The default, ``dtype=torch.float64``, takes the decisions of a float64 computation:
``d = sqrt(max(0, ||a||^2 + ||b||^2 - 2 a.b))`` in float64, the (k+1)-th smallest per row, and every
``d < r`` on those values, as the ``prdc`` package does (sklearn's float64 distances, also for
float32 input). Where that expanded value is below its cancellation bound ``c (||a||^2 + ||b||^2)``
(c = 1.01 (2 g64 + 4 u64) / (1 - g64)^2, below), it may be nothing but rounding error, of either
sign (duplicated points gave ~1e-8 instead of 0, so a k-NN radius of 0 became a ball holding the
copies, depending on the summation order); those pairs are recomputed as sum((a - b)^2), which is
exactly 0 for duplicates and accurate to a few ulps for near-duplicates. Equal rows need no work:
on the first cancelled pair, the rows of all sets get ids (``_RowIds``: a hash of their bits,
verified against one representative row, so equal ids mean equal rows), and a cancelled pair of
equal ids is 0, which sum((a - b)^2) would give too; so a collapsed generator (N identical
fakes: N^2 cancelled pairs) costs about what it did without the recomputation. The rest (near-duplicates) are recomputed
in vectorised blocks of pairs, each value a function of its two rows alone; both paths use the
same code (``_exact_d2``), so they stay equal. On ordinary data no pair is that close and the
cost is one comparison per distance. With ``screen=True`` (default)
the same decisions come faster:

- Screen: the features are centred on their common mean and rounded to float32; float32 GEMMs
  (about 2.5x faster than float64 on CPUs) give S_ij = (c_i + c_j) - 2 a''.b'' with c_i =
  ||a''||^2 + e_i rounded up, and the float64 path's squared distance lies in
  [S_ij - 2 E_i - 2 E_j, S_ij] (E_i = c_i - ||a''||^2 >= e_i). The two self-distance matrices are
  symmetric: each chunk computes only its strip of columns from its first row on (half the work).
- Radii: each row keeps its 32 smallest S. The (k+1)-th smallest float64 value lies between the
  (k+1)-th smallest lower and upper bounds; only columns whose intervals reach into that range
  are computed in float64 (one or two per row, typically).
- ``d < r``: inside where S < r^2 (1 - 2^-40), outside where S - 2 E_i - 2 E_j > r^2 (1 + 2^-40)
  (the margin covers the sqrt, which needs 4 u64); pairs in between are computed in float64.
- A row with more than 32 open columns is computed wholly by the float64 path's own code.

The bound (u = 2^-24, u64 = 2^-53, g = D u / (1 - D u), g64 = D u64 / (1 - D u64); A = ||a''||^2
in float32, A64 = ||a||^2 in float64): rounding the centred features to float32 moves an exact
squared distance by at most 4 (u + u64)(A + B)(1 + O(g)); the float32 norms and dot product err
by at most g times ||a''||^2, ||b''||^2, ||a''|| ||b''|| (any summation order), so the expanded
formula by 2 g (A + B) plus its last roundings; the float64 path errs likewise by
(2 g64 + 3 u64)(A64 + B64). So e_i = alpha A + beta A64 + tau, alpha = 1.01 ((2 g + 4.2 (u + u64))
/ (1 - g)^2 + 12 u) (12 u: the float32 roundings in S and c_i, and the float64 threshold
arithmetic), beta = 1.01 (2 g64 + 4 u64) / (1 - g64)^2, tau = D 2^-146 (underflow). It is used
only when float32 matmuls are IEEE float32 (no TF32/bf16 matmul precision set), D u <= 2^-7 and
the centred squared norms stay below 2^100; otherwise everything is float64.
tests/test_prdc_exact.py checks the bound on stress data and runs prdc with the float32 values
replaced by adversarial ones anywhere within it.

Limits of "exact": float64 rounds too. Two float64 computations of one distance (the package's
sklearn GEMM, genbench's chunked GEMM, the screen's per-pair numpy dot product) can differ in
the last bits, so a distance within ~1e-15 relative of a radius is decided by rounding in every
implementation (duplicated points are not: genbench recomputes them to exactly 0, where the
package's noise may differ from 0); where the features' norms dwarf their distances (|x| ~ 1e6,
distances ~ 1) that noise reaches ~1e-4, and genbench's float64 path and the package disagree as
well. Exactly representable data (small integers) and distances clear of that noise are decided
identically; knn_radii's radii agree with the float64 path's to ~1e-15 relative. Features below
~1e-20 in scale make tau dominate: the screen then decides nothing and the cost is float64's.
The recomputed pairs stay inside the screen's bound: their values are closer to the exact
distance than the expanded formula's, which the bound covers. ``screen=False`` is the plain
float64 path; ``dtype=torch.float32`` a plain float32 one (faster still, not exact; it recomputes
its cancelled pairs with float32's bound).

>>> import torch
>>> x = torch.randn(200, 8, generator=torch.Generator().manual_seed(0))
>>> prdc(x, x, k=3)["precision"]
1.0
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch

_U32, _U64 = 2.0**-24, 2.0**-53  # unit roundoffs
_ETA = 2.0**-40  # relative margin around a squared radius (sqrt rounding needs 4 * _U64)
_TOP = 32  # nearest columns per row the screen keeps; a row needing more is computed in float64
_GATHER = 2**19  # float64 elements gathered at once by the per-pair recomputation (4 MiB)
_GRAIN = 32768  # torch runs elementwise ops on fewer elements serially (at::internal::GRAIN_SIZE)


def _as_features(x: Any, name: str, dtype: torch.dtype) -> torch.Tensor:
    t = x.detach() if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    if t.dim() != 2:
        raise ValueError(f"{name} must be 2-D (N samples, D features), got shape {tuple(t.shape)}")
    t = t.to(dtype)
    if not torch.isfinite(t.sum()) and not torch.isfinite(t).all():  # a finite sum: no NaN/inf (cheap)
        raise ValueError(f"{name} contain NaN or inf; the features are broken")
    return t


def _row_chunks(x: torch.Tensor, chunk_size: int) -> Iterator[tuple[int, torch.Tensor]]:
    for start in range(0, x.shape[0], chunk_size):
        yield start, x[start : start + chunk_size]


def _cancellation_factor(d: int, dtype: torch.dtype) -> float:
    """c such that ||a||^2 + ||b||^2 - 2 a.b in ``dtype`` errs by at most c (||a||^2 + ||b||^2).

    The norms and the dot product err by g = D u / (1 - D u) relative (any summation order), the
    three last roundings by u each (module docstring; the screen's beta for float64).
    """
    u = float(torch.finfo(dtype).eps) / 2
    g = _gamma(d, u)
    return 1.01 * (2 * g + 4 * u) / (1 - g) ** 2


def _exact_d2(xa: torch.Tensor, i: torch.Tensor, xb: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
    """sum((xa[i] - xb[j])^2) per pair, in xa's dtype: no cancellation (0 for duplicates).

    Each value is a function of its two rows alone (numpy's einsum on the CPU: one contiguous sum
    per pair), so a pair gives the same value in every path and chunk.
    """
    n, d = len(i), xa.shape[1]
    if xa.device.type != "cpu":
        return torch.cat([((xa[i[s : s + 256]] - xb[j[s : s + 256]]) ** 2).sum(1) for s in range(0, n, 256)]) \
            if n else torch.zeros(0, dtype=xa.dtype, device=xa.device)
    na, nb, ia, jb = xa.numpy(), xb.numpy(), i.numpy(), j.numpy()
    step = max(1, min(n, _GATHER // d))
    ga, gb = np.empty((step, d), dtype=na.dtype), np.empty((step, d), dtype=na.dtype)
    out = np.empty(n, dtype=na.dtype)
    for s in range(0, n, step):
        m = min(step, n - s)
        np.take(na, ia[s : s + m], axis=0, out=ga[:m])
        np.take(nb, jb[s : s + m], axis=0, out=gb[:m])
        np.subtract(ga[:m], gb[:m], out=ga[:m])
        np.einsum("pd,pd->p", ga[:m], ga[:m], out=out[s : s + m])
    return torch.from_numpy(out)


_IdPair = Callable[[], "tuple[torch.Tensor, torch.Tensor]"]  # (ids of a's rows, ids of b's rows), on demand


class _RowIds:
    """Ids of the rows of several feature sets, computed once on first use: equal ids => equal rows.

    A row's id is the global index (over the sets in order) of the first row with the same hash
    of its bits, if it equals that row value for value, else its own index; so equal ids mean
    equal rows, whose difference is exactly 0, whatever the hash. (Equal rows with different
    bits, -0.0 vs 0.0, or a hash collision, only get different ids: their pairs are recomputed.)
    """

    def __init__(self, xs: Sequence[torch.Tensor]) -> None:
        self._xs, self._ids = list(xs), None
        self.computed = 0  # times the ids were computed (tests)

    def get(self, which: int) -> torch.Tensor:
        if self._ids is None:
            self._ids = self._compute()
            self.computed += 1
        return self._ids[which]

    def _compute(self) -> list[torch.Tensor]:
        xs, dev = self._xs, self._xs[0].device
        d = xs[0].shape[1]
        bits = {8: torch.int64, 4: torch.int32, 2: torch.int16}.get(xs[0].element_size())
        if bits is None or xs[0].dtype.is_complex:  # no hash: every row its own id (all pairs recomputed)
            offsets = np.cumsum([0] + [x.shape[0] for x in xs]).tolist()
            return [torch.arange(lo, hi, device=dev) for lo, hi in zip(offsets, offsets[1:])]
        gen = torch.Generator().manual_seed(0x5EED)
        mult = (torch.randint(-(2**62), 2**62, (d,), generator=gen, dtype=torch.int64) * 2 + 1).to(dev)
        step = max(1, 2**21 // max(d, 1))
        hashes = []
        for x in xs:  # sum of bits * odd multipliers, mod 2^64 (int64 arithmetic wraps)
            h = torch.empty(x.shape[0], dtype=torch.int64, device=dev)
            for start, rows in _row_chunks(x, step):
                h[start : start + len(rows)] = (rows.contiguous().view(bits).to(torch.int64) * mult).sum(1)
            hashes.append(h)
        total = sum(len(h) for h in hashes)
        _, inverse = torch.unique(torch.cat(hashes), return_inverse=True)
        own = torch.arange(total, device=dev)
        first = torch.full((int(inverse.max()) + 1 if total else 0,), total, dtype=torch.int64, device=dev)
        ids = first.scatter_reduce_(0, inverse, own, "amin")[inverse]
        offsets = [0]
        for x in xs:
            offsets.append(offsets[-1] + x.shape[0])
        check = (ids != own).nonzero()[:, 0]  # rows whose hash a former row shares: compare values
        for part in check.split(step):
            rows = torch.empty((len(part), d), dtype=xs[0].dtype, device=dev)
            reps = torch.empty_like(rows)
            for x, lo, hi in zip(xs, offsets, offsets[1:]):
                mine = (part >= lo) & (part < hi)
                rows[mine] = x[part[mine] - lo]
                theirs = (ids[part] >= lo) & (ids[part] < hi)
                reps[theirs] = x[ids[part][theirs] - lo]
            ids[part] = torch.where((rows == reps).all(1), ids[part], part)
        return [ids[lo:hi] for lo, hi in zip(offsets, offsets[1:])]


def _squared_distances(a: torch.Tensor, b: torch.Tensor, b_sq: torch.Tensor, ids: _IdPair,
                       self_cols: torch.Tensor | None = None) -> torch.Tensor:
    """Squared Euclidean distances (len(a), len(b)) via ||a||^2 + ||b||^2 - 2 a.b, clamped at 0.

    Pairs where that value is below its cancellation bound are 0 if their rows are equal (equal
    ids: ``ids()`` gives the ids of a's and b's rows, from one ``_RowIds``, called only then)
    and otherwise recomputed by ``_exact_d2``. ``self_cols``: a's row r is b's row self_cols[r]
    (the same row): that distance is 0 (sum((a - a)^2)) and needs no ids.
    """
    a_sq = (a * a).sum(1, keepdim=True)
    norms = a_sq + b_sq[None, :]
    d2 = torch.mm(a, b.T).mul_(-2.0).add_(norms)  # == norms - 2 a.b, bit for bit
    c = _cancellation_factor(a.shape[1], a.dtype)
    if self_cols is not None:
        diag = (torch.arange(len(a), device=d2.device), self_cols)
        d2[diag] = float("inf")  # not cancelled; 0 below
    # a row has no cancelled pair where its smallest value exceeds c (||a||^2 + max ||b||^2), with
    # 2^-30 over the two roundings of the pairs' own threshold below: one pass, no (a, b) temporaries
    if b.shape[0] and bool((d2.amin(1) <= (a_sq[:, 0] + b_sq.max()) * (c * (1 + 2.0**-30))).any()):
        cancelled = d2 <= norms.mul_(c)
        ids_a, ids_b = ids()
        same = ids_a[:, None] == ids_b[None, :]
        d2.masked_fill_(cancelled & same, 0.0)  # equal rows: sum((a - b)^2) = 0
        r, col = (cancelled & ~same).nonzero(as_tuple=True)
        if len(r):
            d2[r, col] = _exact_d2(a, r, b, col).to(d2.device)
    if self_cols is not None:
        d2[diag] = 0.0
    return d2.clamp_(min=0.0)


def _distances(a: torch.Tensor, b: torch.Tensor, b_sq: torch.Tensor, ids: _IdPair,
               self_cols: torch.Tensor | None = None) -> torch.Tensor:
    """Euclidean distances (len(a), len(b)) via ||a||^2 + ||b||^2 - 2 a.b, clamped at 0."""
    return _squared_distances(a, b, b_sq, ids, self_cols).sqrt_()


def _check_k(ks: list[int], n: int) -> None:
    if max(ks) + 1 > n:
        top = max(ks)
        raise ValueError(f"k={top} nearest neighbours need at least k + 1 = {top + 1} samples, got {n}")


def _direct_radii(x: torch.Tensor, ks: list[int], chunk_size: int, row_ids: _RowIds | None = None,
                  which: int = 0) -> torch.Tensor:
    """(len(ks), N) k-NN radii computed in x's dtype (the plain path); x is set ``which`` of ``row_ids``."""
    top = max(ks)
    sq = (x * x).sum(1)
    radii = torch.empty(len(ks), x.shape[0], dtype=x.dtype, device=x.device)
    cols = torch.tensor(ks, device=x.device)
    if row_ids is None:
        row_ids, which = _RowIds([x]), 0
    for start, rows in _row_chunks(x, chunk_size):
        stop = start + len(rows)
        d = _distances(rows, x, sq, lambda: (row_ids.get(which)[start:stop], row_ids.get(which)),
                       torch.arange(start, stop, device=x.device))  # exact self-distance: 0
        radii[:, start : start + len(rows)] = d.topk(top + 1, dim=1, largest=False).values[:, cols].T
    return radii


def knn_radii(x: torch.Tensor, k: int | Sequence[int], chunk_size: int = 1024, screen: bool = True) -> torch.Tensor:
    """Distance of each row of x (N, D) to its k-th nearest other row: (N,), same dtype.

    Like ``prdc``, this is the (k+1)-th smallest distance counting the row itself (distance 0).
    With a sequence of ks: (len(ks), N), one distance pass for all of them. For float64 x,
    ``screen`` computes the float64 radii through the float32 screen (module docstring).
    """
    ks = [k] if isinstance(k, int) else list(k)
    _check_k(ks, x.shape[0])
    spaces = _screens([x]) if screen and x.dtype == torch.float64 else None
    radii = _direct_radii(x, ks, chunk_size) if spaces is None else _screened_radii2(spaces[0], ks, chunk_size).sqrt_()
    return radii[0] if isinstance(k, int) else radii


# --- the float32 screen with float64 certification -------------------------------------------
@dataclass(frozen=True)
class _Space:
    """One feature set as the screen sees it (n rows, D features)."""

    x64: torch.Tensor  # (n, D) float64, as given
    sq64: torch.Tensor  # (n,) ||x||^2 in float64, as the float64 path computes it
    x32: torch.Tensor  # (n, D) float32, centred on the common mean
    sq32: torch.Tensor  # (n,) ||x32||^2 in float32
    col: torch.Tensor  # (n,) float32: sq32 + e rounded up (the row's term of S)
    err: torch.Tensor  # (n,) float64: col - sq32 (>= e): d2 lies in [S_ij - 2 err_i - 2 err_j, S_ij]
    row_ids: _RowIds  # ids of the rows of all the sets screened together (equal ids: equal rows)
    which: int  # this set's index in row_ids

    def ids(self) -> torch.Tensor:
        return self.row_ids.get(self.which)


def _gamma(n: int, u: float) -> float:
    return n * u / (1.0 - n * u)


def _float32_matmul_is_ieee(device: torch.device) -> bool:
    """True when float32 matmuls on this device run in IEEE float32 (no TF32, no bf16)."""
    try:
        if device.type == "cuda":
            if torch.backends.cuda.matmul.allow_tf32:
                return False
            chain = [torch.backends.cuda.matmul, torch.backends]
        elif device.type == "cpu":
            chain = [torch.backends.mkldnn.matmul, torch.backends.mkldnn, torch.backends]
        else:
            return False
        if any(getattr(b, "fp32_precision", "none") not in ("none", "ieee") for b in chain):
            return False
        return torch.get_float32_matmul_precision() == "highest"
    except RuntimeError:  # mixed legacy/new precision settings: do not guess
        return False


def _round_up_float32(v: torch.Tensor) -> torch.Tensor:
    """The smallest float32 >= each float64 value."""
    f = v.float()
    return torch.where(f.double() < v, torch.nextafter(f, torch.full_like(f, float("inf"))), f)


def _screens(xs: list[torch.Tensor]) -> list[_Space] | None:
    """Float32 screens of float64 feature sets with a common centre, or None where the bound does not hold."""
    d = xs[0].shape[1]
    if d * _U32 > 2.0**-7 or not _float32_matmul_is_ieee(xs[0].device):
        return None
    g, g64 = _gamma(d, _U32), _gamma(d, _U64)
    alpha = 1.01 * ((2 * g + 4.2 * (_U32 + _U64)) / (1 - g) ** 2 + 12 * _U32)
    beta = 1.01 * (2 * g64 + 4 * _U64) / (1 - g64) ** 2
    tau = d * 2.0**-146
    centre = sum(x.sum(0) for x in xs) / sum(x.shape[0] for x in xs)
    spaces = []
    xs = [x.contiguous() for x in xs]
    row_ids = _RowIds(xs)
    for which, x in enumerate(xs):
        x32 = torch.empty(x.shape, dtype=torch.float32, device=x.device)
        sq64 = torch.empty(x.shape[0], dtype=torch.float64, device=x.device)
        sq32 = torch.empty(x.shape[0], dtype=torch.float32, device=x.device)
        for start, rows in _row_chunks(x, 4096):  # a few large ops (each parallel op may wait on a busy core)
            part = x32[start : start + len(rows)]
            part.copy_(rows - centre)
            sq32[start : start + len(rows)] = (part * part).sum(1)
            sq64[start : start + len(rows)] = (rows * rows).sum(1)
        if not (torch.isfinite(sq32).all() and float(sq32.max()) <= 2.0**100):
            return None
        col = _round_up_float32(sq32.double() + alpha * sq32.double() + beta * sq64 + tau)
        spaces.append(_Space(x, sq64, x32, sq32, col, col.double() - sq32.double(), row_ids, which))
    return spaces


def _screen_block(rows: _Space, start: int, stop: int, cols: _Space, out: torch.Tensor, col_start: int = 0) -> torch.Tensor:
    """S = (col_j - 2 a.b) + col_i in float32, for rows[start:stop] (a) against cols[col_start:] (b).

    The float64 path's squared distance lies in [S - 2 err_i - 2 err_j, S]. ``out``:
    (stop - start, len(cols) - col_start) float32, overwritten and returned.
    """
    torch.mm(rows.x32[start:stop], cols.x32[col_start:].T, out=out)
    torch.add(cols.col[None, col_start:], out, alpha=-2.0, out=out)
    return out.add_(rows.col[start:stop, None])


def _pairs_d2(a: _Space, i: torch.Tensor, b: _Space, j: torch.Tensor) -> torch.Tensor:
    """Float64 squared distances of the pairs (a[i], b[j]), by the float64 path's formula.

    Each dot product is a function of its two rows alone (numpy's einsum on the CPU: one
    contiguous sum per pair), so equal pairs give equal values wherever they occur. Values below
    the cancellation bound are 0 for equal rows and otherwise recomputed by ``_exact_d2``, as
    ``_squared_distances`` does.
    """
    n, d = len(i), a.x64.shape[1]
    if a.x64.device.type != "cpu":
        dot = torch.cat([(a.x64[i[s : s + 256]] * b.x64[j[s : s + 256]]).sum(1) for s in range(0, n, 256)]) \
            if n else torch.zeros(0, dtype=torch.float64, device=a.x64.device)
    else:
        xa, xb = a.x64.numpy(), b.x64.numpy()
        ia, jb = i.numpy(), j.numpy()
        step = max(1, min(n, _GATHER // d))
        ga, gb = np.empty((step, d)), np.empty((step, d))
        out = np.empty(n)
        for s in range(0, n, step):
            m = min(step, n - s)
            np.take(xa, ia[s : s + m], axis=0, out=ga[:m])
            np.take(xb, jb[s : s + m], axis=0, out=gb[:m])
            np.einsum("pd,pd->p", ga[:m], gb[:m], out=out[s : s + m])
        dot = torch.from_numpy(out)
    norms = a.sq64[i] + b.sq64[j]
    d2 = norms - 2.0 * dot
    m = (d2 <= norms * _cancellation_factor(d, torch.float64)).nonzero()[:, 0]
    if len(m):
        same = a.ids()[i[m]] == b.ids()[j[m]]
        d2[m[same]] = 0.0  # equal rows: sum((a - b)^2) = 0
        m = m[~same]
        if len(m):
            d2[m] = _exact_d2(a.x64, i[m], b.x64, j[m])
    return d2.clamp_(min=0.0)


def _rows_d2(a: _Space, i: torch.Tensor, b: _Space) -> torch.Tensor:
    """Float64 squared distances of rows a[i] to every row of b: the float64 path's own computation
    (a row against itself, where a is b: 0)."""
    return _squared_distances(a.x64[i], b.x64, b.sq64, lambda: (a.ids()[i], b.ids()), i if a is b else None)


def _serial_rows(width: int) -> int:
    """Rows per step for (rows, width) bookkeeping arrays small enough that torch runs each op
    serially: many small parallel ops cost far more than their work on a busy machine."""
    return max(1, (_GRAIN - 1) // width)


def _nearest_lists(s: _Space, t: int, chunk_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row's t smallest S (ascending; itself first, as -inf) and their columns: (n, t) each.

    S is symmetric, so chunk i computes only its strip of columns >= its first row (half the
    GEMM work): its rows read the strip, and the later rows read the strip's transpose.
    """
    n, dev = s.x64.shape[0], s.x64.device
    strip = torch.empty(min(chunk_size, n) * n, dtype=torch.float32, device=dev)
    flip = torch.empty_like(strip)
    row_parts, col_parts = [], []  # (first row, values, columns): each row's t smallest of a strip
    for start, rows in _row_chunks(s.x32, chunk_size):
        c, w = rows.shape[0], n - start
        stop = start + c
        sb = _screen_block(s, start, stop, s, strip[: c * w].view(c, w), col_start=start)
        local = torch.arange(c, device=dev)
        sb[local, local] = -float("inf")  # self: distance 0, always among the nearest
        v, i = sb.topk(min(t, w), dim=1, largest=False)
        row_parts.append((start, v, i + start))
        if stop < n:
            tb = flip[: (n - stop) * c].view(n - stop, c).copy_(sb[:, c:].T)
            v, i = tb.topk(min(t, c), dim=1, largest=False)
            col_parts.append((stop, v, i + start))
    run_v = torch.empty((n, t), dtype=torch.float32, device=dev)
    run_i = torch.empty((n, t), dtype=torch.int64, device=dev)
    for first, v, i in row_parts:  # merge each row's pieces: its strip, and earlier strips' transposes
        pieces = [(first, v, i)] + [(cs, cv, ci) for cs, cv, ci in col_parts if cs <= first]
        step = _serial_rows(sum(p[1].shape[1] for p in pieces))
        for start in range(first, first + v.shape[0], step):
            stop = min(start + step, first + v.shape[0])
            top, pos = torch.cat([pv[start - ps : stop - ps] for ps, pv, _ in pieces], 1).topk(t, dim=1, largest=False)
            run_v[start:stop] = top
            run_i[start:stop] = torch.cat([pi[start - ps : stop - ps] for ps, _, pi in pieces], 1).gather(1, pos)
    return run_v, run_i


def _screened_radii2(s: _Space, ks: list[int], chunk_size: int) -> torch.Tensor:
    """(len(ks), n) squared k-NN radii equal to the float64 path's, via the float32 screen.

    Per row, with each listed column's interval [lower, upper] of its float64 squared distance:
    the (k+1)-th smallest float64 value lies in [lo, hi] (the (k+1)-th smallest lower and upper
    bounds); columns with upper < lo are surely below it, columns with lower > hi surely above, so
    it is the (k+1 - #below)-th smallest of the rest, which alone are computed in float64.
    """
    n, top, dev = s.x64.shape[0], max(ks), s.x64.device
    t = min(n, max(_TOP, 2 * (top + 1)))
    run_v, run_i = _nearest_lists(s, t, chunk_size)
    err2_max = 2.0 * float(s.err.max())
    radii2 = torch.empty(len(ks), n, dtype=torch.float64, device=dev)
    step = _serial_rows(t * len(ks))
    for start in range(0, n, step):
        stop = min(start + step, n)
        vals, idx = run_v[start:stop].double(), run_i[start:stop]
        is_self = idx == torch.arange(start, stop, device=dev)[:, None]  # first in each list (S = -inf): 0
        upper = vals.clamp(min=0.0)  # ascending, like vals
        lower = (vals - 2.0 * s.err[start:stop, None] - 2.0 * s.err[idx]).clamp_(min=0.0)
        # a column outside the list has lower >= vals[:, -1] - err2 - err2_max: beyond every hi below
        over = vals[:, -1] <= upper[:, top] + 2.0 * s.err[start:stop] + err2_max if t < n else \
            torch.zeros(stop - start, dtype=torch.bool, device=dev)
        lower_sorted = lower.sort(dim=1).values
        open_sets, below_counts = [], []
        for k in ks:
            below = upper < lower_sorted[:, k, None]
            open_sets.append(~below & (lower <= upper[:, k, None]))
            below_counts.append(below.sum(1))
        need = torch.stack(open_sets).any(0) & ~over[:, None] & ~is_self
        r, p = need.nonzero(as_tuple=True)
        exact = torch.where(is_self, 0.0, float("inf")).to(torch.float64)
        exact[r, p] = _pairs_d2(s, start + r, s, idx[r, p])
        radii2[:, start:stop] = torch.stack([
            torch.where(open_k, exact, float("inf")).sort(dim=1).values.gather(1, (k - below_k)[:, None])[:, 0]
            for k, open_k, below_k in zip(ks, open_sets, below_counts)
        ])
        over_rows = start + over.nonzero()[:, 0]
        for o in over_rows.split(chunk_size):  # more candidates than the screen kept: float64 rows
            full = _rows_d2(s, o, s)  # self-distances 0
            radii2[:, o] = full.topk(top + 1, dim=1, largest=False).values[:, ks].T
    return radii2


def _screened_cross(
    real: _Space, fake: _Space, real_r2: torch.Tensor, fake_r2: torch.Tensor, ks: list[int], chunk_size: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(fake_hits (K, M), recalled (K, N), covered (K, N)) of the float64 path, via the screen."""
    n, m = real.x64.shape[0], fake.x64.shape[0]
    dev, n_k = real.x64.device, len(ks)
    t = min(m, _TOP)
    err2_max = 2.0 * float(fake.err.max())
    real_r, fake_r = real_r2.sqrt(), fake_r2.sqrt()
    # recall compares column-wise, z = S - fake_r2_j in float32: `slack` covers that rounding
    g = _gamma(real.x64.shape[1], _U32)
    s_bound = 1.01 * (1 + 2 * _U32) * (float(real.col.max()) + float(fake.col.max())
                                       + (float(real.sq32.max()) + float(fake.sq32.max())) * (1 + g) / (1 - g))
    fr2_max = float(fake_r2.max())
    slack = 1.01 * _U32 * (s_bound + 2.0 * fr2_max)
    w32 = torch.where(fake_r2 > 0, fake_r2.float(), torch.full_like(fake_r2, -float("inf"), dtype=torch.float32))
    z_sure = -_ETA * fr2_max - slack  # min_j z_ij < z_sure: i surely inside a fake ball
    z_hi = 2.0 * real.err + err2_max + _ETA * fr2_max + slack  # z_ij > z_hi_i: i surely outside ball j
    near_v = torch.empty((n, t), dtype=torch.float32, device=dev)
    near_i = torch.empty((n, t), dtype=torch.int64, device=dev)
    recalled = torch.zeros(n_k, n, dtype=torch.bool, device=dev)
    buf = torch.empty(min(chunk_size, n), m, dtype=torch.float32, device=dev)
    zbuf = torch.empty_like(buf)
    for start, rows in _row_chunks(real.x32, chunk_size):
        stop = start + rows.shape[0]
        sb = _screen_block(real, start, stop, fake, buf[: stop - start])
        torch.topk(sb, t, dim=1, largest=False, out=(near_v[start:stop], near_i[start:stop]))
        for ki in range(n_k):  # recall: real i inside fake ball j
            z = torch.sub(sb, w32[ki][None, :], out=zbuf[: stop - start])
            zmin = z.amin(1).double()
            recalled[ki, start:stop] = zmin < z_sure
            unsure = ((zmin >= z_sure) & (zmin <= z_hi[start:stop])).nonzero()[:, 0]
            if len(unsure):
                recalled[ki, start + unsure] = _recall_rows(real, start + unsure, fake, z[unsure],
                                                            z_hi[start + unsure], fake_r[ki], t)
    # precision, density, coverage: fake j inside real ball i, from each row's t smallest S
    fake_hits = torch.zeros(n_k, m, dtype=torch.int64, device=dev)
    covered = torch.zeros(n_k, n, dtype=torch.bool, device=dev)
    step = _serial_rows(t)
    for start in range(0, n, step):
        stop = min(start + step, n)
        vals, idx = near_v[start:stop].double(), near_i[start:stop]
        err2 = 2.0 * real.err[start:stop]
        for ki in range(n_k):
            r2, r = real_r2[ki, start:stop], real_r[ki, start:stop]
            live = r2 > 0  # a ball of radius 0 holds nothing
            lo = torch.where(live, r2 * (1 - _ETA), -float("inf"))  # S < lo: surely inside
            hi = torch.where(live, r2 * (1 + _ETA) + err2 + err2_max, -float("inf"))  # S > hi: surely not
            over = vals[:, -1] <= hi if t < m else torch.zeros(stop - start, dtype=torch.bool, device=dev)
            sure = (vals < lo[:, None]) & ~over[:, None]
            maybe = (vals <= hi[:, None]) & ~sure & ~over[:, None]
            sr, sp = sure.nonzero(as_tuple=True)
            mr, mp = maybe.nonzero(as_tuple=True)
            ok = _pairs_d2(real, start + mr, fake, idx[mr, mp]).sqrt() < r[mr]
            in_rows, in_cols = [start + sr, start + mr[ok]], [idx[sr, sp], idx[mr, mp][ok]]
            for o in (start + over.nonzero()[:, 0]).split(chunk_size):  # more than t open: float64 rows
                orow, ocol = (_rows_d2(real, o, fake).sqrt_() < real_r[ki, o, None]).nonzero(as_tuple=True)
                in_rows.append(o[orow])
                in_cols.append(ocol)
            fake_hits[ki] += torch.bincount(torch.cat(in_cols), minlength=m)
            covered[ki, torch.cat(in_rows)] = True
    return fake_hits, recalled, covered


def _recall_rows(real: _Space, rows: torch.Tensor, fake: _Space, z: torch.Tensor, z_hi: torch.Tensor,
                 fake_r: torch.Tensor, limit: int) -> torch.Tensor:
    """Float64 decision of 'real row inside some fake ball' for rows the screen left open."""
    cand = z.double() <= z_hi[:, None]
    many = cand.sum(1) > limit
    out = torch.zeros(len(rows), dtype=torch.bool, device=rows.device)
    r, j = (cand & ~many[:, None]).nonzero(as_tuple=True)
    ok = _pairs_d2(real, rows[r], fake, j).sqrt() < fake_r[j]
    out[r[ok]] = True
    if many.any():
        o = many.nonzero()[:, 0]
        out[o] = (_rows_d2(real, rows[o], fake).sqrt_() < fake_r[None, :]).any(1)
    return out


def prdc(
    real_feats: Any,
    fake_feats: Any,
    k: int = 5,
    chunk_size: int = 1024,
    dtype: torch.dtype = torch.float64,
    device: str | torch.device | None = None,
    screen: bool = True,
) -> dict[str, float]:
    """Precision, recall, density, coverage of fake (M, D) against real (N, D) features.

    real_feats, fake_feats: float arrays or tensors, finite, same D; needs N, M >= k + 1.
    k: neighbourhood size (the field uses 3 for precision/recall, 5 for density/coverage).
    chunk_size: rows of the distance matrix computed at once (memory: chunk_size x max(N, M)).
    dtype: float64 by default: the decisions of a float64 computation, so ties and near-ties
      match the float64 reference; float32 (a plain float32 computation) may flip comparisons
      at distances within ~1e-6 relative of a radius (more with large feature norms).
    device: where to compute (None: where the tensors are; numpy inputs: the CPU).
    screen: with float64, compute in float32 under a rigorous error bound and recompute in
      float64 only what that leaves open (module docstring): the same decisions, 2-2.5x faster
      than screen=False at 10k x 10k, d=2048 on 2 CPU cores. False: everything in float64.
    Returns dict(precision, recall, density, coverage) of floats; all in [0, 1] but density,
    which is in [0, N/k] and is about 1 when the two sets match.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    return prdc_multi(real_feats, fake_feats, (k,), chunk_size, dtype, device, screen)[k]


def prdc_multi(
    real_feats: Any,
    fake_feats: Any,
    ks: Sequence[int],
    chunk_size: int = 1024,
    dtype: torch.dtype = torch.float64,
    device: str | torch.device | None = None,
    screen: bool = True,
) -> dict[int, dict[str, float]]:
    """``prdc`` at several k from one pass over the three distance matrices: {k: dict(...)}.

    The evaluation protocol needs k=3 (precision/recall) and k=5 (density/coverage); computing
    both here costs what one k costs, since the distances dominate.
    """
    ks = list(dict.fromkeys(ks))
    if not ks or any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in ks):
        raise ValueError(f"ks must be integers >= 1, got {ks!r}")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be an integer >= 1, got {chunk_size!r}")
    real = _as_features(real_feats, "real features", dtype)
    fake = _as_features(fake_feats, "fake features", dtype)
    if device is not None:
        real, fake = real.to(device), fake.to(device)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(
            f"real and fake features differ in dimension: {real.shape[1]} vs {fake.shape[1]}; "
            "use the same extractor for both"
        )
    _check_k(ks, real.shape[0])
    _check_k(ks, fake.shape[0])
    spaces = _screens([real, fake]) if screen and dtype == torch.float64 else None
    if spaces is not None:
        real_r2 = _screened_radii2(spaces[0], ks, chunk_size)
        fake_r2 = _screened_radii2(spaces[1], ks, chunk_size)
        fake_hits, recalled, covered = _screened_cross(*spaces, real_r2, fake_r2, ks, chunk_size)
    else:
        fake_hits, recalled, covered = _direct_cross(real, fake, ks, chunk_size)
    return {
        k: {
            "precision": float((fake_hits[i] > 0).double().mean()),
            "recall": float(recalled[i].double().mean()),
            "density": float(fake_hits[i].double().mean() / k),
            "coverage": float(covered[i].double().mean()),
        }
        for i, k in enumerate(ks)
    }


def _direct_cross(
    real: torch.Tensor, fake: torch.Tensor, ks: list[int], chunk_size: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(fake_hits, recalled, covered) with every distance in the features' dtype (the plain path)."""
    row_ids = _RowIds([real, fake])
    real_r = _direct_radii(real, ks, chunk_size, row_ids, 0)  # (K, N)
    fake_r = _direct_radii(fake, ks, chunk_size, row_ids, 1)  # (K, M)
    fake_sq = (fake * fake).sum(1)
    n_k = len(ks)
    fake_hits = torch.zeros(n_k, fake.shape[0], dtype=torch.int64, device=fake.device)  # real balls holding each fake
    recalled = torch.zeros(n_k, real.shape[0], dtype=torch.bool, device=real.device)
    covered = torch.zeros(n_k, real.shape[0], dtype=torch.bool, device=real.device)
    for start, rows in _row_chunks(real, chunk_size):
        stop = start + len(rows)
        d = _distances(rows, fake, fake_sq, lambda: (row_ids.get(0)[start:stop], row_ids.get(1)))  # (c, M)
        nearest = d.min(1).values
        for i in range(n_k):
            fake_hits[i] += (d < real_r[i, start:stop, None]).sum(0)
            recalled[i, start:stop] = (d < fake_r[i, None, :]).any(1)
            covered[i, start:stop] = nearest < real_r[i, start:stop]
    return fake_hits, recalled, covered
