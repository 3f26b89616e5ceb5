"""NormalNet: data → resumable training → ONNX export (ORT vs torch ≤ 1e-3) → the pipeline."""
import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the training environment (make venv-train)")

from inference import pipeline  # noqa: E402
from inference.demo import bust  # noqa: E402
from inference.models import Registry  # noqa: E402
from inference.passes import Passes  # noqa: E402
from onnx_graphs import install_chain  # noqa: E402
from training import data, export, nets, train  # noqa: E402


def test_batches_flip_negates_normal_x(shards):
    maps = data.normal_net_maps(data.sample_paths([shards])[0])
    flipped = data._flip(maps)
    assert np.allclose(flipped["normal"][:, ::-1, 0], -maps["normal"][..., 0])
    assert np.allclose(flipped["normal"][:, ::-1, 1], maps["normal"][..., 1])
    x, y, m = next(data.batches(data.sample_paths([shards]), 2, 48, seed=0))
    assert x.shape == (2, 3 + 11, 48, 48) and y.shape == (2, 3, 48, 48) and m.shape == (2, 48, 48)
    assert len(data.NORMAL_INPUTS) == 14


def test_train_resume_export_and_run(shards, tmp_path):
    ckpt = tmp_path / "ckpt"
    args = ["normal", "--data", str(shards), "--steps", "2", "--batch", "2", "--size", "32",
            "--widths", "8", "16", "--ckpt", str(ckpt), "--every", "1", "--log-every", "1"]
    assert train.main(args) == 0
    args[args.index("--steps") + 1] = "3"
    assert train.main(args) == 0  # resumes at step 2
    assert torch.load(ckpt / "last.pt", weights_only=False)["step"] == 3

    models = tmp_path / "models"
    install_chain(models)  # stand-ins for the nets not trained here
    entry = export.export("normal", ckpt / "last.pt", models, "0.0.1")
    assert entry["ort_vs_torch_max_abs"] <= 1e-3
    manifest = json.loads((models / "manifest.json").read_text())["models"]["normal_net"]
    assert manifest["inputs"][0]["normalisation"] == "srgb" and manifest["stride"] == 2
    image = (bust(80)["albedo"] * 0.6).astype(np.float32)
    passes = pipeline.decompose(image, {"registry": Registry(models), "max_side": 64})
    assert passes.normal.shape == (80, 80, 3)
    assert np.allclose(np.linalg.norm(passes.normal, axis=-1), 1.0, atol=1e-3)


def test_relight_baseline_on_samples(shards):
    from inference import demo  # noqa: F401 - shards hold bust passes
    from training.evaluation import synthetic

    folder = shards / "shard_00000"
    for path in folder.glob("*.npz"):  # give the bust samples the keys the factory writes
        d = dict(np.load(path))
        sh = np.zeros((9, 3), np.float32)
        sh[0] = 1.0
        from inference import render

        passes = Passes(rgb=d["rgb"].astype(np.float32), alpha=d["alpha"].astype(np.float32),
                        normal=d["normal"].astype(np.float32),
                        albedo=d["albedo"].astype(np.float32))
        d["rgb_b"] = render.cook_torrance(passes, render.ShLight(sh)).rgb.astype(np.float16)
        d["sh_b"], d["roughness"] = sh, np.full(d["alpha"].shape, 0.5, np.float16)
        d["reflectivity"] = np.full(d["alpha"].shape, 0.04, np.float16)
        np.savez(path, **d)
    row = synthetic.relight_baseline(shards, 4)
    assert row["samples"] == 4 and row["psnr_mean_db"] > 40 and row["ssim_mean"] > 0.99


