"""The synthetic data factory in Blender: tiny renders (64 px, few samples) checking the sample
format, bit-exact determinism, the normal AOV against Cycles' Normal pass, the recorded SH
against the diffuse light Cycles rendered, and the CLI's sharded, resumable output.

The factory builds its own scene with the data API and removes it (``SynthScene.close``); the
CLI test runs ``python -m training.synth`` in a subprocess, as a user would."""
import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from inference import lighting as lt

pytestmark = [pytest.mark.blender, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
RES, SPP = 64, 16
SEED, OTHER = 11, 12


def _ict_available() -> bool:
    from training.synth import ict

    return (ict.default_ict_dir() / ict.MODEL_FILE).is_file()


if not _ict_available():
    pytest.skip("ICT-FaceKit model not present", allow_module_level=True)


@pytest.fixture(scope="module")
def renders(tmp_path_factory):
    """Sample SEED, another sample, SEED again (same process), and an SH-check render."""
    from training.synth import params as P, sample
    from training.synth.scene import SynthScene

    work = str(tmp_path_factory.mktemp("synth"))
    scene = SynthScene(res=RES, samples=SPP, threads=1)
    try:
        first = sample.render_sample(scene, SEED, "train", work, keep_passes=True)
        sample.render_sample(scene, OTHER, "train", work)
        again = sample.render_sample(scene, SEED, "train", work)
        # SH checks: no hair or accessories over the skin; three environments, and one
        # with a soft area light added (analytic light units and their SH)
        lit = []
        for hdri, rotation, light in SH_CASES:
            prm = copy.deepcopy(P.sample_params(SEED))
            prm["hair"]["style"], prm["hair"]["count"] = "none", 0
            prm["accessories"] = {"glasses": None, "occluder": None}
            prm["pose"].update(yaw=10.0, pitch=0.0, roll=0.0)
            prm["lighting_a"].update(setup="mixed" if light else "hdri", hdri=hdri,
                                     rotation=rotation, lights=[light] if light else [])
            lit.append(sample.render_sample(scene, SEED, "train", work, keep_passes=True,
                                            prm=prm))
    finally:
        scene.close()
    return {"first": first, "again": again, "lit": lit}


SOFT_KEY = {"type": "area", "azimuth": 40.0, "elevation": 30.0, "distance": 1.5,
            "kelvin": 5000.0, "rgb": [1.0, 1.0, 1.0], "size": 0.6, "size_y": 0.5, "ratio": 2.0}
SH_CASES = [("courtyard", 30.0, None), ("forest", 200.0, None), ("interior", 120.0, None),
            ("studio", 300.0, SOFT_KEY)]


def test_keys_shapes_dtypes_ranges(renders):
    from training.synth import output

    s = renders["first"]
    output.check_sample({k: v for k, v in s.items() if k != "passes"}, RES)
    f = {k: np.asarray(v, np.float32) for k, v in s.items()
         if k not in ("meta", "env_b", "passes", "rgb_srgb")}
    for key, value in f.items():
        assert np.all(np.isfinite(value)), key
    alpha = f["alpha"][..., 0]
    assert alpha.min() >= 0.0 and alpha.max() <= 1.0 and (alpha > 0.99).mean() > 0.1
    mask = alpha > 0.5
    length = np.linalg.norm(f["normal"], axis=-1)
    assert np.all(np.abs(length[mask] - 1.0) < 2e-3)            # unit (float16) on the subject
    assert np.all(length[alpha == 0] == 0)
    assert np.all((f["roughness"][mask] >= 0.03) & (f["roughness"][mask] <= 0.96))
    assert np.all((f["reflectivity"][mask] >= 0.015) & (f["reflectivity"][mask] <= 0.081))
    assert np.all((f["albedo"] >= 0) & (f["albedo"] <= 1))
    # depth is Cycles' first-sample hit (not filtered): thin hair and edges may miss
    assert np.mean(f["depth"][mask] > 0.05) > 0.97 and np.all(f["depth"] < 20)
    assert f["rgb"].min() >= 0 and f["rgb"][mask].mean() > 0.01
    assert f["diffuse_shading"].min() >= 0 and f["specular"].min() >= 0
    meta = json.loads(str(s["meta"]))
    assert meta["seed"] == SEED and meta["params"]["seed"] == SEED
    assert meta["params"]["identity"]["split"] == "train"
    env_b = json.loads(str(s["env_b"]))
    assert env_b["hdri"] == meta["lighting_b"]["hdri"]
    assert np.allclose(s["sh_b"], meta["lighting_b"]["sh"])
    assert 0.0 <= meta["face_visible"] <= 1.0 and len(meta["landmarks68_px"]) == 68


def test_same_seed_is_bit_exact(renders):
    a, b = renders["first"], renders["again"]
    for key in a:
        if key in ("passes", "meta"):
            continue
        assert np.array_equal(np.asarray(a[key]), np.asarray(b[key])), key
    ma, mb = json.loads(str(a["meta"])), json.loads(str(b["meta"]))
    ma.pop("timing"), mb.pop("timing")
    assert ma == mb


def test_normal_aov_matches_normal_pass(renders):
    s = renders["first"]
    passes = s["passes"]
    alpha = np.asarray(s["alpha"], np.float32)[..., 0]
    interior = alpha > 0.999
    n_pass = passes["Normal"][interior]
    n_pass /= np.maximum(np.linalg.norm(n_pass, axis=-1, keepdims=True), 1e-6)
    cam = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])   # relight camera axes
    n_ours = np.asarray(s["normal"], np.float32)[interior]
    cos = np.sum((n_pass @ cam) * n_ours, axis=-1)
    assert np.median(cos) > 0.995 and np.mean(cos > 0.95) > 0.9


