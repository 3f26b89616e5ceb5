"""training.synth without Blender: parameter sampling, colour, light units and SH, the sample
format, and the numpy geometry (head, hair, garment, textures) on the ICT model."""
import json
from pathlib import Path

import numpy as np
import pytest

from inference import lighting as lt
from training.synth import colour, lights, output, params as P, sample

SEEDS = range(300)


def _ict_available() -> bool:
    from training.synth import ict

    return (ict.default_ict_dir() / ict.MODEL_FILE).is_file()


needs_ict = pytest.mark.skipif(not _ict_available(), reason="ICT-FaceKit model not present")


# ------------------------------------------------------------------ sampling

def test_same_seed_same_params_and_json():
    a, b = P.sample_params(123), P.sample_params(123)
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert json.loads(json.dumps(a)) == a
    assert P.sample_params(124) != a


def test_identity_split_uses_its_own_anchors():
    for seed in range(200):
        train = P.sample_params(seed, "train")["identity"]
        val = P.sample_params(seed, "val")["identity"]
        assert set(train["anchors"]) <= set(range(72)) and 2 <= len(train["anchors"]) <= 4
        assert set(val["anchors"]) <= set(range(72, 80))
        assert abs(sum(train["weights"]) - 1.0) < 1e-5 and min(train["weights"]) >= 0.0
        assert 0.9 <= train["scale"] <= 1.3
        c = np.asarray(train["coefficients"])
        assert c.shape == (80,) and np.all(np.abs(c) <= 3.5)
    with pytest.raises(ValueError):
        P.sample_params(0, "test")


def test_identity_spread_is_unit_per_mode():
    c = np.array([P.sample_params(s)["identity"]["coefficients"] for s in range(400)])
    assert 0.85 < c.std() < 1.35      # anchors are N(0, 1); mixing keeps the spread
    assert abs(c.mean()) < 0.1


def test_pose_camera_and_lighting_ranges():
    yaws = []
    for seed in SEEDS:
        p = P.sample_params(seed)
        pose, cam = p["pose"], p["camera"]
        assert abs(pose["yaw"]) <= 60 and abs(pose["pitch"]) <= 25 and abs(pose["roll"]) <= 15
        yaws.append(pose["yaw"])
        assert 35.0 <= cam["focal_mm"] <= 135.0 and 0.24 <= cam["extent"] <= 0.65
        for key in ("lighting_a", "lighting_b"):
            light = p[key]
            assert light["hdri"] in P.HDRIS and 0 <= light["rotation"] < 360
            assert len(light["lights"]) <= 3
            assert {"hdri": 0, "mixed": 1, "hard_key": 1}[light["setup"]] <= len(light["lights"])
        a, b = p["lighting_a"], p["lighting_b"]
        assert a["hdri"] != b["hdri"] or abs(a["rotation"] - b["rotation"]) > 1.0
    assert max(yaws) > 45 and min(yaws) < -45


def test_skin_tones_evenly_sampled():
    bands = np.array([P.sample_params(s)["skin"]["fitzpatrick_band"] for s in range(600)])
    counts = np.bincount(bands, minlength=7)[1:]
    assert counts.min() > 600 / 6 * 0.7
    lum = [colour.luminance(P.sample_params(s)["skin"]["albedo"]) for s in range(200)]
    assert min(lum) < 0.05 and max(lum) > 0.35      # from very dark to very light skin


def test_expression_vector_is_sparse():
    for seed in range(50):
        e = P.sample_params(seed)["expression"]
        v = P.expression_vector(e)
        assert v.shape == (53,) and np.all((v >= 0) & (v <= 1))
        assert np.count_nonzero(v) <= 16


# ------------------------------------------------------------------ colour

def test_blackbody_colours():
    d65 = colour.blackbody_rgb(6504.0)
    assert np.allclose(d65, 1.0, atol=0.06)
    warm, cold = colour.blackbody_rgb(2800.0), colour.blackbody_rgb(9000.0)
    assert warm[0] > warm[2] * 2 and cold[2] > cold[0]
    for k in (2700.0, 4000.0, 8000.0):
        assert colour.luminance(colour.blackbody_rgb(k)) == pytest.approx(1.0)


