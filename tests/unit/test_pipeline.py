"""inference.pipeline: the chain's contract, run end to end with wiring stand-in models."""
import dataclasses

import numpy as np
import pytest

from inference import images, pipeline, render
from inference.errors import Cancelled, InputError, ModelNotInstalled, OutputError
from inference.models import Registry
from inference.passes import Passes

from onnx_graphs import channel_slice, constant_map, install, install_chain


@pytest.fixture
def options(chain_dir):
    return {"registry": Registry(chain_dir, threads=1), "max_side": 96}


def _image(h=80, w=120, c=3):
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    base = np.dstack([0.2 + 0.5 * x, 0.3 + 0.2 * y, 0.25 + 0 * x, np.ones_like(x)])
    return base[..., :c].astype(np.float32)


def test_missing_models_fail_before_any_work(tmp_path):
    with pytest.raises(ModelNotInstalled, match="model not installed: normal_net"):
        pipeline.decompose(_image(), {"registry": Registry(tmp_path)})


def test_shipped_models_or_a_clear_error():
    reg = Registry()
    missing = [n for n in pipeline.CHAIN if reg.status().get(n) != "ok"]
    if missing:
        with pytest.raises(ModelNotInstalled, match=f"model not installed: {missing[0]}"):
            pipeline.decompose(_image())
    else:
        passes = pipeline.decompose(_image())
        assert passes.normal.shape == (80, 120, 3)


def test_chain_produces_every_pass_at_full_resolution(options):
    seen = []
    passes = pipeline.decompose(_image(200, 300), options, lambda f, m: seen.append((f, m)))
    assert passes.shape == (200, 300)
    for key in ("alpha", "normal", "albedo", "roughness", "reflectivity", "height",
                "diffuse_shading", "diffuse"):
        assert getattr(passes, key) is not None, key
    assert passes.sh.shape == (9, 3)
    assert np.allclose(np.linalg.norm(passes.normal, axis=-1), 1.0, atol=1e-4)
    assert np.allclose(passes.roughness, 0.45, atol=1e-3)
    assert np.allclose(passes.reflectivity, 0.04, atol=1e-3)
    assert passes.meta["internal_size"] == [64, 96]
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_albedo_is_diffuse_over_shading(options):
    """diffuse_net stand-in returns the RGB, so albedo must equal RGB / (E(n)/π)."""
    image = _image(64, 64)
    passes = pipeline.decompose(image, options)
    shading = pipeline.lighting_shading(passes.normal, passes.sh)
    expected = np.clip(image / shading, 0, 1)
    assert np.abs(passes.albedo - expected).max() < 0.02


def test_albedo_cannot_outshine_the_photo(tmp_path):
    install_chain(tmp_path)
    names = pipeline.FEATURES
    # a direct albedo net that paints everything light blue, a dark jacket included
    install(tmp_path, "diffuse_net", constant_map(6, [0.4, 0.5, 0.8]),
            [*names["rgb"], *names["shading"]], names["albedo"], stride=16)
    image = _image(64, 64)
    image[32:] *= 0.05  # the dark half
    base = {"registry": Registry(tmp_path, threads=1), "max_side": 64}
    free = pipeline.decompose(image, {**base, "albedo_headroom": 0.0})
    assert np.allclose(free.albedo, [0.4, 0.5, 0.8], atol=1e-3)
    bound = pipeline.decompose(image, {**base, "albedo_headroom": 2.0})
    limit = 2.0 * image / np.maximum(bound.diffuse_shading, 1e-3)
    assert np.all(bound.albedo[40:] <= limit[40:] + 0.02)     # the dark half is held down
    assert bound.albedo[40:].mean() < 0.1
    assert np.allclose(bound.albedo[:24], free.albedo[:24], atol=1e-3)  # the bright half is not


