"""Tests for inference.integrate: normals → height on analytic surfaces.

Heights are in units of image width, positive toward the viewer. Accuracy is the RMS difference
from the analytic height (both with their mean over the mask removed), relative to the analytic
height range inside the mask.
"""
import numpy as np
import pytest

from inference.errors import Cancelled, InputError
from inference.integrate import apply, integrate, normals_to_gradients


def _coords(h, w):
    """Pixel-centre coordinates in units of image width: x right, y up, origin at the centre."""
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    return (u + 0.5 - w / 2) / w, -(v + 0.5 - h / 2) / w


def surface(kind, h, w):
    """(height, normal) of an analytic surface sampled on an h×w image."""
    x, y = _coords(h, w)
    if kind == "hemisphere":                     # radius 0.5: diameter = image width
        r2 = np.minimum(x * x + y * y, 0.25)
        z = np.sqrt(0.25 - r2)
        zx, zy = -x / np.maximum(z, 1e-9), -y / np.maximum(z, 1e-9)
        zx, zy = np.where(r2 < 0.25, zx, 0.0), np.where(r2 < 0.25, zy, 0.0)
    elif kind == "paraboloid":
        z, zx, zy = 0.3 - (x * x + y * y), -2 * x, -2 * y
    elif kind == "plane":
        z, zx, zy = 0.3 * x - 0.2 * y, np.full_like(x, 0.3), np.full_like(x, -0.2)
    else:                                        # a sum of Gaussians, one of them a dent
        z, zx, zy = np.zeros_like(x), np.zeros_like(x), np.zeros_like(x)
        for cx, cy, a, s in [(0.1, 0.05, 0.1, 0.1), (-0.2, -0.1, -0.05, 0.07),
                             (0.15, -0.2, 0.08, 0.15)]:
            g = a * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * s * s))
            z, zx, zy = z + g, zx - g * (x - cx) / s ** 2, zy - g * (y - cy) / s ** 2
    n = np.stack([-zx, -zy, np.ones_like(x)], axis=-1)
    return z, (n / np.linalg.norm(n, axis=-1, keepdims=True)).astype(np.float32)


def disc(h, w, radius=0.45):
    x, y = _coords(h, w)
    return x * x + y * y < radius * radius


def rel_rms(height, z, mask):
    ref = z[mask] - z[mask].mean()
    return float(np.sqrt(np.mean((height[mask] - ref) ** 2)) / np.ptp(z[mask]))


# Thresholds (relative RMS). Measured at 80×112 / 112×80: Poisson ≤ 0.01 % on every smooth case;
# FC ≤ 0.02 % unmasked; FC with a mask zeroes the gradient outside it, so it is only approximate
# there (≤ 2.0 % measured, plane worst). The unmasked hemisphere has slopes → ∞ at its rim,
# clamped (min_nz), and its height rises by ~0.1 image widths inside the last pixel ring, which no
# pixel-sampled gradient can carry: 0.9 % (wide) and 2.3 % (tall) for both methods.
CASES = [
    # kind, method, masked, threshold
    ("hemisphere", "poisson", True, 0.001), ("hemisphere", "fc", True, 0.01),
    ("hemisphere", "poisson", False, 0.03), ("hemisphere", "fc", False, 0.03),
    ("paraboloid", "poisson", True, 0.001), ("paraboloid", "fc", True, 0.01),
    ("paraboloid", "poisson", False, 0.001), ("paraboloid", "fc", False, 0.002),
    ("plane", "poisson", True, 0.001), ("plane", "fc", True, 0.03),
    ("plane", "poisson", False, 0.001), ("plane", "fc", False, 0.002),
    ("gaussians", "poisson", True, 0.001), ("gaussians", "fc", True, 0.02),
    ("gaussians", "poisson", False, 0.001), ("gaussians", "fc", False, 0.002),
]


@pytest.mark.parametrize("shape", [(80, 112), (112, 80)])
@pytest.mark.parametrize("kind,method,masked,threshold", CASES)
def test_analytic_surfaces(kind, method, masked, threshold, shape):
    z, n = surface(kind, *shape)
    mask = disc(*shape) if masked else None
    height = integrate(n, mask, method)
    assert height.shape == shape and height.dtype == np.float32
    m = mask if masked else np.ones(shape, bool)
    assert rel_rms(height, z, m) < threshold
    assert abs(float(height[m].mean())) < 1e-6
    if masked:
        assert np.all(height[~mask] == 0.0)


@pytest.mark.parametrize("method", ["poisson", "fc"])
def test_bump_toward_viewer_is_positive_and_scaled_by_width(method):
    h = w = 96
    z, n = surface("hemisphere", h, w)
    x, y = _coords(h, w)
    r = np.sqrt(x * x + y * y)
    full = integrate(n, None, method)
    peak = full[47:49, 47:49].mean()
    assert peak > 0 > full[0, 0]
    # radius 0.5 image widths; the vertical wall at the rim loses a few percent (see CASES)
    assert peak - full[0, 0] == pytest.approx(0.5, rel=0.06)
    inner = integrate(n, disc(h, w), method)
    ring = inner[np.abs(r - 0.4) < 0.004].mean()
    centre = inner[47:49, 47:49].mean()
    expected = z[47:49, 47:49].mean() - z[np.abs(r - 0.4) < 0.004].mean()   # ≈ 0.5 − 0.3
    assert centre - ring == pytest.approx(expected, rel=0.01)