def test_illum_net_trains_exports_and_feeds_the_pipeline(shards, tmp_path):
    folder = shards / "shard_00000"
    rng = np.random.default_rng(0)
    for path in folder.glob("*.npz"):
        d = dict(np.load(path))
        d["sh"] = rng.normal(0.5, 0.2, (9, 3)).astype(np.float32)
        np.savez(path, **d)
    _, _, sh = next(data.illum_batches(data.sample_paths([shards]), 2, 32, seed=0))
    assert sh.shape == (2, 27)
    ckpt = tmp_path / "illum"
    assert train.main(["illum", "--data", str(shards), "--steps", "2", "--batch", "2",
                       "--size", "32", "--ckpt", str(ckpt), "--every", "1"]) == 0
    models = tmp_path / "models"
    install_chain(models)
    entry = export.export("illum", ckpt / "last.pt", models, "0.0.1")
    assert entry["ort_vs_torch_max_abs"] <= 1e-3
    image = (bust(48)["albedo"] * 0.6).astype(np.float32)
    passes = pipeline.decompose(image, {"registry": Registry(models), "max_side": 48})
    assert passes.sh.shape == (9, 3) and np.isfinite(passes.sh).all()


def test_diffuse_and_specular_nets_train_export_and_run(shards, tmp_path):
    folder = shards / "shard_00000"
    for path in folder.glob("*.npz"):
        d = dict(np.load(path))
        sh = np.zeros((9, 3), np.float32)
        sh[0], sh[2] = 1.0, 0.5
        d.update(sh=sh, roughness=np.full(d["alpha"].shape, 0.5, np.float16),
                 reflectivity=np.full(d["alpha"].shape, 0.04, np.float16))
        np.savez(path, **d)
    rgb, shading, target, mask = next(data.map_batches("diffuse", data.sample_paths([shards]),
                                                       2, 32, seed=0, aug=None))
    assert target.shape == shading.shape == (2, 3, 32, 32) and mask.any()
    inside = np.repeat(mask[:, None], 3, axis=1) > 0
    # the target is albedo × shading: dividing by the shading gives the albedo back
    assert np.allclose(target[inside] / np.maximum(shading[inside], 1e-6), np.clip(
        target[inside] / np.maximum(shading[inside], 1e-6), 0, 1), atol=1e-5)
    models = tmp_path / "models"
    install_chain(models)
    for net in ("diffuse", "specular"):
        ckpt = tmp_path / net
        assert train.main([net, "--data", str(shards), "--steps", "2", "--batch", "2",
                           "--size", "32", "--ckpt", str(ckpt), "--every", "1"]) == 0
        entry = export.export(net, ckpt / "last.pt", models, "0.0.1")
        assert entry["ort_vs_torch_max_abs"] <= 1e-3
    image = (bust(48)["albedo"] * 0.6).astype(np.float32)
    passes = pipeline.decompose(image, {"registry": Registry(models), "max_side": 48})
    assert passes.reflectivity.max() <= 0.16 + 1e-6 and passes.albedo.shape == (48, 48, 3)


def test_training_refuses_a_held_out_split(shards, tmp_path):
    args = ["normal", "--data", str(shards), "--steps", "1", "--batch", "2", "--size", "32",
            "--widths", "8", "16", "--ckpt", str(tmp_path / "a")]
    (shards / "manifest.json").write_text(json.dumps({"split": "val"}))
    with pytest.raises(SystemExit, match="split 'val'"):
        train.main(args)
    assert not (tmp_path / "a").exists()
    (shards / "manifest.json").unlink()  # no manifest: the first sample's meta tells
    first = data.sample_paths([shards])[0]
    d = dict(np.load(first))
    np.savez(first, **{**d, "meta": json.dumps({"seed": 0, "split": "val"})})
    with pytest.raises(SystemExit, match="split 'val'"):
        train.main(args)


def test_render_losses_ignore_the_frames_background():
    """RenderNet is judged on the subject: what it paints outside the mask costs nothing."""
    gen = torch.Generator().manual_seed(0)
    target, pred = torch.rand(2, 3, 24, 24, generator=gen), torch.rand(2, 3, 24, 24, generator=gen)
    mask = torch.zeros(2, 24, 24)
    mask[:, 6:18, 5:20] = 1
    weight = torch.rand(2, 1, 24, 24, generator=gen)
    other = torch.where(mask.unsqueeze(1) > 0, pred, 5 * torch.rand(2, 3, 24, 24, generator=gen))
    a, b = nets.render_losses(pred, target, weight, mask), nets.render_losses(other, target,
                                                                               weight, mask)
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k]) for k in a)
    assert a["l1"] > 0 and a["perceptual"] > 0