def test_a_black_and_white_photo_keeps_grey_passes(tmp_path):
    """A net that paints skin colours into a grey photo: the albedo and the lighting of a
    black-and-white photo come out grey (its luminance); a colour photo keeps the net's."""
    install_chain(tmp_path)
    names = pipeline.FEATURES
    install(tmp_path, "diffuse_net", constant_map(6, [0.6, 0.4, 0.3]),
            [*names["rgb"], *names["shading"]], names["albedo"], stride=16)
    opts = {"registry": Registry(tmp_path, threads=1), "max_side": 64, "albedo_headroom": 0.0}
    grey = np.repeat(_image(64, 64)[..., :1], 3, axis=-1)
    passes = pipeline.decompose(grey, opts)
    assert passes.meta["monochrome"] is True
    luma = np.dot([0.6, 0.4, 0.3], images.REC709_LUMA)
    assert np.allclose(passes.albedo, luma, atol=2e-3)
    assert np.allclose(passes.sh, passes.sh[:, :1], atol=1e-6)
    assert np.allclose(passes.diffuse_shading[..., 0], passes.diffuse_shading[..., 2])
    colour = pipeline.decompose(_image(64, 64), opts)
    assert colour.meta["monochrome"] is False
    assert np.allclose(colour.albedo, [0.6, 0.4, 0.3], atol=2e-3)


def test_monochrome_tolerates_a_greyscale_jpegs_rounding():
    rng = np.random.default_rng(0)
    grey = np.repeat(rng.random((32, 32, 1), dtype=np.float32), 3, axis=-1)
    encoded = images.linear_to_srgb(grey) + rng.integers(-1, 2, grey.shape) / 255.0
    assert pipeline.is_monochrome(images.srgb_to_linear(np.clip(encoded, 0, 1)))
    tinted = grey * np.array([1.0, 0.97, 0.9], np.float32)   # a sepia print holds colour
    assert not pipeline.is_monochrome(tinted)


@pytest.mark.parametrize("image", [
    np.full((1, 1, 3), 0.5, np.float32),          # 1×1
    _image(50, 70, 1),                            # grey
    _image(50, 70, 4) * np.array([1, 1, 1, 0.5], np.float32),  # RGBA: alpha is the matte
])
def test_odd_inputs(options, image):
    passes = pipeline.decompose(image, options)
    assert passes.shape == image.shape[:2]
    if image.shape[-1] == 4:
        assert np.allclose(passes.alpha, 0.5, atol=0.02)


def test_cancel(options):
    with pytest.raises(Cancelled):
        pipeline.decompose(_image(), options, cancel=lambda: True)


def test_unknown_input_channel_names_the_model(tmp_path):
    import json

    install_chain(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["models"]["normal_net"]["inputs"][0]["channels"][0] = "bogus"
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelNotInstalled, match="normal_net.*bogus"):
        pipeline.decompose(_image(), {"registry": Registry(tmp_path)})


def test_passes_round_trip_and_refine(options, tmp_path):
    passes = pipeline.decompose(_image(64, 80), options)
    passes.save(tmp_path / "p")
    back = Passes.load(tmp_path / "p")
    assert np.allclose(back.normal, passes.normal, atol=2e-3)
    assert np.allclose(back.sh, passes.sh, atol=1e-5)
    assert set(back.present()) >= {"rgb", "normal", "albedo", "roughness", "height"}
    passes.alpha = np.zeros(passes.shape, np.float32)  # no person here: a matte of our own
    passes.alpha[:, :40] = 1.0
    relit = render.cook_torrance(passes, render.ShLight(passes.sh))
    refined = pipeline.refine(passes, relit, options)
    # The stand-in RenderNet returns its render input: no correction where the matte is solid.
    assert np.allclose(refined[:, :40], relit.rgb[:, :40], atol=1e-4)
    assert np.all(refined[:, 40:] == 0)