def test_normals_agree_with_the_depth_pass(renders):
    """The camera-space normals are the surface the depth pass describes: normals from depth
    finite differences (the camera's focal length and shift from ``meta``) agree with them on
    smooth interior skin, with no tilt."""
    from training.synth.scene import SENSOR_MM

    for s in [renders["first"], *renders["lit"]]:
        cam = json.loads(str(s["meta"]))["params"]["camera"]
        z = np.asarray(s["depth"], np.float64)[..., 0]
        h, w = z.shape
        f = cam["focal_mm"] / SENSOR_MM * w                 # square frame: sensor fits the width
        cx, cy = w / 2 - cam["shift"][0] * w, h / 2 + cam["shift"][1] * w
        v, u = np.mgrid[0:h, 0:w] + 0.5
        p = np.stack([(u - cx) * z / f, -(v - cy) * z / f, -z], -1)
        right, up = p[1:-1, 2:] - p[1:-1, :-2], p[:-2, 1:-1] - p[2:, 1:-1]
        n = np.cross(right, up)
        n /= np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-12)
        ok = np.asarray(s["alpha"], np.float32)[1:-1, 1:-1, 0] > 0.999
        for a, b in ((z[1:-1, 2:], z[1:-1, :-2]), (z[:-2, 1:-1], z[2:, 1:-1])):
            ok &= (a > 0) & (b > 0) & (np.abs(a - b) < 0.01)   # no depth edge
        truth = np.asarray(s["normal"], np.float64)[1:-1, 1:-1][ok]
        angle = np.degrees(np.arccos(np.clip(np.sum(n[ok] * truth, -1), -1, 1)))
        tilt = (n[ok] - truth).mean(axis=0)
        assert ok.sum() > 100
        assert np.median(angle) < 5.0 and abs(tilt[0]) < 0.05 and abs(tilt[1]) < 0.05