def test_render_net_trains_with_its_discriminator_and_refines(shards, tmp_path):
    from inference import render

    from training import scene_light

    folder = shards / "shard_00000"
    for path in folder.glob("*.npz"):
        d = dict(np.load(path))
        sh = np.zeros((9, 3), np.float32)
        sh[0], sh[3] = 1.0, 0.4
        meta = {**json.loads(str(d["meta"])),
                "params": {"camera": {"focal_mm": 50.0, "shift": [0.0, 0.0]}},
                "geometry": {"camera_position": [0.0, -1.0, 0.0]},
                "lighting_b": {"hdri": "forest", "rotation": 30.0, "world_strength": 0.3,
                               "lights": [{"type": "point", "position": [0.5, -1.0, 0.5],
                                           "power": 20.0, "rgb": [1.0, 0.9, 0.8]}]}}
        d.update(depth=np.where(d["alpha"] > 0, 1.0, 0.0).astype(np.float16),
                 roughness=np.full(d["alpha"].shape, 0.5, np.float16),
                 reflectivity=np.full(d["alpha"].shape, 0.04, np.float16),
                 sh=sh, sh_b=sh, meta=json.dumps(meta))
        passes = Passes(rgb=d["rgb"].astype(np.float32),
                        **{k: d[k].astype(np.float32) for k in ("normal", "albedo", "alpha",
                                                                "roughness", "reflectivity")})
        d["rgb_b"] = scene_light.render_under_own_lighting(passes, meta, scene_light.positions(
            meta, d["depth"].astype(np.float32))).rgb
        np.savez(path, **d)
    batch = next(data.render_batches(data.sample_paths([shards]), 2, 32, seed=0))
    assert [b.shape[1] for b in batch[:8]] == [3, 3, 3, 2, 1, 3, 3, 1]
    inside = batch[-1] > 0  # the Cook-Torrance input is lit by lighting B's HDRI and light
    assert (batch[0].transpose(0, 2, 3, 1)[inside] > 0).all()
    ckpt = tmp_path / "render"
    assert train.main(["render", "--data", str(shards), "--steps", "2", "--batch", "2",
                       "--size", "32", "--ckpt", str(ckpt), "--every", "1"]) == 0
    assert "disc" in torch.load(ckpt / "last.pt", weights_only=False)
    models = tmp_path / "models"
    install_chain(models)
    entry = export.export("render", ckpt / "last.pt", models, "0.0.1")
    assert entry["ort_vs_torch_max_abs"] <= 1e-3
    gt = bust(40)
    p = Passes(rgb=gt["albedo"], alpha=gt["alpha"], normal=gt["normal"], albedo=gt["albedo"],
               roughness=gt["roughness"], reflectivity=gt["reflectivity"])
    relit = render.cook_torrance(p, render.ShLight(np.eye(9, 3, dtype=np.float32)))
    refined = pipeline.refine(p, relit, {"registry": Registry(models), "max_side": 40})
    assert refined.shape == (40, 40, 3) and np.isfinite(refined).all() and refined.min() >= 0


def test_grey_augmentation_makes_black_and_white_photos(shards):
    maps = data.normal_net_maps(data.sample_paths([shards])[0])
    rng = np.random.default_rng(0)
    grey = data.augment(dict(maps), rng, 32, data.Augment(grey=1.0, jpeg=0.0, noise=0.0))
    assert np.allclose(grey["rgb"][..., 0], grey["rgb"][..., 1])
    assert np.allclose(grey["rgb"][..., 1], grey["rgb"][..., 2])
    assert data.Augment().grey == 0.0 and data.GEOMETRY_AUG.grey > 0  # colour nets keep colour