def test_refine_takes_the_nets_straight_answer_where_the_matte_is_solid(tmp_path):
    """RenderNet's output is straight colour, learnt where the true matte exceeds 0.5: it is
    premultiplied by the matte where the matte is 1, faded out to the Cook-Torrance render at
    0.5 and below (no halo around a soft matte), and nothing is left outside the matte."""
    install_chain(tmp_path)
    feats = pipeline.FEATURES
    render_in = [*feats["render"], *feats["normal"], *feats["albedo"], *feats["specular"],
                 *feats["alpha"], *feats["rgb"]]
    install(tmp_path, "render_net", constant_map(len(render_in), [0.7, 0.7, 0.7]), render_in,
            ["refined_r", "refined_g", "refined_b"], stride=16)
    opts = {"registry": Registry(tmp_path, threads=1), "max_side": 64, "guide_radius": 0,
            "refine_strength": 1.0}
    alpha = np.repeat(np.linspace(0.0, 1.0, 64, dtype=np.float32)[None], 32, axis=0)
    alpha[:, 48:] = 1.0
    passes = Passes(rgb=_image(32, 64), alpha=alpha, normal=np.dstack([np.zeros((32, 64, 2)),
                    np.ones((32, 64))]).astype(np.float32),
                    albedo=np.full((32, 64, 3), 0.5, np.float32))
    sh = np.zeros((9, 3), np.float32)
    sh[0] = 1.0
    relit = render.cook_torrance(passes, render.ShLight(sh))
    refined = pipeline.refine(passes, relit, opts)
    trust = pipeline.refine_trust(alpha)[..., None]
    assert np.allclose(refined[:, 48:], 0.7, atol=1e-3)                  # solid: the net's
    soft = alpha <= pipeline.REFINE_MATTE
    assert np.allclose(refined[soft], relit.rgb[soft], atol=1e-5)         # soft: Cook-Torrance
    expected = (1 - trust) * relit.rgb + trust * alpha[..., None] * 0.7  # between: a blend
    assert np.allclose(refined, expected, atol=2e-3)
    assert np.all(refined[alpha == 0] == 0)
    # a Cycles frame brings its own coverage (RGBA): the result is premultiplied by it, so
    # nothing appears where the frame is empty, whatever the matte says
    frame = np.dstack([np.full((32, 64, 3), 0.2, np.float32), np.ones((32, 64), np.float32)])
    frame[:, 56:] = 0.0
    solid = dataclasses.replace(passes, alpha=np.ones_like(alpha))
    cycles = pipeline.refine(solid, frame, opts)
    assert np.allclose(cycles[:, :48], 0.7, atol=1e-3)
    assert np.all(cycles[:, 56:] == 0)


def test_refine_strength_is_the_share_of_the_nets_correction(tmp_path):
    install_chain(tmp_path)
    feats = pipeline.FEATURES
    render_in = [*feats["render"], *feats["normal"], *feats["albedo"], *feats["specular"],
                 *feats["alpha"], *feats["rgb"]]
    install(tmp_path, "render_net", constant_map(len(render_in), [0.7, 0.7, 0.7]), render_in,
            ["refined_r", "refined_g", "refined_b"], stride=16)
    flat = np.dstack([np.zeros((32, 32, 2)), np.ones((32, 32))]).astype(np.float32)
    passes = Passes(rgb=_image(32, 32), alpha=np.ones((32, 32), np.float32), normal=flat,
                    albedo=np.full((32, 32, 3), 0.5, np.float32))
    sh = np.zeros((9, 3), np.float32)
    sh[0] = 1.0
    relit = render.cook_torrance(passes, render.ShLight(sh))
    base = {"registry": Registry(tmp_path, threads=1), "max_side": 64}
    by = {s: pipeline.refine(passes, relit, {**base, "refine_strength": s})
          for s in (0.0, 0.25, 1.0)}
    assert np.allclose(by[0.0], relit.rgb, atol=1e-6)           # none of it: the render
    assert np.allclose(by[1.0], 0.7, atol=1e-3)                 # all of it: the net's answer
    assert np.allclose(by[0.25], relit.rgb + 0.25 * (by[1.0] - relit.rgb), atol=1e-4)
    default = pipeline.refine(passes, relit, base)
    strength = pipeline.REFINE_STRENGTH
    assert 0 < strength < 1
    assert np.allclose(default, relit.rgb + strength * (by[1.0] - relit.rgb), atol=1e-4)
    for bad in (-0.1, 1.5):
        with pytest.raises(InputError, match="refine_strength"):
            pipeline.refine(passes, relit, {**base, "refine_strength": bad})