def test_height_unit_is_image_width_not_pixels():
    _, n_small = surface("plane", 30, 40)
    _, n_large = surface("plane", 60, 80)
    small, large = integrate(n_small), integrate(n_large)
    assert np.ptp(small) == pytest.approx(np.ptp(large), rel=0.05)
    assert small[15, -1] - small[15, 0] == pytest.approx(0.3 * 39 / 40, rel=1e-3)   # +X: up 0.3


def test_gradient_signs_follow_image_axes():
    n = np.zeros((1, 1, 3))
    n[..., :] = [0.6, 0.0, 0.8]                 # faces right: height falls to the right
    gu, gv, ok = normals_to_gradients(n)
    assert gu[0, 0] == pytest.approx(-0.75) and gv[0, 0] == 0.0 and ok[0, 0]
    n[..., :] = [0.0, 0.6, 0.8]                 # faces up: height grows down the rows
    gu, gv, _ = normals_to_gradients(n)
    assert gv[0, 0] == pytest.approx(0.75) and gu[0, 0] == 0.0


def test_irregular_mask_with_holes_and_separate_regions():
    h, w = 90, 120
    z, n = surface("gaussians", h, w)
    mask = disc(h, w, 0.4)
    mask[40:50, 50:70] = False                  # a hole
    mask[:, 58:62] = False                      # split into two regions
    height = integrate(n, mask)
    for region in (mask & (np.arange(w) < 58), mask & (np.arange(w) >= 62)):
        assert abs(height[region].mean()) < 1e-6
        assert rel_rms(height, z, region) < 0.001


@pytest.mark.parametrize("shape", [(1, 1), (1, 6), (6, 1), (2, 2), (3, 2)])
@pytest.mark.parametrize("method", ["poisson", "fc"])
def test_tiny_images(shape, method):
    _, n = surface("plane", *shape)
    height = integrate(n, None, method)
    assert height.shape == shape and np.isfinite(height).all()
    assert abs(height.mean()) < 1e-6
    if shape[1] > 1:
        step = (height[0, -1] - height[0, 0]) / (shape[1] - 1)
        assert step == pytest.approx(0.3 / shape[1], rel=0.02)


def test_bad_normals_are_left_out_and_empty_masks_give_zero():
    _, n = surface("paraboloid", 40, 50)
    n[5, 5] = np.nan
    n[6, 6] = 0.0
    height = integrate(n)
    assert np.isfinite(height).all() and height[5, 5] == 0.0 and height[6, 6] == 0.0
    assert not integrate(n, np.zeros((40, 50), bool)).any()
    assert np.array_equal(integrate(n[..., :3], np.ones((40, 50, 1))), height)


@pytest.mark.parametrize("call", [
    lambda n: integrate(n[..., 0]),
    lambda n: integrate(n, np.ones((3, 3), bool)),
    lambda n: integrate(n, method="multigrid"),
    lambda n: integrate(n, min_nz=0.0),
    lambda n: integrate(n.astype(str)),
    lambda n: integrate((n * 127.5 + 127.5).astype(np.uint8)),
    lambda n: apply(n, {"methd": "fc"}),
])
def test_bad_input_raises_input_error(call):
    _, n = surface("plane", 8, 8)
    with pytest.raises(InputError):
        call(n)


def test_cancel_and_progress():
    _, n = surface("gaussians", 64, 64)
    mask = disc(64, 64)
    with pytest.raises(Cancelled):
        integrate(n, mask, cancel=lambda: True)
    calls = []

    def cancel_later():
        return len(calls) >= 2

    with pytest.raises(Cancelled):
        integrate(n, mask, progress=lambda f, m: calls.append(f), cancel=cancel_later)
    fractions = []
    integrate(n, mask, progress=lambda f, m: fractions.append(f))
    assert fractions[-1] == 1.0 and all(0.0 <= f <= 1.0 for f in fractions)


def test_apply_wrapper_matches_integrate():
    _, n = surface("gaussians", 40, 48)
    mask = disc(40, 48)
    expected = integrate(n, mask, "fc")
    assert np.array_equal(apply(n, {"mask": mask, "method": "fc"}), expected)


def test_extend_outside_copies_the_nearest_inside_height():
    from inference.integrate import extend_outside

    h = np.zeros((5, 7), np.float32)
    m = np.zeros((5, 7), bool)
    m[1:4, 2:5] = True
    h[m] = np.arange(9, dtype=np.float32)
    out = extend_outside(h, m)
    assert np.array_equal(out[m], h[m])
    assert out[0, 0] == h[1, 2] and out[4, 6] == h[3, 4] and out[2, 0] == h[2, 2]
    assert np.array_equal(extend_outside(h, np.ones_like(m)), h)