def test_warm_start_takes_the_weights_and_refuses_a_different_net(shards, tmp_path):
    base = ["normal", "--data", str(shards), "--steps", "1", "--batch", "2", "--size", "32",
            "--widths", "8", "16", "--every", "1", "--log-every", "1"]
    assert train.main(base + ["--ckpt", str(tmp_path / "a")]) == 0
    first = torch.load(tmp_path / "a" / "last.pt", weights_only=False)
    # a fresh run from those weights, with 0 steps to go past them: the weights are the same
    tuned = base[:]
    tuned[tuned.index("--steps") + 1] = "1"
    assert train.main(tuned + ["--ckpt", str(tmp_path / "b"), "--lr", "0",
                               "--init", str(tmp_path / "a" / "last.pt")]) == 0
    second = torch.load(tmp_path / "b" / "last.pt", weights_only=False)
    assert second["config"]["init"]["step"] == 1
    # resumed (as after a session ends), the run still records where it started
    longer = tuned[:]
    longer[longer.index("--steps") + 1] = "2"
    assert train.main(longer + ["--ckpt", str(tmp_path / "b"), "--lr", "0"]) == 0
    resumed = torch.load(tmp_path / "b" / "last.pt", weights_only=False)
    assert resumed["step"] == 2 and resumed["config"]["init"] == second["config"]["init"]
    assert export.main(["normal", "--ckpt", str(tmp_path / "b" / "last.pt"), "--models",
                        str(tmp_path / "models"), "--version", "0.2.0"]) == 0
    entry = json.loads((tmp_path / "models" / "manifest.json").read_text())["models"]
    assert entry["normal_net"]["version"] == "0.2.0"
    assert entry["normal_net"]["training_data"]["init"]["path"].endswith("last.pt")
    for key, value in first["model"].items():
        if value.dtype.is_floating_point and "running" not in key:
            assert torch.allclose(value, second["model"][key], atol=1e-6), key
    wider = base[:]
    wider[wider.index("16")] = "24"
    with pytest.raises(SystemExit, match="widths"):
        train.main(wider + ["--ckpt", str(tmp_path / "c"), "--init",
                            str(tmp_path / "a" / "last.pt")])


def test_prior_jitter_turns_rescales_or_drops_the_prior_only(shards):
    maps = data.normal_net_maps(data.sample_paths([shards])[0])
    size = maps["rgb"].shape[0]
    yy, xx = (np.mgrid[0:size, 0:size] + 0.5) / size * 2 - 1
    inside = xx ** 2 + yy ** 2 < 0.8  # a sphere's normals stand in for a face's prior
    sphere = np.dstack([xx, -yy, np.sqrt(np.clip(1 - xx ** 2 - yy ** 2, 0, 1))]) * inside[..., None]
    maps["prior"] = np.dstack([sphere, inside]).astype(np.float32)
    maps["landmarks"] = np.ones_like(maps["landmarks"])
    aug = data.Augment(crop=1.0, flip=0.0, exposure=0.0, white_balance=0.0, blur=0.0,
                       noise=0.0, jpeg=0.0, occluder=0.0, prior_tilt=12.0, prior_depth=0.3)
    turned = data.augment(dict(maps), np.random.default_rng(3), size, aug)
    n0, n1 = maps["prior"][..., :3][inside], turned["prior"][..., :3][inside]
    assert np.allclose(np.linalg.norm(n1, axis=-1), 1.0, atol=1e-4)
    angle = np.degrees(np.arccos(np.clip((n0 * n1).sum(-1), -1, 1)))
    assert 0.1 < angle.mean() < 12.0 + 20.0  # a turn of ≤ 12° plus a change of relief
    assert np.array_equal(turned["prior"][..., 3], maps["prior"][..., 3])
    assert np.array_equal(turned["normal"], maps["normal"])       # the truth stays true
    assert (turned["prior"][..., :3][~inside] == 0).all()
    dropped = data.augment(dict(maps), np.random.default_rng(0), size,
                           data.Augment(**{**aug.__dict__, "prior_drop": 1.0}))
    assert not dropped["prior"].any() and not dropped["landmarks"].any()
    # off by default: the prior passes untouched
    plain = data.augment(dict(maps), np.random.default_rng(3), size,
                         data.Augment(**{**aug.__dict__, "prior_tilt": 0.0, "prior_depth": 0.0}))
    assert np.array_equal(plain["prior"], maps["prior"])


def test_resume_refuses_a_run_with_other_inputs(shards, tmp_path):
    args = ["normal", "--data", str(shards), "--steps", "1", "--batch", "2", "--size", "32",
            "--widths", "8", "16", "--ckpt", str(tmp_path / "a")]
    assert train.main(args) == 0
    with pytest.raises(SystemExit, match="prior_jitter"):
        train.main([*args, "--steps", "2", "--prior-jitter"])