def test_refine_of_a_black_and_white_subject_changes_no_colour(tmp_path):
    """RenderNet paints a colour into a grey subject: its change is taken as a grey factor,
    so under a coloured light the refined image keeps the render's colour ratios."""
    install_chain(tmp_path)
    feats = pipeline.FEATURES
    render_in = [*feats["render"], *feats["normal"], *feats["albedo"], *feats["specular"],
                 *feats["alpha"], *feats["rgb"]]
    install(tmp_path, "render_net", constant_map(len(render_in), [0.9, 0.5, 0.3]), render_in,
            ["refined_r", "refined_g", "refined_b"], stride=16)
    opts = {"registry": Registry(tmp_path, threads=1), "max_side": 64, "refine_strength": 1.0}
    flat = np.dstack([np.zeros((32, 32, 2)), np.ones((32, 32))]).astype(np.float32)
    grey = np.full((32, 32, 3), 0.4, np.float32)
    passes = Passes(rgb=grey, alpha=np.ones((32, 32), np.float32), normal=flat, albedo=grey)
    sh = np.zeros((9, 3), np.float32)
    sh[0] = [1.0, 0.8, 0.5]                                  # a warm light
    relit = render.cook_torrance(passes, render.ShLight(sh))
    refined = pipeline.refine(passes, relit, opts)
    assert not np.allclose(refined, relit.rgb, atol=1e-3)    # the net did change it
    ratio = refined / relit.rgb
    assert np.allclose(ratio, ratio[..., :1], rtol=1e-3)    # by the same factor in R, G, B
    coloured = Passes(rgb=_image(32, 32), alpha=passes.alpha, normal=flat, albedo=grey)
    assert np.allclose(pipeline.refine(coloured, relit, opts), [0.9, 0.5, 0.3], atol=1e-3)


def test_a_pass_folder_of_either_exr_form_alone_loads_whole(options, tmp_path):
    passes = pipeline.decompose(_image(40, 48), options)
    multi = passes.save(tmp_path / "m", singles=False, previews=False)
    assert sorted(p.name for p in multi) == ["lighting.json", "passes.exr"]
    singles = passes.save(tmp_path / "s", multilayer=False, previews=False)
    assert "passes.exr" not in {p.name for p in singles} and "source.exr" in {p.name for p in singles}
    for folder in ("m", "s"):
        back = Passes.load(tmp_path / folder)
        assert np.allclose(back.rgb, passes.rgb, atol=2e-3)  # the source, not the albedo
        assert np.allclose(back.normal, passes.normal, atol=2e-3)
        assert set(back.present()) == set(passes.present())
    with pytest.raises(OutputError, match="nothing to write"):
        passes.save(tmp_path / "n", singles=False, multilayer=False)


def test_height_is_integrated_at_bounded_size():
    n = np.zeros((300, 400, 3), np.float32)
    n[..., 2] = 1
    n[:, :200, 0] = 0.2  # a slope on the left half
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    h = pipeline.integrate_height(n, np.ones((300, 400), np.float32), max_side=100)
    assert h.shape == (300, 400)
    assert h[:, 10].mean() > h[:, 190].mean()  # a +X tilt faces right: height falls to the right
    assert images.sanitize_image(h).shape == h.shape


def test_guided_upsampling_follows_full_resolution_edges():
    """A pass computed at 1/8 size snaps back to the image's sharp edge when upsampled."""
    h, w = 256, 256
    rgb = np.full((h, w, 3), 0.05, np.float32)
    rgb[:, 131:] = 0.8  # an edge that the small grid cannot place exactly
    small = images.resize(rgb[..., :1] > 0.3, (32, 32)).astype(np.float32)
    guide = pipeline._Guide(rgb, pipeline.DecomposeOptions())
    up = guide(small)[..., 0]
    plain = images.resize(small, (h, w))[..., 0]
    truth = (rgb[..., 0] > 0.3).astype(np.float32)
    assert np.abs(up - truth).mean() < 0.5 * np.abs(plain - truth).mean()
    assert up.shape == (h, w)


def test_mirror_features_flip_every_plane_and_negate_normal_x():
    rng = np.random.default_rng(0)
    feats = {"rgb": rng.random((4, 5, 3)), "prior": rng.random((4, 5, 4)),
             "normal": rng.random((4, 5, 3)), "alpha": rng.random((4, 5)), "warnings": ["w"]}
    m = pipeline.mirror_features(feats)
    assert np.array_equal(m["rgb"], feats["rgb"][:, ::-1])
    assert np.array_equal(m["alpha"], feats["alpha"][:, ::-1])
    assert np.array_equal(m["prior"][..., 0], -feats["prior"][:, ::-1, 0])
    assert np.array_equal(m["prior"][..., 1:], feats["prior"][:, ::-1, 1:])
    assert np.array_equal(m["normal"][..., 0], -feats["normal"][:, ::-1, 0])
    assert m["warnings"] == ["w"]
    back = pipeline.mirror_features(m)
    assert all(np.array_equal(back[k], feats[k]) for k in ("rgb", "prior", "normal", "alpha"))


