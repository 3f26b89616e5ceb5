"""Tests for inference.metrics: angular error statistics, masked PSNR and SSIM."""
import math

import numpy as np
import pytest

from inference.errors import InputError
from inference.metrics import (angular_error, global_rotation, normal_metrics, psnr,
                               scale_invariant_psnr, ssim)


def _tilted(shape, degrees):
    """Unit normals tilted by ``degrees`` from +Z about the X axis."""
    t = math.radians(degrees)
    n = np.zeros(shape + (3,), dtype=np.float32)
    n[..., 1] = math.sin(t)
    n[..., 2] = math.cos(t)
    return n


def test_identical_normals_score_perfectly():
    n = _tilted((6, 5), 30.0)
    m = normal_metrics(n, n)
    assert m["mean_deg"] == pytest.approx(0.0, abs=1e-3)
    assert m["median_deg"] == pytest.approx(0.0, abs=1e-3)
    assert m["within_11_25"] == m["within_22_5"] == m["within_30"] == 100.0
    assert m["mean_cos"] == pytest.approx(1.0)
    assert m["pixels"] == 30


def test_known_rotation_and_thresholds():
    ref = _tilted((4, 4), 0.0)
    m10 = normal_metrics(_tilted((4, 4), 10.0), ref)
    assert m10["mean_deg"] == pytest.approx(10.0, abs=1e-4)
    assert m10["median_deg"] == pytest.approx(10.0, abs=1e-4)
    assert m10["within_11_25"] == 100.0
    assert m10["mean_cos"] == pytest.approx(math.cos(math.radians(10.0)), abs=1e-6)
    m25 = normal_metrics(_tilted((4, 4), 25.0), ref)
    assert (m25["within_11_25"], m25["within_22_5"], m25["within_30"]) == (0.0, 0.0, 100.0)
    # the tilt's direction: tilted up (+Y) against the reference, not sideways
    assert m10["mean_dy"] == pytest.approx(math.sin(math.radians(10.0)), abs=1e-6)
    assert m10["mean_dx"] == pytest.approx(0.0, abs=1e-7)
    assert normal_metrics(ref, _tilted((4, 4), 10.0))["mean_dy"] < 0


def _sphere(size):
    """Unit normals of a hemisphere filling a ``size``² square, and its mask."""
    v, u = np.mgrid[0:size, 0:size] + 0.5
    x, y = (u / size) * 2 - 1, 1 - (v / size) * 2
    inside = x * x + y * y < 0.9
    z = np.sqrt(np.clip(1 - x * x - y * y, 0, 1))
    return np.dstack([x, y, z]), inside


def _turned(n, axis, degrees):
    """``n`` turned by ``degrees`` about ``axis`` (Rodrigues)."""
    k, t = np.asarray(axis, float) / np.linalg.norm(axis), math.radians(degrees)
    return (n * math.cos(t) + np.cross(k, n) * math.sin(t)
            + k * (n @ k)[..., None] * (1 - math.cos(t)))


def test_global_rotation_finds_a_turned_estimate_and_the_shape_error_left():
    ref, mask = _sphere(48)
    turned = _turned(ref, (1.0, 0.3, 0.0), 9.0)
    split = global_rotation(turned, ref, mask)
    assert split["rotation_deg"] == pytest.approx(9.0, abs=1e-3)
    assert split["mean_deg_rotated"] == pytest.approx(0.0, abs=1e-3)
    assert normal_metrics(turned, ref, mask)["mean_deg"] > 5.0
    # a flattened estimate: no rotation explains it, and its error stays
    flat = ref * np.array([1.0, 1.0, 2.0])
    split = global_rotation(flat, ref, mask)
    assert split["rotation_deg"] < 0.5
    assert split["mean_deg_rotated"] == pytest.approx(normal_metrics(flat, ref, mask)["mean_deg"],
                                                      abs=0.3)


def test_mixed_errors_give_mean_median_and_shares():
    ref = _tilted((2, 10), 0.0)
    pred = np.concatenate([_tilted((1, 10), 5.0), _tilted((1, 10), 20.0)], axis=0)
    m = normal_metrics(pred, ref)
    assert m["mean_deg"] == pytest.approx(12.5, abs=1e-4)
    assert m["median_deg"] == pytest.approx(12.5, abs=1e-4)
    assert m["within_11_25"] == pytest.approx(50.0)
    assert m["within_22_5"] == pytest.approx(100.0)