def test_finetune_script_warm_starts_each_run_and_resumes(shards, tmp_path):
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    synth = tmp_path / "root"
    synth.mkdir()
    (synth / "v1").symlink_to(shards)
    base = ["--data", str(shards), "--steps", "1", "--batch", "2", "--size", "32",
            "--widths", "8", "16", "--every", "1", "--log-every", "1"]
    assert train.main(["normal", *base, "--ckpt", str(tmp_path / "from" / "normal")]) == 0
    env = {**os.environ, "PYTHON": sys.executable, "RELIT_SYNTH_ROOT": str(synth),
           "FROM": str(tmp_path / "from"), "TO": str(tmp_path / "to"),
           "NETS": "normal normal_pj", "NORMAL_STEPS": "2", "RELIT_CACHE": str(data.CACHE),
           "TRAIN_ARGS": "--size 32 --batch 2 --widths 8 16 --every 1"}
    script = root / "training" / "finetune.sh"
    for _ in range(2):  # the second run finds both runs finished
        done = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "finetune: done: normal normal_pj" in done.stdout
    for name, jitter in (("normal", False), ("normal_pj", True)):
        state = torch.load(tmp_path / "to" / name / "last.pt", weights_only=False)
        assert state["step"] == 2
        assert state["config"]["prior_jitter"] is jitter
        assert state["config"]["init"]["path"] == str((tmp_path / "from" / "normal" / "last.pt")
                                                      .resolve())


def test_illum_loss_scores_the_level_in_log_space_and_the_shape_apart():
    from training import nets

    rng = np.random.default_rng(0)
    t = torch.from_numpy(rng.normal(size=(4, 27)).astype(np.float32))
    t[:, :3] += 3.0  # ambient light
    assert float(nets.sh_irradiance_loss(t, t)) < 1e-6
    twice, half = (float(nets.sh_irradiance_loss(k * t, t)) for k in (2.0, 0.5))
    assert abs(twice - half) < 1e-5 and abs(twice - np.log(2.0) ** 2) < 1e-4  # shape unchanged
    other = t.clone()
    other[:, 3:12] *= -1.0  # the light from the other side, at the same level
    assert float(nets.sh_irradiance_loss(other, t)) > 0.05


def test_shading_jitter_scales_the_albedo_nets_shading_input_only(shards, tmp_path):
    paths = data.sample_paths([shards])
    sh = np.zeros((9, 3), np.float32)
    sh[0] = 1.0
    for path in paths:  # the fixture's samples carry no lighting: give them an ambient one
        with np.load(path) as z:
            arrays = dict(z)
        side = arrays["alpha"].shape[:2] + (1,)
        np.savez(path, **arrays, sh=sh, roughness=np.full(side, 0.5, np.float16),
                 reflectivity=np.full(side, 0.04, np.float16))
    still = data.Augment(crop=1.0, flip=0.0, exposure=0.0, white_balance=0.0, blur=0.0,
                         noise=0.0, jpeg=0.0, occluder=0.0)
    jitter = data.Augment(**{**still.__dict__, "shading_level": 1.0})
    plain = next(data.map_batches("albedo", paths, 4, 32, seed=0, aug=still))
    moved = next(data.map_batches("albedo", paths, 4, 32, seed=0, aug=jitter))
    assert np.array_equal(plain[0], moved[0]) and np.array_equal(plain[2], moved[2])
    ratio = moved[1].mean(axis=(1, 2, 3)) / plain[1].mean(axis=(1, 2, 3))
    assert np.all((ratio >= 0.5 - 1e-4) & (ratio <= 2.0 + 1e-4)) and np.ptp(ratio) > 0.05
    args = ["albedo", "--data", str(shards), "--steps", "1", "--batch", "2", "--size", "32",
            "--widths", "8", "16", "--every", "1", "--ckpt", str(tmp_path / "a")]
    assert train.main(args + ["--shading-jitter", "0.5"]) == 0
    with pytest.raises(SystemExit, match="shading_jitter"):
        train.main(args[:args.index("--steps") + 1] + ["2"] + args[args.index("--steps") + 2:])