def test_mirror_pass_averages_the_net_with_its_mirrored_answer(tmp_path):
    install_chain(tmp_path)
    names = pipeline.FEATURES
    normal_in = [*names["rgb"], *names["landmarks"], *names["prior"], *names["alpha"]]
    # a normal net that answers with its RGB input: its X does not flip with the image
    install(tmp_path, "normal_net", channel_slice(len(normal_in), 0, 3), normal_in,
            names["normal"], stride=16)
    base = {"registry": Registry(tmp_path, threads=1), "max_side": 96, "use_face": False}
    image = _image()
    once = pipeline.estimate_normals(image, {**base, "mirror_normals": False})["normal"]
    both = pipeline.estimate_normals(image, {**base, "mirror_normals": True})["normal"]
    # (r, g, b) averaged with the mirrored answer flipped back, X negated: (0, g, b)
    assert np.abs(once[..., 0]).min() > 0.1
    assert np.allclose(both[..., 0], 0.0, atol=1e-6)
    yz = once[..., 1:] / np.linalg.norm(once[..., 1:], axis=-1, keepdims=True)
    assert np.allclose(both[..., 1:], yz, atol=1e-5)
    # so the normals of the mirrored photo are the mirrored normals, X negated
    flipped = pipeline.estimate_normals(image[:, ::-1], {**base, "mirror_normals": True})
    assert np.allclose(pipeline.mirror_features({"normal": both})["normal"], flipped["normal"],
                       atol=1e-5)
    install_chain(tmp_path)
    passes = pipeline.decompose(image, {**base, "mirror_normals": True})
    assert passes.meta["mirror_normals"] is True


# ---------------------------------------------------------------- face framing

def test_frame_padding_follows_the_training_framing():
    assert pipeline.frame_padding(0.0, (192, 168)) == 0  # no face
    assert pipeline.frame_padding(0.5 * 512, (512, 400)) == 0  # as the factory frames faces
    pad = pipeline.frame_padding(200.0, (192, 168))  # a tight crop (Yale B)
    assert 200.0 / (192 + 2 * pad) == pytest.approx(pipeline.FRAME_TARGET, abs=0.005)


def test_pad_frame_uses_the_border_colour_and_unframe_inverts_it():
    image = np.zeros((40, 30, 3), np.float32)
    image[...] = (0.1, 0.2, 0.3)
    image[10:30, 8:22] = 0.9  # the subject
    padded = pipeline.pad_frame(image, 12)
    assert padded.shape == (64, 54, 3)
    assert np.allclose(padded[0, 0], (0.1, 0.2, 0.3))
    assert np.allclose(pipeline.pad_frame(image[..., :1], 3, 0.0)[0, 0], 0.0)
    same = pipeline.unframe(padded, (12, (40, 30), padded.shape[:2]))
    assert np.array_equal(same, image)
    # the nets ran on a shrunk copy: back to the padded size, then cropped
    shrunk = images.resize(padded, (32, 27))
    back = pipeline.unframe(shrunk, (12, (40, 30), (32, 27)))
    assert back.shape == image.shape and np.abs(back - image).mean() < 0.1
    assert pipeline.unframe(padded[..., 0], (12, (40, 30), padded.shape[:2])).shape == (40, 30)


def test_a_tight_face_crop_runs_framed_and_keeps_its_size(options, monkeypatch):
    """A face filling the frame: the nets see it padded, every pass comes back at the image's
    size, and turning the framing off runs the nets on the image as it is."""
    sizes = []
    real = pipeline._face_features

    def spy(small, *args, **kwargs):
        feats = real(small, *args, **kwargs)
        sizes.append(small.shape[:2])
        feats["face_size"] = 0.9 * max(small.shape[:2])  # as Face Mesh finds a tight crop
        return feats

    monkeypatch.setattr(pipeline, "_face_features", spy)
    passes = pipeline.decompose(_image(60, 50), options)
    assert passes.shape == (60, 50) and passes.meta["internal_size"] == [60, 50]
    assert len(sizes) == 2 and sizes[1][0] > sizes[0][0]
    assert np.allclose(np.linalg.norm(passes.normal, axis=-1), 1.0, atol=1e-4)
    sizes.clear()
    pipeline.decompose(_image(60, 50), {**options, "face_frame": False})
    assert sizes == [(60, 50)]


