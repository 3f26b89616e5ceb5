"""inference.shading_normals: normals corrected by the photo's shading over the skin."""
import numpy as np
import pytest
from matplotlib import cbook

from inference import images, lighting, pipeline, shading_normals, vectors
from inference.images import load_image
from inference.models import Registry

from onnx_graphs import channel_slice, install, install_chain


def _sh(to_light, ambient=0.3):
    """SH radiance (9×3) of a white light from ``to_light`` plus an even ambient."""
    d = vectors.unit(np.asarray(to_light, np.float64))
    sh = np.repeat(lighting.sh_basis(d)[:, None], 3, axis=1) * 4.0
    sh[0] += ambient * 4.0 * lighting.SH_CONSTANTS[0]
    return sh.astype(np.float32)


def _sphere(size=96):
    """A sphere's camera-space normals and the disc it covers."""
    y, x = (np.mgrid[0:size, 0:size] + 0.5) / size * 2.0 - 1.0
    r2 = x * x + y * y
    disc = r2 < 0.8
    z = np.sqrt(np.clip(1.0 - r2, 0.0, 1.0))
    return vectors.unit(np.dstack([x, -y, z])).astype(np.float32), disc.astype(np.float32)


def _tilted(normal, disc, deg):
    """``normal`` turned down by ``deg`` on the disc's lower half: NormalNet's real-face lean."""
    lower = (np.arange(normal.shape[0])[:, None] > normal.shape[0] // 2) & (disc > 0)
    t = np.radians(deg)
    rot = np.array([[1, 0, 0], [0, np.cos(t), np.sin(t)], [0, -np.sin(t), np.cos(t)]])
    out = normal.copy()
    out[lower] = normal[lower] @ rot.T
    return vectors.unit(out).astype(np.float32)


def _error(a, b, mask):
    return float(np.degrees(np.arccos(np.clip((a * b).sum(-1), -1, 1)))[mask > 0].mean())


def test_the_irradiance_form_is_the_pipelines_shading_and_its_gradient():
    rng = np.random.default_rng(0)
    sh = _sh((0.3, 0.5, 0.8)) + rng.normal(0, 0.05, (9, 3)).astype(np.float32)
    n = vectors.unit(np.abs(rng.normal(size=(200, 3))) * [1, 1, 2])  # facing the camera
    form = shading_normals.irradiance_form(sh)
    e, grad = shading_normals.irradiance(n, form)
    shading = images.luminance(pipeline.lighting_shading(n[None].astype(np.float32), sh))[0]
    assert np.allclose(e, shading, atol=1e-5)
    step = np.array([0.0, 1e-6, 0.0])
    moved, _ = shading_normals.irradiance(n + step, form)
    assert np.allclose((moved - e) / 1e-6, grad[:, 1], atol=1e-4)


# a light from the side sees little of a lean up or down, across its gradient
@pytest.mark.parametrize("to_light, left", [((0.0, 0.0, 1.0), 0.85), ((0.6, 0.3, 0.75), 0.85),
                                            ((-0.8, 0.0, 0.6), 0.97)])
@pytest.mark.parametrize("lean", [12.0, -12.0])
def test_a_leaning_normal_map_is_pulled_back_by_the_photo(to_light, left, lean):
    """Half the face leans (as NormalNet's lower face does on real faces): the photo's shading
    turns it back, and the half that was right sets the albedo."""
    truth, disc = _sphere()
    sh = _sh(to_light)
    photo = 0.6 * pipeline.lighting_shading(truth, sh) * disc[..., None]
    guess = _tilted(truth, disc, lean)
    out = shading_normals.correct(guess, photo, sh, disc, sigma=2.0)
    assert out.dtype == np.float32 and np.allclose(np.linalg.norm(out, axis=-1), 1, atol=1e-4)
    assert _error(out, truth, disc) < left * _error(guess, truth, disc)
    assert np.array_equal(out[:6, :6], guess[:6, :6])  # far from the skin: nothing moves


def test_a_cast_shadow_bends_the_normals_little():
    """A dark patch the normals cannot explain (a cast shadow, stubble) weighs little."""
    truth, disc = _sphere()
    sh = _sh((0.0, 0.0, 1.0))
    photo = 0.6 * pipeline.lighting_shading(truth, sh) * disc[..., None]
    patch = np.zeros_like(disc, bool)
    patch[30:50, 30:50] = True
    photo[patch] *= 0.25
    out = shading_normals.correct(truth, photo, sh, disc, sigma=2.0)
    assert _error(out, truth, patch.astype(np.float32)) < 4.0


def test_without_lit_skin_or_blur_the_normals_are_kept():
    truth, disc = _sphere(48)
    sh = _sh((0.0, 0.0, 1.0))
    photo = pipeline.lighting_shading(truth, sh)
    guess = _tilted(truth, disc, 10.0)
    for skin, sigma in ((np.zeros_like(disc), 2.0), (disc, 0.4)):
        assert np.array_equal(shading_normals.correct(guess, photo, sh, skin, sigma), guess)
    dark = np.zeros((9, 3), np.float32)  # no light: the photo says nothing
    assert np.array_equal(shading_normals.correct(guess, photo, dark, disc, 2.0), guess)


def test_a_turn_is_limited_on_its_great_circle():
    n0 = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    t = np.radians(40.0)
    n = np.array([[np.sin(t), 0.0, np.cos(t)], [0.0, np.sin(0.1), np.cos(0.1)]])
    out = shading_normals.limit_turn(n, n0, 25.0)
    assert np.degrees(np.arccos(out[0] @ n0[0])) == pytest.approx(25.0)
    assert out[0, 1] == pytest.approx(0.0) and out[0, 0] > 0  # toward where it went
    assert np.allclose(out[1], n[1])                            # within the limit: kept


def test_the_chain_corrects_its_normals_on_the_face_only(tmp_path):
    """Through ``decompose`` on a real portrait: on by default and recorded; the change stays
    on the face; off (``photo_refinements``) gives NormalNet's answer untouched."""
    install_chain(tmp_path)
    feats = pipeline.FEATURES
    normal_in = [*feats["rgb"], *feats["landmarks"], *feats["prior"], "prior_mask",
                 *feats["alpha"]]
    at = normal_in.index("prior_x")
    install(tmp_path, "normal_net", channel_slice(len(normal_in), at, at + 3), normal_in,
            feats["normal"], stride=16)  # a NormalNet that answers with the face-mesh prior
    photo = load_image(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    base = {"registry": Registry(tmp_path, threads=1), "max_side": 192, "mirror_normals": False}
    on = pipeline.decompose(photo, base)
    off = pipeline.decompose(photo, {**base, **pipeline.photo_refinements(shading_normals=False)})
    assert on.meta["shading_normals"] == pipeline.DecomposeOptions().shading_normals > 0
    assert off.meta["shading_normals"] == 0.0
    turn = np.degrees(np.arccos(np.clip((on.normal * off.normal).sum(-1), -1, 1)))
    moved = turn > 0.5
    assert 0.01 < moved.mean() < 0.5                     # the face's skin, not the frame
    assert turn.max() <= shading_normals.MAX_DEG + 0.5
    rows, cols = np.nonzero(moved)
    h, w = turn.shape
    assert 0.2 * w < cols.mean() < 0.8 * w and rows.mean() < 0.7 * h  # where the face is
    assert pipeline.photo_refinements() == {}
    assert pipeline.photo_refinements(photo_detail=False) == {"albedo_detail": 0.0}