@pytest.fixture
def camera_shards(bust_samples, monkeypatch):
    """Bust samples shot through a 35 mm lens, with a face prior high in the frame that faces
    +Z in MediaPipe's ray frame: (folder, prior H×W×4)."""
    meta = {"seed": 0, "params": {"camera": {"focal_mm": 35.0, "shift": [0.0, 0.05]}}}
    folder = bust_samples("cam", lambda gt, i: dict(
        rgb=(gt["albedo"] * 0.6).astype(np.float16), normal=gt["normal"].astype(np.float16),
        alpha=gt["alpha"].astype(np.float16), meta=json.dumps({**meta, "seed": i})))
    yy, xx = np.mgrid[0:64, 0:64] + 0.5
    inside = ((xx - 32) ** 2 + (yy - 14) ** 2 < 100).astype(np.float32)  # a face up high
    prior = np.dstack([np.zeros((64, 64, 2)), inside, inside]).astype(np.float32)  # facing +Z
    monkeypatch.setattr(data, "face_features", lambda path, rgb: {
        "landmarks": np.zeros((64, 64, 6), np.float32), "prior": prior,
        "matte": np.ones((64, 64), np.float32)})
    return folder, prior


def test_camera_prior_is_turned_by_each_samples_camera_and_exported_as_such(
        camera_shards, bust_samples, tmp_path):
    from inference import camera

    folder, prior = camera_shards
    inside = prior[..., 3]
    path = data.sample_paths([folder])[0]
    ray, turned = data.normal_net_maps(path), data.normal_net_maps(path, camera_prior=True)
    assert np.array_equal(ray["prior"], prior)
    lens = camera.Pinhole.of_image((64, 64), 35.0, (0.0, 0.05))
    assert np.allclose(turned["prior"][..., :3], camera.prior_to_camera(prior[..., :3], inside,
                                                                        lens), atol=1e-6)
    assert np.array_equal(turned["prior"][..., 3], inside)
    face = inside > 0
    assert (turned["prior"][..., 1][face] < -0.2).all()  # seen from below: it faces down
    assert np.array_equal(turned["normal"], ray["normal"])

    ckpt = tmp_path / "ckpt"
    args = ["normal", "--data", str(folder), "--steps", "1", "--batch", "2", "--size", "32",
            "--widths", "8", "16", "--ckpt", str(ckpt), "--camera-prior"]
    assert train.main(args) == 0
    with pytest.raises(SystemExit, match="camera_prior"):
        train.main([a for a in args if a != "--camera-prior"] + ["--steps", "2"])
    models = tmp_path / "models"
    install_chain(models)
    export.export("normal", ckpt / "last.pt", models, "0.0.1")
    entry = json.loads((models / "manifest.json").read_text())["models"]["normal_net"]
    channels = entry["inputs"][1]["channels"]
    assert channels[6:10] == ["prior_camera_x", "prior_camera_y", "prior_camera_z", "prior_mask"]
    assert entry["training_data"]["camera_prior"] is True
    passes = pipeline.decompose((bust(80)["albedo"] * 0.6).astype(np.float32),
                                {"registry": Registry(models), "max_side": 64})
    assert passes.normal.shape == (80, 80, 3)

    bare = bust_samples("bare", lambda gt, i: dict(
        rgb=(gt["albedo"] * 0.6).astype(np.float16), normal=gt["normal"].astype(np.float16),
        alpha=gt["alpha"].astype(np.float16), meta=json.dumps({"seed": i})))
    with pytest.raises(ValueError, match="names no camera"):
        data.normal_net_maps(data.sample_paths([bare])[0], camera_prior=True)


def test_prior_frame_measures_the_prior_in_both_frames(camera_shards):
    from training.evaluation import synthetic

    folder, _ = camera_shards
    row = synthetic.prior_frame(folder, 10)
    assert row["samples"] == 4
    # the face's centre is 21 px above the optical axis (the lens shift lowers the axis by
    # 3 px) of a 64 px frame through 35 mm, 62 px of focal length: the ray climbs 18°, and the
    # turned prior faces that much further down than the ray frame's
    ray, cam = row["ray_frame"], row["camera_frame"]
    assert cam["mean_dy"] < ray["mean_dy"] - 0.2
    assert row["ray_tilt_vs_elevation_sine"]["mean_sine"] > 0.2  # seen from below