# ---------------------------------------------------------------- the photo's own lighting

def _sphere(n=96):
    y, x = (np.mgrid[0:n, 0:n] + 0.5) / n * 2 - 1
    y = -y
    inside = x * x + y * y < 0.95
    z = np.sqrt(np.maximum(1 - x * x - y * y, 0))
    return np.dstack([x, y, z]).astype(np.float32), inside


def test_fit_face_lighting_recovers_the_light_shape_and_keeps_the_level():
    normal, inside = _sphere()
    frontal = np.zeros((9, 3))
    frontal[0], frontal[2] = 1.0, 0.9  # ambient plus a light on the camera axis
    above = np.zeros((9, 3))
    above[0], above[1], above[2] = 1.0, 0.9, 0.5  # what a net might guess: from above
    rgb = 0.6 * pipeline.lighting_shading(normal, frontal)
    weight = inside.astype(np.float32)
    fitted = pipeline.fit_face_lighting(rgb, normal, weight, above.astype(np.float32), 1e-3)
    shade_fit = pipeline.lighting_shading(normal, fitted)
    shade_true = pipeline.lighting_shading(normal, frontal)
    spread = lambda shade: np.std(shade[inside] / shade_true[inside]) / np.mean(  # noqa: E731
        shade[inside] / shade_true[inside])
    before = spread(pipeline.lighting_shading(normal, above))
    assert spread(shade_fit) < 0.2 * before  # near the true shape, up to one level (the ridge
    # holds a little of the prior)
    level = pipeline.lighting_shading(normal, above)[inside].mean()
    assert shade_fit[inside].mean() == pytest.approx(level, rel=1e-3)  # the prior's level
    assert fitted[1, 0] < 0.4 * fitted[2, 0]  # no longer from above (the prior: 1.8)
    # too few pixels of skin: the prior unchanged
    few = np.zeros_like(weight)
    few[40:45, 40:45] = 1
    assert np.array_equal(pipeline.fit_face_lighting(rgb, normal, few, above, 1e-3), above)


def _lit_sphere():
    """The sphere, where it lies, and its shading under ambient light plus a frontal one."""
    normal, inside = _sphere()
    sh = np.zeros((9, 3))
    sh[0], sh[2] = 1.0, 0.9
    return normal, inside, pipeline.lighting_shading(normal, sh)


def test_consistent_albedo_takes_the_smooth_part_from_the_photo():
    normal, inside, shading = _lit_sphere()
    rng = np.random.default_rng(1)
    truth = np.clip(0.5 + 0.05 * rng.standard_normal((96, 96, 3)), 0, 1).astype(np.float32)
    rgb = truth * shading
    y = np.linspace(0.7, 1.3, 96, dtype=np.float32)[:, None, None]
    net = np.clip(truth * y, 0, 1)  # detail right, a smooth shading residue left in
    skin = inside.astype(np.float32)
    out = pipeline.consistent_albedo(net, rgb, shading, skin, sigma=6.0)
    core = inside.copy()
    core[:12], core[-12:] = False, False
    before = np.abs(net - truth)[core].mean()
    after = np.abs(out - truth)[core].mean()
    assert after < 0.3 * before
    assert np.array_equal(pipeline.consistent_albedo(net, rgb, shading, skin * 0, 6.0), net)


def _sphere_lit_from_above():
    """The sphere under a light from above that leaves its lower part dark, and a photo of it
    that also holds a fill the light misses (under a chin, the fill and the bounce)."""
    normal, inside = _sphere()
    sh = np.zeros((9, 3))
    sh[0], sh[1] = 0.5, 0.9
    shading = pipeline.lighting_shading(normal, sh)
    rng = np.random.default_rng(3)
    texture = np.clip(1.0 + 0.1 * rng.standard_normal((96, 96)), 0.8, 1.2).astype(np.float32)
    truth = np.array([0.6, 0.45, 0.35], np.float32) * texture[..., None]
    rgb = truth * (shading + 0.05)
    dark = inside & (images.luminance(shading) < 0.02 * np.percentile(
        images.luminance(shading)[inside], 75))
    return normal, inside, shading, truth, rgb, dark