def test_lab_white_and_skin():
    assert np.allclose(colour.lab_to_linear_rgb((100.0, 0.0, 0.0)), 1.0, atol=2e-3)
    light = colour.lab_to_linear_rgb(colour.skin_lab(60.0, 15.0, 10.0))
    dark = colour.lab_to_linear_rgb(colour.skin_lab(-50.0, 12.0, 10.0))
    assert light[0] > light[1] > light[2] and colour.luminance(light) > 5 * colour.luminance(dark)


# ------------------------------------------------------------------ lights and SH

def _point(direction, distance=2.0, power=100.0):
    d = np.asarray(direction, float) / np.linalg.norm(direction)
    return {"type": "point", "position": (d * distance).tolist(), "power": power,
            "rgb": [1.0, 1.0, 1.0]}


def test_point_light_sh_irradiance():
    """A delta light of irradiance E: its order-2 SH irradiance toward it is E * 1.0625
    (sum over bands of A_l (2l + 1) / 4 pi), and E = P / (4 pi d^2)."""
    light = _point([0.3, -1.0, 0.5])
    sh = lights.light_sh(light, np.zeros(3))
    d_cam = lt.world_to_camera(np.asarray(light["position"]) / 2.0)
    e = lt.sh_irradiance(sh, d_cam[None])[0]
    expected = 100.0 / (4 * np.pi * 4.0) * (0.25 + 0.5 + 0.3125)
    assert np.allclose(e, expected, rtol=1e-3)
    # the coefficients are E * Y_lm(direction)
    assert np.allclose(sh[:, 0], 100.0 / (16 * np.pi) * lt.sh_basis(d_cam), rtol=1e-6)


def test_small_area_light_is_a_point_light():
    direction = np.array([-0.5, -1.0, 0.2])
    direction /= np.linalg.norm(direction)
    area = {"type": "area", "position": (direction * 2.0).tolist(),
            "direction": (-direction).tolist(), "size": 0.01, "size_y": 0.01,
            "power": 100.0 / 4.0, "rgb": [1.0, 1.0, 1.0]}   # P / (pi d^2) = point's P / (4 pi d^2)
    sh_area = lights.light_sh(area, np.zeros(3))
    sh_point = lights.light_sh(_point(direction, power=100.0), np.zeros(3))
    assert np.allclose(sh_area, sh_point, rtol=1e-3, atol=1e-6)


def test_resolve_exposure_and_units():
    p = P.sample_params(7)
    rng = P.stream(7, "test")
    lighting = P.sample_lighting(rng)
    while lighting["setup"] != "mixed":
        lighting = P.sample_lighting(rng)
    centre = np.array([0.0, 0.0, 0.02])
    r = lights.resolve(lighting, centre, colour.luminance(p["skin"]["albedo"]))
    sh = np.asarray(r["sh"])
    assert sh.shape == (9, 3) and np.all(np.isfinite(sh))
    skin = colour.luminance(p["skin"]["albedo"])
    target = lights.KEY_RADIANCE * 2 ** lighting["exposure_ev"] * (
        0.35 / skin) ** lights.SKIN_COMPENSATION
    assert lights.key_irradiance(sh) / np.pi == pytest.approx(target, rel=1e-6)
    # the total is the scaled environment plus each light's own SH
    env = lights.hdri_sh(lighting["hdri"], lighting["rotation"]) * r["world_strength"]
    total = env + sum(lights.light_sh(light, centre) for light in r["lights"])
    assert np.allclose(total, sh, rtol=1e-6, atol=1e-9)
    for light in r["lights"]:
        assert light["power"] > 0
        d = np.asarray(light["position"]) - centre
        assert np.linalg.norm(d) == pytest.approx(light["distance"])
        assert np.allclose(np.asarray(light["direction"]), -d / np.linalg.norm(d))


# ------------------------------------------------------------------ sample format