def sh_agreement(s) -> dict:
    """How well ``sh`` predicts the diffuse light Cycles rendered on camera-facing skin.

    ``diffuse_shading`` is Cycles' diffuse light (Diffuse Direct + Indirect, i.e. E / pi for a
    Lambertian surface); the prediction is ``sh_irradiance(sh, normal) / pi``. Pixels in cast
    shadow or occluded (shading below half the prediction: the SH describes the light reaching
    the head, not what the nose or brows block) are left out of ``corr_lit``.
    ``corr_image`` compares albedo x prediction with the diffuse image (shading x Diffuse
    Color) over all the skin pixels."""
    face = s["passes"]["face"][..., 0]
    normal = np.asarray(s["normal"], np.float32)
    shading = np.asarray(s["diffuse_shading"], np.float32)
    predicted = lt.sh_irradiance(s["sh"], normal) / np.pi
    mask = (face > 0.99) & (normal[..., 2] > 0.3)
    x, y = predicted[mask].mean(-1), shading[mask].mean(-1)
    lit = y > 0.5 * x
    diffuse = (shading * s["passes"]["Diffuse Color"])[mask].mean(-1)
    albedo = np.asarray(s["albedo"], np.float32)[mask].mean(-1)
    return {"pixels": int(mask.sum()), "corr": float(np.corrcoef(x, y)[0, 1]),
            "corr_lit": float(np.corrcoef(x[lit], y[lit])[0, 1]), "lit": float(lit.mean()),
            "ratio": float(np.median(y / x)),
            "corr_image": float(np.corrcoef(albedo * x, diffuse)[0, 1])}


def test_sh_matches_diffuse_render(renders):
    """Irradiance predicted from ``sh`` and ``normal`` tracks Cycles' diffuse light on skin,
    in brightness (median ratio near 1) and in shape (correlation over the face)."""
    rows = [sh_agreement(s) for s in renders["lit"]]
    for (hdri, _, light), r in zip(SH_CASES, rows):
        print(f"\n{hdri}{' + area light' if light else ''}: {r['pixels']} px, corr "
              f"{r['corr']:.3f} (unshadowed {r['lit']:.0%}: {r['corr_lit']:.3f}), median "
              f"ratio {r['ratio']:.3f}, albedo x SH vs diffuse image corr {r['corr_image']:.3f}")
        assert r["pixels"] > 150 and r["lit"] > 0.85
        assert 0.8 < r["ratio"] < 1.2
        assert r["corr_lit"] > 0.7 and r["corr_image"] > 0.7
    assert np.mean([r["corr_lit"] for r in rows]) > 0.8
    # the test can tell: the same environment turned half a turn no longer fits
    s = dict(renders["lit"][0])
    s["sh"] = lt.rotate_sh(s["sh"], 180.0)
    wrong = sh_agreement(s)
    print(f"courtyard turned 180 degrees: corr {wrong['corr']:.3f}")
    assert wrong["corr"] < rows[0]["corr"] - 0.3


def test_cli_writes_shards_and_resumes(tmp_path):
    out = tmp_path / "ds"
    cmd = [sys.executable, "-m", "training.synth", "--count", "3", "--res", "32", "--samples",
           "4", "--workers", "1", "--shard-size", "2", "--seed", "40", "--out", str(out)]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    first = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr[-3000:]
    files = sorted(out.glob("shard_*/*.npz"))
    assert [f.relative_to(out).as_posix() for f in files] == [
        "shard_00000/0000000.npz", "shard_00000/0000001.npz", "shard_00001/0000002.npz"]
    assert (out / "shard_00000" / "contact.png").is_file()
    assert (out / "shard_00001" / "contact.png").is_file()
    assert "synth: 3/3" in first.stdout
    meta = json.loads(str(np.load(files[2])["meta"]))
    assert meta["seed"] == 42 and meta["res"] == 32
    again = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "0 rendered, 3 skipped" in again.stdout


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads children from /proc")
def test_killed_run_takes_its_workers_with_it(tmp_path):
    import signal
    import time

    proc = subprocess.Popen([sys.executable, "-m", "training.synth", "--count", "500", "--res",
                             "32", "--workers", "2", "--out", str(tmp_path / "run")], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def children():
        path = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
        return [int(p) for p in path.read_text().split()] if path.exists() else []

    deadline = time.time() + 60
    while len(children()) < 2 and time.time() < deadline:
        time.sleep(0.2)
    workers = children()
    assert len(workers) >= 2
    time.sleep(3)  # the workers are building their scenes
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    deadline = time.time() + 30
    alive = workers
    while alive and time.time() < deadline:
        time.sleep(0.2)
        alive = [p for p in workers if Path(f"/proc/{p}").exists()
                 and "zombie" not in Path(f"/proc/{p}/status").read_text()]
    assert not alive, f"workers {alive} outlived the killed run"