def test_shading_trust_falls_to_zero_where_the_light_does_not_reach():
    _, inside, shading, _, _, dark = _sphere_lit_from_above()
    trust = pipeline.shading_trust(shading, inside)
    assert trust.shape == inside.shape and trust.min() >= 0.0 and trust.max() <= 1.0
    lum = images.luminance(shading)
    assert (trust[inside & (lum >= np.percentile(lum[inside], 75))] == 1.0).all()
    assert trust[dark].max() < 0.1
    assert (pipeline.shading_trust(np.zeros_like(shading), inside) == 1.0).all()  # no light


def test_the_albedo_is_taken_from_the_photo_only_where_the_shading_holds(monkeypatch):
    """Under the chin the fitted light gives almost no shading while the photo still shows the
    fill: photo / shading grows without bound there. The albedo's consistency leaves the net's
    answer where the shading cannot be trusted; trusted everywhere, it paints a bright band
    there (the band Hopper's albedo had under the chin)."""
    _, inside, shading, truth, rgb, dark = _sphere_lit_from_above()
    skin = inside.astype(np.float32)
    held = pipeline.consistent_albedo(truth, rgb, shading, skin, sigma=6.0)
    monkeypatch.setattr(pipeline, "shading_trust",
                        lambda shade, where: np.ones(shade.shape[:2], np.float32))
    everywhere = pipeline.consistent_albedo(truth, rgb, shading, skin, sigma=6.0)
    held, everywhere = (np.abs(out - truth)[dark].mean() for out in (held, everywhere))
    assert held < 0.05 and everywhere > 4 * held


def test_the_albedo_bound_fades_where_the_shading_cannot_be_trusted():
    """A light that barely reaches one channel there (red only, from below) would cut that
    channel against the others: a cyan patch under the chin. Where the shading holds, the
    bound still stops a net's bright answer for a dark surface."""
    albedo = np.full((2, 1, 3), 0.6, np.float32)
    rgb = np.full((2, 1, 3), 0.02, np.float32)
    shading = np.array([[[0.1, 0.0, 0.0]], [[0.8, 0.8, 0.8]]], np.float32)
    trust = np.array([[0.0], [1.0]], np.float32)
    out = pipeline.bound_albedo(albedo, rgb, shading, 2.0, trust)
    assert np.allclose(out[0, 0], 0.6)  # untrusted: the net's colour, not cut to cyan
    assert np.allclose(out[1, 0], 2.0 * 0.02 / 0.8)  # trusted: bounded by the photo
    assert np.allclose(pipeline.bound_albedo(albedo, rgb, shading, 2.0)[0, 0],
                       [2.0 * 0.02 / 0.1, 0.6, 0.6])  # no trust given: bound everywhere


def test_detail_albedo_takes_the_fine_detail_from_the_photo():
    normal, inside, shading = _lit_sphere()
    rng = np.random.default_rng(2)
    base = np.array([0.6, 0.45, 0.35], np.float32)
    texture = np.clip(1.0 + 0.12 * rng.standard_normal((96, 96)), 0.75, 1.15).astype(np.float32)
    truth = base * texture[..., None]
    rgb = truth * shading
    net = np.broadcast_to(base, truth.shape).copy()  # the colour right, painted smooth
    alpha = inside.astype(np.float32)
    out = pipeline.detail_albedo(net, rgb, shading, alpha, sigma=3.0)
    core = inside.copy()
    core[:12], core[-12:] = False, False
    assert np.abs(out - truth)[core].mean() < 0.35 * np.abs(net - truth)[core].mean()
    # the net's colour kept: the detail is one grey factor per pixel
    assert np.allclose(out[core] / out[core].sum(-1, keepdims=True), base / base.sum(), atol=1e-4)
    # a highlight the net took out stays out: the photo brightens the albedo by 1.2 at most
    shiny = rgb.copy()
    shiny[46:50, 46:50] *= 3.0
    lit = pipeline.detail_albedo(net, shiny, shading, alpha, sigma=3.0)
    assert (lit[46:50, 46:50] <= 1.2 * net[46:50, 46:50] * 1.05).all()
    # outside the matte the net's albedo is left as it was; sigma 0 changes nothing
    assert np.array_equal(out[alpha == 0], net[alpha == 0])
    assert np.array_equal(pipeline.detail_albedo(net, rgb, shading, alpha, 0.0), net)