def _fake_passes(res):
    rng = np.random.default_rng(0)
    alpha = np.zeros((res, res, 1), np.float32)
    alpha[4:-4, 4:-4] = 1.0
    alpha[3, 4:-4] = 0.5
    n_world = np.zeros((res, res, 3), np.float32)
    n_world[..., 1] = -1.0 * alpha[..., 0]          # facing the camera (world -Y)
    pa = {
        "Combined": rng.random((res, res, 4)).astype(np.float32),
        "Depth": np.where(alpha > 0, 1.5, 1e10).astype(np.float32),
        "albedo": np.concatenate([0.4 * alpha] * 3, -1), "normal": n_world,
        "roughness": 0.5 * alpha, "reflectivity": 0.04 * alpha, "alpha": alpha,
        "shading": rng.random((res, res, 4)).astype(np.float32),
        "specular": rng.random((res, res, 4)).astype(np.float32),
    }
    return pa, {"Combined": rng.random((res, res, 4)).astype(np.float32)}


def test_assemble_converts_passes():
    res = 16
    pa, pb = _fake_passes(res)
    cam = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])  # relight camera: x, z-up, -y
    out = sample.assemble(pa, pb, cam)
    assert np.allclose(out["normal"][8, 8], [0, 0, 1])       # toward the viewer
    assert np.all(out["normal"][0, 0] == 0)
    edge = out["albedo"][3, 8].astype(np.float32)
    assert np.allclose(edge, 0.4, atol=1e-3)                 # un-premultiplied by coverage
    assert out["depth"][0, 0, 0] == 0 and out["depth"][8, 8, 0] == pytest.approx(1.5)
    srgb = out["rgb_srgb"].astype(np.float32) / 255
    from inference.images import linear_to_srgb
    assert np.allclose(srgb, linear_to_srgb(out["rgb"].astype(np.float32)), atol=1 / 255 + 1e-3)
    full = dict(out, sh=np.zeros((9, 3), np.float32), sh_b=np.zeros((9, 3), np.float32),
                env_b=np.array(json.dumps({"hdri": "forest"})), meta=np.array("{}"))
    output.check_sample(full, res)
    bad = dict(full, rgb=full["rgb"].astype(np.float32))
    with pytest.raises(ValueError):
        output.check_sample(bad, res)


def test_write_sample_atomic_and_resumable(tmp_path):
    res = 16
    pa, pb = _fake_passes(res)
    s = sample.assemble(pa, pb, np.eye(3))
    s.update(sh=np.ones((9, 3), np.float32), sh_b=np.ones((9, 3), np.float32),
             env_b=np.array(json.dumps({"hdri": "city", "rotation": 10.0})),
             meta=np.array(json.dumps({"seed": 5})))
    path = output.sample_path(tmp_path, 123, 100)
    assert path == tmp_path / "shard_00001" / "0000123.npz"
    assert not output.is_done(path)
    output.write_sample(path, s)
    assert output.is_done(path)
    assert [p.name for p in path.parent.iterdir()] == [path.name]   # no temporary left
    back = output.load_sample(path)
    assert back["meta"] == {"seed": 5} and back["env_b"]["hdri"] == "city"
    assert np.array_equal(back["rgb"], s["rgb"])
    assert output.write_contact_sheet(path.parent).is_file()


def test_manifest_refuses_other_settings(tmp_path):
    cfg = {"res": 64, "split": "train", "seed": 0, "shard_size": 10, "samples": 8,
           "adaptive_threshold": 0.03, "format": 1, "params_version": 1, "count": 5,
           "command": "x", "ict": "/ict"}
    output.write_manifest(tmp_path, cfg)
    output.write_manifest(tmp_path, dict(cfg, count=9, command="y"))
    assert json.loads((tmp_path / "manifest.json").read_text())["count"] == 9
    with pytest.raises(SystemExit):
        output.write_manifest(tmp_path, dict(cfg, res=128))