def test_mask_limits_scoring_and_inputs_are_normalised():
    ref = _tilted((8, 8), 0.0)
    pred = 3.0 * _tilted((8, 8), 5.0)          # not unit length: only direction counts
    pred[:, 4:] = [1.0, 0.0, 0.0]              # 90° off, but outside the mask
    mask = np.zeros((8, 8), dtype=np.float32)
    mask[:, :4] = 1.0
    m = normal_metrics(pred, ref, mask)
    assert m["mean_deg"] == pytest.approx(5.0, abs=1e-4)
    assert m["pixels"] == 32
    assert normal_metrics(pred, ref)["mean_deg"] == pytest.approx(47.5, abs=1e-3)


def test_angular_error_map_and_zero_vectors():
    ref = _tilted((3, 4), 0.0)
    pred = _tilted((3, 4), 30.0)
    pred[0, 0] = 0.0
    err = angular_error(pred, ref)
    assert err.shape == (3, 4)
    assert err[1, 1] == pytest.approx(30.0, abs=1e-4)
    assert err[0, 0] == pytest.approx(90.0)


@pytest.mark.parametrize("call", [
    lambda: normal_metrics(np.zeros((4, 4, 3)), np.zeros((4, 5, 3))),
    lambda: normal_metrics(np.ones((4, 4, 3)), np.ones((4, 4, 3)), np.zeros((4, 4), bool)),
    lambda: normal_metrics(np.ones((4, 4, 3)), np.ones((4, 4, 3)), np.ones((3, 4), bool)),
    lambda: angular_error(np.ones((4, 4, 2)), np.ones((4, 4, 2))),
    lambda: global_rotation(np.ones((4, 4, 3)), np.ones((4, 4, 3)), np.zeros((4, 4), bool)),
    lambda: psnr(np.ones((4, 4)), np.ones((4, 4)), peak=0.0),
])
def test_bad_input_raises_input_error(call):
    with pytest.raises(InputError):
        call()


def test_psnr_values_peak_and_mask():
    ref = np.full((10, 10, 3), 0.5, dtype=np.float32)
    pred = ref + 0.1
    assert psnr(pred, ref, peak=1.0) == pytest.approx(20.0, abs=1e-4)
    assert psnr(pred, ref) == pytest.approx(20.0 + 20.0 * math.log10(0.5), abs=1e-4)
    assert psnr(pred, ref, peak=2.0) == pytest.approx(20.0 + 20.0 * math.log10(2.0), abs=1e-4)
    pred[:, 5:] = 0.0
    mask = np.zeros((10, 10), bool)
    mask[:, 5:] = True
    pred[:, :5] = ref[:, :5]
    assert psnr(pred, ref, ~mask) == math.inf
    assert psnr(pred[..., 0], ref[..., 0], mask, peak=1.0) == pytest.approx(
        10 * math.log10(1 / 0.25), abs=1e-4)


def test_scale_invariant_psnr_ignores_exposure():
    rng = np.random.default_rng(1)
    ref = rng.uniform(0.1, 1.0, (16, 16, 3))
    assert scale_invariant_psnr(0.5 * ref, ref) == math.inf
    noisy = 0.5 * ref + 0.01 * rng.standard_normal(ref.shape)
    assert scale_invariant_psnr(noisy, ref) > psnr(noisy, ref) + 10.0
    tinted = ref * np.array([1.0, 0.5, 0.25])
    assert scale_invariant_psnr(tinted, ref, per_channel=True) == math.inf
    assert scale_invariant_psnr(tinted, ref) < 40.0


def test_ssim_is_one_for_the_same_image_and_ignores_what_the_mask_leaves_out():
    rng = np.random.default_rng(2)
    ref = rng.uniform(0.05, 0.8, (24, 24, 3)).astype(np.float32)
    assert ssim(ref, ref) == pytest.approx(1.0)
    assert ssim(3.0 * ref, 3.0 * ref) == pytest.approx(1.0)  # scaled by the reference's peak
    noisy = ref + 0.2 * rng.standard_normal(ref.shape).astype(np.float32)
    assert 0.0 < ssim(noisy, ref) < 0.9
    assert ssim(np.full_like(ref, ref.mean()), ref) < ssim(noisy, ref)  # no structure left
    mask = np.zeros((24, 24), bool)
    mask[:, :12] = True
    spoilt = ref.copy()
    spoilt[:, 18:] = 0.0  # further than the window reaches from the mask
    assert ssim(spoilt, ref, mask) == pytest.approx(1.0)
    assert ssim(spoilt, ref) < 0.9
    with pytest.raises(InputError):
        ssim(ref[..., :1], ref[..., :1])
