"""The float32 screen of metrics/prdc.py: its error bound holds, and its results are the float64 path's.

The default path computes distances in float32 and recomputes in float64 only what the bound
``|float32 value - float64 value| <= e_i + f_j`` leaves open. Here: the bound contains the float64
path's squared distances on data made to stress it, and prdc through the screen equals the plain
float64 path (screen=False) exactly and the prdc package to 1e-12 (any flipped decision moves a
value by >= 1/n) on duplicated points, exact ties at radii, points within 1e-7 relative of a
radius, large-norm features with small distances, and with the screen's overflow paths forced.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch

from genbench.metrics.prdc import knn_radii, prdc, prdc_multi

P = importlib.import_module("genbench.metrics.prdc")  # the module (genbench.metrics.prdc is the function)
prdc_ref = pytest.importorskip("prdc")
KS = (1, 3, 5)


def _ref(real: np.ndarray, fake: np.ndarray, k: int) -> dict[str, float]:
    out = prdc_ref.compute_prdc(real_features=real, fake_features=fake, nearest_k=k)
    return {key: float(v) for key, v in out.items()}


def _shells(rng: np.random.Generator, centres: np.ndarray, offset: float) -> np.ndarray:
    """8 points around each centre at distances 1 + (m + offset) 1e-8, m = 0..7: near-ties at 1e-8."""
    v = rng.standard_normal((len(centres), 8, centres.shape[1]))
    v /= np.linalg.norm(v, axis=2, keepdims=True)
    radius = 1.0 + (np.arange(8) + offset) * 1e-8
    return (centres[:, None, :] + v * radius[None, :, None]).reshape(-1, centres.shape[1])


def _datasets() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    lattice = rng.integers(0, 3, (200, 4)).astype(np.float64)  # 81 cells: duplicates, exact ties everywhere
    lattice_fake = np.concatenate([rng.integers(0, 3, (120, 4)).astype(np.float64), lattice[:40]])
    relu = np.maximum(rng.standard_normal((160, 256)), 0.0) * 3.0
    centres = rng.standard_normal((30, 16)) * 30.0
    shells = (np.concatenate([centres, _shells(rng, centres, 0.0)]), np.concatenate([centres[:15], _shells(rng, centres, 0.5)]))
    return {
        "shells-near-ties": shells,
        "gauss": (rng.standard_normal((240, 16)), rng.standard_normal((200, 16)) * 1.1 + 0.2),
        "large-norm": (1e3 + rng.standard_normal((200, 32)), 1e3 + rng.standard_normal((180, 32))),
        "scales": (rng.standard_normal((200, 24)) * np.logspace(-3, 3, 24), rng.standard_normal((170, 24)) * np.logspace(-3, 3, 24)),
        "relu-256": (relu, np.maximum(rng.standard_normal((150, 256)), 0.0) * 3.0),
        "float32-1024": (rng.standard_normal((150, 1024)).astype(np.float32),
                         (rng.standard_normal((140, 1024)) + 0.05).astype(np.float32)),
        "lattice-duplicates": (lattice, lattice_fake),
    }


DATA = _datasets()


def _interval(a, b):
    """float64-path squared distances d2 (N, M) and the screen's interval [lower, upper] around them."""
    d2 = (a.sq64[:, None] + b.sq64[None, :]) - 2.0 * (a.x64 @ b.x64.T)  # the float64 path, before its clamp
    upper = P._screen_block(a, 0, len(a.x32), b, torch.empty(len(a.x32), len(b.x32))).double()
    return d2, upper - 2.0 * a.err[:, None] - 2.0 * b.err[None, :], upper


@pytest.mark.parametrize("name", list(DATA))
def test_screen_bound_contains_the_float64_distances(name: str) -> None:
    real, fake = (torch.as_tensor(x, dtype=torch.float64) for x in DATA[name])
    spaces = P._screens([real, fake])
    assert spaces is not None
    for a, b in ((spaces[0], spaces[0]), (spaces[0], spaces[1]), (spaces[1], spaces[1])):
        d2, lower, upper = _interval(a, b)
        assert bool(((lower <= d2) & (d2 <= upper)).all()), "float64 distance outside the screen's bound"
        # not vacuous: the observed float32 error reaches at least 1e-4 of the bound somewhere
        mid = (lower + upper) / 2
        assert float(((mid - d2).abs() / (upper - lower)).max()) > 1e-4
    if name == "large-norm":  # centring: |x| ~ 5.7e3 but the interval is ~1e-5 of d2 ~ 64
        d2, lower, upper = _interval(spaces[0], spaces[1])
        assert float(((upper - lower) / d2).median()) < 1e-4