def test_projection_centre():
    px, depth = sample.project(np.array([[0.1, 2.0, -0.3]]), [0.1, 0.5, -0.3], 50.0, (0, 0), 64)
    assert np.allclose(px, [[32.0, 32.0]]) and depth[0] == pytest.approx(1.5)
    px, _ = sample.project(np.array([[0.2, 1.5, -0.3]]), [0.1, 0.5, -0.3], 36.0, (0, 0), 64)
    assert px[0, 0] == pytest.approx(32 + 0.1 * 64) and px[0, 1] == pytest.approx(32)


# ------------------------------------------------------------------ geometry on the model

@needs_ict
def test_head_geometry_and_pose():
    from training.synth import ict

    m = ict.load_ict()
    assert len(m.neck_loop) == 54
    v = ict.deform(m, P.sample_params(3)["identity"]["coefficients"], np.zeros(53))
    rot = ict.head_rotation(30.0, 10.0, 5.0)
    posed = ict.pose(v, rot, ict.neck_weights(v))
    head = v[:, 1] > ict.NECK_RIGID
    expected = (v[head] - ict.HEAD_PIVOT) @ rot.T + ict.HEAD_PIVOT
    assert np.allclose(posed[head], expected, atol=1e-4)
    bottom = v[:, 1] < ict.NECK_FIXED
    assert np.allclose(posed[bottom], v[bottom])
    # yaw > 0 turns the face (+Z) toward image right (+X); pitch > 0 up
    assert (ict.head_rotation(30, 0, 0) @ [0, 0, 1])[0] > 0.4
    assert (ict.head_rotation(0, 20, 0) @ [0, 0, 1])[1] > 0.3
    assert np.allclose(ict.to_blender(np.array([1.0, 2.0, 3.0])), [0.01, -0.03, 0.02])


@needs_ict
def test_hair_garment_and_textures():
    from training.synth import body, hair, ict, textures

    m = ict.load_ict()
    for seed in (0, 4, 9):
        p = P.sample_params(seed)
        p["hair"]["style"], p["hair"]["length_cm"] = "medium", 12.0
        p["hair"]["count"] = 2000
        v = ict.deform(m, p["identity"]["coefficients"], P.expression_vector(p["expression"]))
        garment, shoulders = body.torso(v, m, p["clothing"])
        assert garment.faces.max() < len(garment.vertices) and np.all(np.isfinite(
            garment.vertices))
        shape = hair.head_shape(v, np.eye(3))
        strands = hair.grow_scalp_hair(m, v, shape, p["hair"], shoulders)
        assert strands.shape == (2000, hair.SEGMENTS["medium"], 3)
        assert np.all(np.isfinite(strands))
        roots_y = strands[:, 0, 1]
        assert roots_y.min() > -9.0                # on the scalp, not on the face or neck
        brows = hair.grow_brows(m, v, shape, p["hair"]["brows"], p["hair"]["seed"])
        assert brows.shape[1:] == (4, 3) and np.all(np.abs(brows[:, 0, 0]) < 7.0)
        lashes = hair.grow_lashes(m, v, shape, p["hair"]["lashes"], p["hair"]["seed"])
        assert lashes.shape == (240, 6, 3)
    tex = textures.skin_textures(p)
    for tile in (0, 1):
        alb, spec = tex[tile]["albedo"], tex[tile]["spec"]
        assert alb.shape == (textures.TEX_SIZE, textures.TEX_SIZE, 3)
        assert alb.min() >= 0.0 and alb.max() <= 1.0
        assert 0.15 <= spec[..., 0].min() and spec[..., 0].max() <= 0.95
        assert 0.015 <= spec[..., 1].min() and spec[..., 1].max() <= 0.08
    eye = textures.eye_texture(p)
    assert eye.shape == (textures.EYE_TEX_SIZE,) * 2 + (3,) and eye.max() <= 0.9


def test_factory_never_reads_eval():
    """The held-out evaluation data (../shared/eval) is never named by the factory."""
    import re

    root = Path(__file__).resolve().parents[2] / "training" / "synth"
    for path in root.glob("*.py"):
        assert not re.search(r"[\"'/\\]eval[\"'/\\]", path.read_text()), path
