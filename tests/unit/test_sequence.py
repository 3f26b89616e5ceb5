"""inference.sequence: frame patterns, flow, and stabilisation that cuts flicker without bias."""
import numpy as np
import pytest

from inference import images, metrics, sequence
from inference.demo import bust
from inference.errors import InputError


def test_expand_patterns_folders_and_files(tmp_path):
    for f in (3, 1, 2, 10):
        images.save_png(tmp_path / f"plate.{f:04d}.png", np.zeros((2, 2, 3), np.float32))
    (tmp_path / "notes.txt").write_text("x")
    with pytest.warns(UserWarning, match="no frames 4-9"):   # the gap is named
        frames = sequence.expand_inputs([str(tmp_path / "plate.####.png")])
    assert [sequence.frame_number(p) for p in frames] == [1, 2, 3, 10]
    assert sequence.expand_inputs([str(tmp_path / "plate.%04d.png")], []) == frames
    assert sequence.expand_inputs([tmp_path]) == frames
    assert sequence.expand_inputs(["a.png"]) == [sequence.Path("a.png")]
    with pytest.raises(InputError, match="no frames"):
        sequence.expand_inputs([str(tmp_path / "other.####.png")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no images"):
        sequence.expand_inputs([tmp_path / "empty"])


def _textured(h=96, w=128, seed=0):
    rng = np.random.default_rng(seed)
    small = rng.random((h // 8, w // 8, 3)).astype(np.float32)
    return images.resize(small, (h, w)) * 0.8 + 0.1


def test_flow_recovers_a_shift():
    a = _textured()
    b = np.roll(a, 3, axis=1)  # content moves 3 px right
    flow = sequence.optical_flow(a, b)
    inner = flow[20:-20, 20:-20]
    assert np.median(inner[..., 0]) == pytest.approx(-3.0, abs=0.3)
    assert np.abs(np.median(inner[..., 1])) < 0.3
    assert np.abs(sequence.warp(a, flow) - b)[20:-20, 20:-20].mean() < 0.02


def _noisy_passes(gt, rng, sigma):
    n = gt["normal"] + rng.normal(0, sigma, gt["normal"].shape).astype(np.float32)
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    a = gt["albedo"] + rng.normal(0, sigma, gt["albedo"].shape).astype(np.float32)
    return {"normal": n, "albedo": a}


def test_stabilisation_halves_flicker_on_a_still_shot_without_bias():
    gt = bust(96)
    rgb = gt["albedo"] * 0.8 + 0.05
    rng = np.random.default_rng(1)
    frames = [_noisy_passes(gt, rng, 0.05) for _ in range(8)]
    rgbs = [rgb] * 8
    stable = sequence.stabilise(rgbs, frames)
    mask = [gt["alpha"]] * 8
    before = sequence.flicker(rgbs, frames, mask)
    after = sequence.flicker(rgbs, stable, mask)
    for key in ("normal", "albedo"):
        assert after[key] <= 0.5 * before[key], (key, before, after)
    inside = gt["alpha"] > 0.5
    err_before = np.mean([metrics.normal_metrics(f["normal"], gt["normal"], inside)["mean_deg"]
                          for f in frames[2:]])
    err_after = np.mean([metrics.normal_metrics(f["normal"], gt["normal"], inside)["mean_deg"]
                         for f in stable[2:]])
    assert err_after <= err_before


def test_moving_subject_is_followed_not_smeared():
    """A pass that moves with the plate stays aligned with it after stabilisation."""
    base = _textured(96, 128, seed=3)
    rgbs = [np.roll(base, 2 * t, axis=1) for t in range(6)]
    passes = [{"albedo": r.copy()} for r in rgbs]  # perfect per-frame passes
    stable = sequence.stabilise(rgbs, passes, sequence.StabiliseOptions(strength=0.8))
    err = np.abs(stable[-1]["albedo"] - rgbs[-1])[16:-16, 24:-24].mean()
    assert err < 0.02


def test_cut_to_new_size_restarts_and_bad_strength():
    stab = sequence.Stabiliser()
    a = stab(np.zeros((20, 20, 3), np.float32), {"alpha": np.ones((20, 20), np.float32)})
    b = stab(np.zeros((10, 12, 3), np.float32), {"alpha": np.zeros((10, 12), np.float32)})
    assert a["alpha"].shape == (20, 20) and b["alpha"].shape == (10, 12)
    with pytest.raises(InputError, match="strength"):
        sequence.Stabiliser(sequence.StabiliseOptions(strength=1.0))


def test_lighting_estimate_is_smoothed_by_the_flow_trust_and_reset_on_a_cut():
    rgb = _textured(48, 48, seed=5)
    stab = sequence.Stabiliser(sequence.StabiliseOptions(strength=0.8))
    rng = np.random.default_rng(0)
    truth = np.ones((9, 3), np.float32)
    shs = [truth + rng.normal(0, 0.2, (9, 3)).astype(np.float32) for _ in range(10)]
    smoothed = []
    for sh in shs:
        stab(rgb, {"alpha": np.ones((48, 48), np.float32)})
        smoothed.append(stab.vector("sh", sh))
    assert np.array_equal(smoothed[0], shs[0])  # the first frame has no history
    jitter = lambda s: np.mean([np.abs(b - a).mean() for a, b in zip(s, s[1:])])  # noqa: E731
    assert jitter(smoothed) < 0.5 * jitter(shs)
    stab(np.zeros((20, 24, 3), np.float32), {"alpha": np.ones((20, 24), np.float32)})
    assert np.array_equal(stab.vector("sh", shs[3]), shs[3])  # a cut starts over


def test_a_stabilised_frame_is_shaded_once_after_blending(chain_dir):
    """decompose with ``shade`` off leaves the diffuse passes to ``stabilise_frame`` (as the CLI
    runs a stabilised sequence), and they come out as if decompose had shaded them."""
    from inference import pipeline
    from inference.models import Registry

    options = {"registry": Registry(chain_dir, threads=1), "max_side": 48}
    frames = [_textured(40, 56, seed=s) for s in (1, 1, 2)]
    unshaded = pipeline.decompose(frames[0], {**options, "shade": False})
    assert unshaded.diffuse_shading is None and unshaded.diffuse is None
    results = []
    for shade in (True, False):
        stab = sequence.Stabiliser()
        passes = [pipeline.decompose(f, {**options, "shade": shade}) for f in frames]
        for p in passes:
            sequence.stabilise_frame(stab, p)
        results.append(passes)
    for shaded, late in zip(*results):
        assert late.diffuse_shading is not None and late.diffuse is not None
        np.testing.assert_array_equal(shaded.diffuse_shading, late.diffuse_shading)
        np.testing.assert_array_equal(shaded.diffuse, late.diffuse)
        reshaded = pipeline.lighting_shading(late.normal, late.sh)
        np.testing.assert_array_equal(late.diffuse_shading, reshaded)


def test_a_pattern_that_skips_frames_names_them(tmp_path):
    for f in (1, 2, 4, 5, 9):
        images.save_png(tmp_path / f"plate.{f:04d}.png", np.zeros((2, 2, 3), np.float32))
    pattern = str(tmp_path / "plate.####.png")
    gaps = []
    frames = sequence.expand_inputs([pattern], gaps)
    assert [sequence.frame_number(p) for p in frames] == [1, 2, 4, 5, 9]
    assert [g.missing for g in gaps] == [((3, 3), (6, 8))] and gaps[0].count == 4
    assert gaps[0].message() == "plate.####.png has no frames 3,6-8 (it holds 1-2,4-5,9)"
    with pytest.warns(UserWarning, match=r"no frames 3,6-8"):
        sequence.expand_inputs([pattern])          # without a list: a warning
    (tmp_path / "plate.0003.png").write_bytes((tmp_path / "plate.0001.png").read_bytes())
    gaps = []
    sequence.expand_inputs([str(tmp_path / "plate.%04d.png")], gaps)
    assert [g.missing for g in gaps] == [((6, 8),)]