@pytest.mark.parametrize("name", list(DATA))
def test_screened_equals_float64_path_and_package(name: str) -> None:
    real, fake = DATA[name]
    screened = prdc_multi(real, fake, KS, chunk_size=64)
    assert screened == prdc_multi(real, fake, KS, chunk_size=64, screen=False)
    for k in KS:
        assert screened[k] == pytest.approx(_ref(real.astype(np.float64), fake.astype(np.float64), k), abs=1e-12)
    assert prdc_multi(fake, real, KS, chunk_size=50) == prdc_multi(fake, real, KS, chunk_size=50, screen=False)


def _near_radius_set(k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Real points and fakes placed at r_i (1 + delta), |delta| in {1e-7, 1e-9, 1e-11}, from real i."""
    rng = np.random.default_rng(3)
    real = rng.standard_normal((150, 16))
    d = np.sqrt(((real[:, None, :] - real[None, :, :]) ** 2).sum(-1))
    nn = np.argsort(d, axis=1, kind="stable")[:, k]  # the k-th neighbour (column 0 is the point itself)
    chosen, used = [], set()
    for i in range(len(real)):  # distinct rows and neighbours: no two fakes nearly coincide
        if i not in used and nn[i] not in used:
            chosen.append(i)
            used.update((i, int(nn[i])))
        if len(chosen) == 24:
            break
    deltas = np.array([1e-7, -1e-7, 1e-9, -1e-9, 1e-11, -1e-11])
    rows = np.array(chosen)
    scale = 1.0 + deltas[np.arange(len(rows)) % len(deltas)]
    near = real[rows] + (real[nn[rows]] - real[rows]) * scale[:, None]
    fake = np.concatenate([near, rng.standard_normal((60, 16))])
    return real, fake, rows


def test_points_within_1e7_of_a_radius() -> None:
    k = 3
    real, fake, rows = _near_radius_set(k)
    # the float32 screen cannot decide these pairs: each interval straddles the squared radius
    r2 = knn_radii(torch.as_tensor(real), k).double() ** 2
    sr, sf = P._screens([torch.as_tensor(real), torch.as_tensor(fake)])
    _, lower, upper = _interval(sr, sf)
    j = torch.arange(len(rows))
    assert bool(((lower[rows, j] < r2[rows]) & (r2[rows] < upper[rows, j])).all())
    for a, b in ((real, fake), (fake, real)):  # fakes near real radii, then reals near fake radii
        screened = prdc_multi(a, b, (k,), chunk_size=40)
        assert screened == prdc_multi(a, b, (k,), chunk_size=40, screen=False)
        assert screened[k] == pytest.approx(_ref(a, b, k), abs=1e-12)
    # the data are as designed: fake j is inside real ball rows[j] exactly when its delta < 0
    d = np.sqrt(((fake[: len(rows)] - real[rows]) ** 2).sum(1))
    assert np.array_equal(d < r2[rows].sqrt().numpy(), np.arange(len(rows)) % 2 == 1)


def test_overflow_paths_forced(monkeypatch) -> None:
    """With the screen keeping 4 columns per row, rows go to the float64 row path: same results."""
    calls = {"rows": 0}
    rows_d2 = P._rows_d2

    def counting(*args):
        calls["rows"] += 1
        return rows_d2(*args)

    monkeypatch.setattr(P, "_TOP", 4)
    monkeypatch.setattr(P, "_rows_d2", counting)
    # shells with k=3: lists of 8 (itself + 7 of the 8 near-tied shell points), the 8th must be found
    for name, ks in (("gauss", (3, 5)), ("lattice-duplicates", (3, 5)), ("shells-near-ties", (3,))):
        real, fake = DATA[name]
        for a, b in ((real, fake), (fake, real)):
            assert prdc_multi(a, b, ks, chunk_size=64) == prdc_multi(a, b, ks, screen=False)
    assert calls["rows"] > 0


def test_adversarial_screen_within_its_bound(monkeypatch) -> None:
    """Replace the float32 values by the worst the bound allows: each value pushed 0.8 of the way to
    an end of its interval, at random. The results depend only on the bound, so they stay exact."""
    gen = torch.Generator().manual_seed(0)

    def adversarial(rows, start, stop, cols, out, col_start=0):
        b64 = cols.x64[col_start:]
        d2 = (rows.sq64[start:stop, None] + cols.sq64[None, col_start:]) - 2.0 * (rows.x64[start:stop] @ b64.T)
        half = rows.err[start:stop, None] + cols.err[None, col_start:]
        t = 0.8 * (2.0 * torch.randint(0, 2, out.shape, generator=gen, dtype=torch.float64) - 1.0)
        return out.copy_(d2 + half + t * half)  # the interval [S - 2 half, S] is centred on S - half

    monkeypatch.setattr(P, "_screen_block", adversarial)
    cases = [DATA["gauss"], DATA["lattice-duplicates"], DATA["shells-near-ties"], _near_radius_set(3)[:2],
             _near_radius_set(3)[1::-1]]
    for real, fake in cases:
        for a, b in ((real, fake), (fake, real)):
            assert prdc_multi(a, b, (1, 3, 5), chunk_size=64) == prdc_multi(a, b, (1, 3, 5), screen=False)
    x = torch.as_tensor(DATA["lattice-duplicates"][0])
    assert torch.equal(knn_radii(x, [1, 3, 5], chunk_size=64), knn_radii(x, [1, 3, 5], screen=False))


def test_knn_radii_screened() -> None:
    real, _ = DATA["gauss"]
    x = torch.as_tensor(real)
    screened, direct = knn_radii(x, [1, 3, 5], chunk_size=50), knn_radii(x, [1, 3, 5], screen=False)
    torch.testing.assert_close(screened, direct, rtol=1e-14, atol=0.0)  # per-pair dot vs GEMM: last bits
    lattice = torch.as_tensor(DATA["lattice-duplicates"][0])  # exact arithmetic: identical
    assert torch.equal(knn_radii(lattice, [1, 5], chunk_size=30), knn_radii(lattice, [1, 5], screen=False))
    assert float(knn_radii(lattice, 1).min()) == 0.0  # duplicates: radius exactly 0


def test_screen_falls_back_where_its_bound_does_not_hold() -> None:
    real, fake = DATA["gauss"]
    expected = prdc(real, fake, k=3, screen=False)
    previous = torch.get_float32_matmul_precision()
    try:
        torch.set_float32_matmul_precision("medium")  # bf16/TF32 matmuls: float32 bound invalid
        assert not P._float32_matmul_is_ieee(torch.device("cpu"))
        assert P._screens([torch.as_tensor(real)]) is None
        assert prdc(real, fake, k=3) == expected
    finally:
        torch.set_float32_matmul_precision(previous)
    assert P._float32_matmul_is_ieee(torch.device("cpu"))
    assert P._screens([torch.zeros(3, 140_000, dtype=torch.float64)]) is None  # D u > 2^-7
    huge = torch.as_tensor(real) * 1e25  # squared norms overflow float32
    assert P._screens([huge]) is None
    assert prdc(huge, torch.as_tensor(fake) * 1e25, k=3) == expected


def test_too_few_samples_errors_unchanged() -> None:
    x, y = torch.randn(10, 3, dtype=torch.float64), torch.randn(30, 3, dtype=torch.float64)
    for screen in (True, False):
        with pytest.raises(ValueError, match="at least k \\+ 1 = 11 samples, got 10"):
            prdc(x, y, k=10, screen=screen)
        with pytest.raises(ValueError, match="at least k \\+ 1 = 11 samples, got 10"):
            prdc(y, x, k=10, screen=screen)
    with pytest.raises(ValueError, match="at least k \\+ 1 = 11 samples, got 10"):
        knn_radii(x, 10)


def test_exact_duplicates_have_distance_zero_in_both_paths() -> None:
    """A generator collapsed onto 5 training points (60 exact copies each): the package's numbers in both paths.

    ||a||^2 + ||b||^2 - 2 a.b of a pair of copies is rounding noise (8.4e-8 for one copy here with the
    screen's per-pair dot product, 0 with the GEMM), so the screened path saw a fake k-NN ball of
    radius 8.4e-8 around real row 2 and reported recall 1/300; such pairs are now recomputed as
    sum((a - b)^2) = 0 in both paths.
    """
    rng = np.random.default_rng(0)
    real = rng.normal(size=(300, 16))
    fake = np.repeat(real[:5], 60, 0)
    ref = _ref(real, fake, 3)
    assert ref == {"precision": 1.0, "recall": 0.0, "density": 1.0, "coverage": 0.05}
    for screen in (True, False):
        assert prdc(real, fake, k=3, screen=screen) == pytest.approx(ref, abs=1e-12), screen
        assert prdc(fake, real, k=3, screen=screen) == pytest.approx(_ref(fake, real, 3), abs=1e-12), screen
        radii = knn_radii(torch.as_tensor(fake), [1, 3, 5], screen=screen)
        assert float(radii.abs().max()) == 0.0, screen  # 59 exact copies of each point
    spaces = P._screens([torch.as_tensor(real), torch.as_tensor(fake)])
    i, j = torch.arange(5), torch.arange(5) * 60
    assert float(P._pairs_d2(spaces[0], i, spaces[1], j).abs().max()) == 0.0
    rows = P._rows_d2(spaces[0], i, spaces[1])
    assert float(rows[i, j].abs().max()) == 0.0
    assert float(knn_radii(torch.as_tensor(fake, dtype=torch.float32), 3).abs().max()) == 0.0  # float32 path too


def test_near_duplicates_recomputed_pairs_match_the_exact_distance() -> None:
    """Twins ~1e-8 (relative) apart: their squared distance (~4e-13) is below the expanded formula's
    rounding error (~1e-12 here; its bound 5e-11), so it is recomputed: accurate, and equal in both paths."""
    rng = np.random.default_rng(1)
    base = rng.normal(size=(40, 32)) * 10.0
    x = np.concatenate([base, base + 1e-7 * rng.normal(size=base.shape)])
    t = torch.as_tensor(x)
    exact = np.sqrt(((x[:40] - x[40:]) ** 2).sum(1))  # each point's nearest neighbour is its twin
    for screen in (True, False):
        r1 = knn_radii(t, 1, screen=screen).numpy()
        np.testing.assert_allclose(r1[:40], exact, rtol=1e-9)
        np.testing.assert_allclose(r1[40:], exact, rtol=1e-9)
    assert torch.equal(knn_radii(t, 1, screen=True), knn_radii(t, 1, screen=False))  # the same pair code


def test_collapsed_set_takes_no_per_pair_path(monkeypatch) -> None:
    """1500 identical fakes: every fake-fake pair (2.25M) is cancelled; equal rows are 0 through their
    row ids, so no pair reaches ``_exact_d2`` (407f2f7 recomputed them all: 15x slower at N=1000,
    d=2048). Near-duplicates still do, and the results are the package's."""
    recomputed = {"pairs": 0}
    exact_d2 = P._exact_d2

    def counting(xa, i, xb, j):
        recomputed["pairs"] += len(i)
        return exact_d2(xa, i, xb, j)

    monkeypatch.setattr(P, "_exact_d2", counting)
    rng = np.random.default_rng(5)
    real = np.abs(rng.normal(size=(200, 256)))
    fake = np.repeat(np.abs(rng.normal(size=(1, 256))), 1500, 0)
    ref = _ref(real, fake, 3)
    for screen in (True, False):
        assert prdc(real, fake, k=3, screen=screen) == pytest.approx(ref, abs=1e-12), screen
        assert float(knn_radii(torch.as_tensor(fake), 3, screen=screen).abs().max()) == 0.0, screen
    assert float(knn_radii(torch.as_tensor(fake, dtype=torch.float32), 3).abs().max()) == 0.0
    assert recomputed["pairs"] == 0
    near = np.concatenate([real, real[:20] + 1e-9 * rng.normal(size=(20, 256))])  # twins: recomputed
    assert prdc(near, fake, k=3) == prdc(near, fake, k=3, screen=False)
    assert recomputed["pairs"] > 0


def test_row_ids_equal_only_for_equal_rows(monkeypatch) -> None:
    """Equal ids mean equal rows whatever the hash: with every hash forced equal (all rows one group),
    only rows equal to the group's first row share its id, and the results do not change."""
    rng = np.random.default_rng(6)
    real = rng.integers(0, 2, (120, 3)).astype(np.float64)  # 8 distinct rows, many copies
    fake = np.concatenate([real[:30], rng.integers(0, 2, (50, 3)).astype(np.float64)])
    expected = prdc_multi(real, fake, (1, 3))
    a, b = torch.as_tensor(real), torch.as_tensor(fake)
    ids = P._RowIds([a, b])
    ia, ib = ids.get(0), ids.get(1)
    both, ids_all = torch.cat([a, b]), torch.cat([ia, ib])
    assert ids.computed == 1 and torch.equal(ids.get(1), ib)  # computed once
    same_rows = (both[:, None, :] == both[None, :, :]).all(2)
    assert torch.equal(ids_all[:, None] == ids_all[None, :], same_rows)  # distinct hashes: ids = classes
    monkeypatch.setattr(P.torch, "unique", lambda t, return_inverse: (t[:1], torch.zeros_like(t)))
    ids_all = torch.cat([(forced := P._RowIds([a, b])).get(0), forced.get(1)])
    first = (both == both[0]).all(1)
    assert torch.equal(ids_all == 0, first) and torch.equal(ids_all[~first], torch.arange(len(both))[~first])
    for screen in (True, False):
        assert prdc_multi(real, fake, (1, 3), screen=screen) == expected
