"""``training.evaluate`` on factory-like samples, the albedo comparison net and ``--rescan``."""
import argparse
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the training environment (make venv-train)")

from inference import pipeline, render  # noqa: E402
from inference.demo import bust  # noqa: E402
from inference.models import Registry  # noqa: E402
from inference.passes import Passes  # noqa: E402
from onnx_graphs import install_chain  # noqa: E402
from training import data, evaluate, scene_light, train  # noqa: E402
from training.evaluation import flicker, keys, model_card, report, synthetic, yale  # noqa: E402

SH_A = np.zeros((9, 3), np.float32)
SH_A[0], SH_A[2] = 1.0, 0.5          # the stand-in IllumNet's answer: ambient plus frontal
SH_B = np.zeros((9, 3), np.float32)
SH_B[0], SH_B[3] = 0.8, 0.6          # light from the side (roughly lighting B below)
META = {"params": {"camera": {"focal_mm": 50.0, "shift": [0.0, 0.0]}},
        "geometry": {"camera_position": [0.0, -0.7, 0.0]},
        "lighting_b": {"hdri": "studio", "rotation": 0.0, "world_strength": 0.4,
                       "lights": [{"type": "point", "position": [-1.0, -0.5, 0.2],
                                   "power": 30.0, "rgb": [1.0, 1.0, 1.0]},
                                  {"type": "area", "position": [0.8, -0.8, 0.6],
                                   "direction": [-0.6, 0.6, -0.5], "power": 20.0, "size": 0.3,
                                   "size_y": 0.2, "rgb": [1.0, 0.9, 0.8]}]}}


def _factory_sample(gt, seed):
    arrays = {k: gt[k].astype(np.float32) for k in ("normal", "albedo", "alpha")}
    arrays.update(roughness=np.full((64, 64), 0.5, np.float32),
                  reflectivity=np.full((64, 64), 0.04, np.float32))
    passes = Passes(rgb=arrays["albedo"], **arrays)
    rgb = render.cook_torrance(passes, render.ShLight(SH_A)).rgb
    depth = np.where(gt["alpha"] > 0, 0.7, 0.0).astype(np.float32)
    rgb_b = scene_light.render_under_own_lighting(passes, META,
                                                  scene_light.positions(META, depth)).rgb
    return dict(rgb=rgb.astype(np.float16), sh=SH_A, sh_b=SH_B, rgb_b=rgb_b.astype(np.float16),
                meta=json.dumps({"seed": seed, **META}), depth=depth.astype(np.float16),
                **{k: v.astype(np.float16) for k, v in arrays.items()})


@pytest.fixture
def samples(bust_samples):
    """Four samples with every key the factory writes, rendered from bust passes."""
    return bust_samples("val", _factory_sample)


def _train(net, folder, tmp_path, *extra):
    ckpt = tmp_path / f"ckpt_{net}"
    assert train.main([net, "--data", str(folder), "--steps", "2", "--batch", "2", "--size",
                       "32", "--widths", "8", "16", "--ckpt", str(ckpt), "--every", "1",
                       *extra]) == 0
    return ckpt / "last.pt"


def test_normal_checkpoint_scores_net_and_prior_on_the_same_pixels(samples, tmp_path):
    rows = synthetic.normal_checkpoint(_train("normal", samples, tmp_path), samples, 3)
    net, on_face, prior = rows
    assert net["samples"] == 3 and net["pixels"] > 3 * 1000
    assert 0 <= net["mean_deg"] <= 180 and net["within_30"] >= net["within_11_25"]
    assert on_face["pixels"] == prior["pixels"] and on_face["coverage"] == prior["coverage"]
    assert net["landmarks"] is True  # the default run keeps the landmark channels
    ablation = synthetic.normal_checkpoint(
        _train("normal", samples, tmp_path / "nolm", "--no-landmarks"), samples, 3)
    assert ablation[0]["landmarks"] is False


def test_albedo_comparison_nets_and_specular_are_scored(samples, tmp_path):
    diffuse = synthetic.map_checkpoint("diffuse", _train("diffuse", samples, tmp_path), samples, 2)
    direct = synthetic.map_checkpoint("albedo", _train("albedo", samples, tmp_path), samples, 2)
    spec = synthetic.map_checkpoint("specular", _train("specular", samples, tmp_path), samples, 2)
    for row in (diffuse, direct):
        assert row["samples"] == 2 and np.isfinite(row["albedo_si_psnr_db"])
    _, _, target, _ = next(data.map_batches("albedo", data.sample_paths([samples]), 1, 32, 0,
                                            aug=None))
    assert 0 <= target.min() and target.max() <= 1  # the direct net's target is the albedo
    assert 0 <= spec["roughness_mae"] <= 1 and 0 <= spec["f0_mae"] <= 0.16


def test_sh_relative_error():
    assert synthetic.sh_relative_error(SH_A, SH_A) == 0.0
    assert synthetic.sh_relative_error(SH_A * 1.1, SH_A) == pytest.approx(0.1, rel=1e-4)


def test_chain_on_synthetic_samples_reports_every_pass(samples, tmp_path):
    models = tmp_path / "models"
    install_chain(models)
    # the lighting fit off, so that the SH reported is the stand-in IllumNet's own answer
    row = synthetic.chain_synthetic(samples, 2, models, {"sh_fit": 0.0})
    assert row["samples"] == 2 and row["normals"]["pixels"] > 0
    for key in ("albedo_si_psnr_db", "roughness_mae", "f0_mae", "sh_relative_irradiance_error",
                "matte_iou", "relight_ct_true_psnr_db", "relight_ct_predicted_ssim",
                "relight_rendernet_true_psnr_db", "relight_ct_predicted_true_albedo_psnr_db",
                "relight_ct_predicted_albedo_level_oracle_psnr_db", "relight_scene_ct_true_ssim",
                "relight_scene_ct_predicted_psnr_db", "relight_scene_rendernet_true_psnr_db",
                "relight_scene_ct_predicted_edge_psnr_db",
                "relight_scene_rendernet_predicted_edge_psnr_db"):
        assert np.isfinite(row[key]), key
    assert abs(row["sh_level_log2"]["median"]) < 1e-4  # the stand-in answers SH_A itself
    assert np.isfinite(row["albedo_level_log2"]["mean_abs"])
    # the stand-in IllumNet answers SH_A, the samples' own lighting
    assert row["sh_relative_irradiance_error"] < 1e-5
    # true passes under lighting B's own HDRI and lights reproduce rgb_b (float16 storage
    # aside); its SH only approximates them
    assert row["relight_scene_ct_true_psnr_db"] > 40
    assert row["relight_ct_true_psnr_db"] < row["relight_scene_ct_true_psnr_db"]


def test_edge_psnr_sees_a_fringe_and_a_halo_but_not_the_inside():
    """The band around the true outline, composited over the frame's background: a relight
    that matches the frame scores high; a blue fringe at the edge or a halo beyond the
    subject costs; a wrong inside does not count."""
    h = w = 64
    yy, xx = np.mgrid[0:h, 0:w]
    true_alpha = ((yy - 32) ** 2 + (xx - 32) ** 2 < 18 ** 2).astype(np.float32)
    subject = np.full((h, w, 3), [0.6, 0.4, 0.3], np.float32)
    background = np.full((h, w, 3), [0.05, 0.1, 0.3], np.float32)
    frame = true_alpha[..., None] * subject + (1 - true_alpha[..., None]) * background
    good = synthetic.edge_psnr(subject * true_alpha[..., None], true_alpha, frame, true_alpha)
    assert good > 60
    inside_wrong = subject.copy()
    inside_wrong[28:36, 28:36] = 0.0   # deep inside, beyond the band
    assert synthetic.edge_psnr(inside_wrong * true_alpha[..., None], true_alpha, frame,
                               true_alpha) == pytest.approx(good)
    ring = (true_alpha > 0) & ((yy - 32) ** 2 + (xx - 32) ** 2 > 15 ** 2)
    fringed = subject.copy()
    fringed[ring] = [0.1, 0.2, 0.9]
    assert synthetic.edge_psnr(fringed * true_alpha[..., None], true_alpha, frame,
                               true_alpha) < good - 20
    wide = ((yy - 32) ** 2 + (xx - 32) ** 2 < 22 ** 2).astype(np.float32) * 0.5
    wide = np.maximum(wide, true_alpha)    # a soft matte beyond the subject, lit grey
    halo = np.full((h, w, 3), 0.5, np.float32) * wide[..., None]
    halo[true_alpha > 0] = subject[true_alpha > 0]
    assert synthetic.edge_psnr(halo, wide, frame, true_alpha) < good - 20


def test_estimate_normals_runs_only_the_first_net(tmp_path):
    models = tmp_path / "models"
    install_chain(models)
    manifest = json.loads((models / "manifest.json").read_text())
    del manifest["models"]["illum_net"]
    (models / "manifest.json").write_text(json.dumps(manifest))
    image = (bust(48)["albedo"] * 0.6).astype(np.float32)
    out = pipeline.estimate_normals(image, {"registry": Registry(models), "max_side": 48})
    assert out["normal"].shape == (48, 48, 3) and out["prior"].shape == (48, 48, 4)
    with pytest.raises(Exception, match="illum_net"):
        pipeline.decompose(image, {"registry": Registry(models), "max_side": 48})


def test_rescan_picks_up_samples_added_while_training(samples, tmp_path, monkeypatch):
    everything = data.sample_paths([samples])
    calls = []
    monkeypatch.setattr(data, "sample_paths",
                        lambda folders: everything[:2] if not calls else everything)
    real_stream = train.stream

    def stream(args, paths, seed):
        calls.append(len(paths))
        return real_stream(args, paths, seed)

    monkeypatch.setattr(train, "stream", stream)
    _train("illum", samples, tmp_path, "--rescan")
    assert calls == [2, 4]


def test_report_writes_json_and_the_model_card_block(samples, tmp_path, monkeypatch):
    root = tmp_path / "ckpt"
    for net, extra in (("normal", ()), ("normal_nolm", ("--no-landmarks",)),
                       ("diffuse", ()), ("albedo", ()), ("specular", ())):
        assert train.main([net.split("_")[0], "--data", str(samples), "--steps", "1", "--batch",
                           "2", "--size", "32", "--widths", "8", "16", "--ckpt",
                           str(root / net), *extra]) == 0
    models = tmp_path / "models"
    install_chain(models)
    monkeypatch.setattr(yale, "DEV_SUBJECTS", ("yaleB01",))
    monkeypatch.setattr(yale, "YALE_VIEWS", yale.YALE_VIEWS[:1])
    card = tmp_path / "MODEL_CARD.md"
    card.write_text(f"# card\n{model_card.CARD_BEGIN}\nold\n{model_card.CARD_END}\ntail\n")
    out = tmp_path / "evaluation.json"
    assert evaluate.main(["report", "--val", str(samples), "--count", "2", "--ckpt-root",
                          str(root), "--models", str(models), "--json", str(out),
                          "--card", str(card)]) == 0
    res = json.loads(out.read_text())
    assert {"checkpoint_normal", "checkpoint_normal_nolm", "checkpoint_diffuse",
            "checkpoint_albedo", "checkpoint_specular", "chain", "yale_net",
            "yale_prior", "yale_faces"} <= set(res)
    assert [r["subject"] for r in res["yale_net"]] == ["yaleB01"]  # acceptance left out
    faces = res["yale_faces"][0]
    assert faces["images"] == 64 and faces["as_shot"] <= faces["with_exposure_retries"] <= 64
    text = card.read_text()
    assert "old" not in text and text.endswith("tail\n")
    assert "without landmarks" in text and "Yale B normals, mean, development" in text
    assert "Face Mesh finds the face, yaleB01, all 64 lights" in text
    assert "normal tilt on the face" in text and "Yale B development" in text
    # the normals' error split into one rotation and the rest, on both kinds of face
    whole = res["yale_net"][0]["whole_mask"]
    assert 0.0 <= whole["rotation_deg"] <= 180.0
    assert whole["mean_deg_rotated"] <= whole["mean_deg"] + 0.5
    assert 0.0 <= res["chain"][keys.rotation_key(keys.ROTATION_DEG)] <= 180.0
    assert "normals' error split" in text and "synthetic" in text.split("error split")[1]
    assert "the same at the subject's edge" in text
    assert "acceptance" not in text.split(model_card.CARD_BEGIN)[1]
    assert res["options"] == {} and "runs with the pipeline's defaults." in text
    assert "defaults except `mirror_normals=False`" in model_card.card_markdown(
        {**res, "options": {"mirror_normals": False}})
    assert res["set"] == "development" and "the development set: the choices" in text
    assert "the test set: scored once" in model_card.card_markdown({**res, "set": "test"})


def test_carried_rows_keep_the_command_that_measured_them(tmp_path):
    key = keys.checkpoint_key("normal")
    first = tmp_path / "first.json"
    first.write_text(json.dumps({"command": "report --test", key: {"mean_deg": 9.0}}))
    carried: dict = {}
    report.carry_checkpoint_rows(carried, first)
    assert carried[key] == {"mean_deg": 9.0} and carried["carried_from"][key] == "report --test"
    # carried again from a file that had itself carried it: still the measuring command
    second = tmp_path / "second.json"
    second.write_text(json.dumps({**carried, "command": "report --count 100"}))
    again: dict = {}
    report.carry_checkpoint_rows(again, second)
    assert again["carried_from"][key] == "report --test"
    # a row measured on this machine is not carried
    measured = {key: {"mean_deg": 8.0}}
    report.carry_checkpoint_rows(measured, second)
    assert measured == {key: {"mean_deg": 8.0}}


def test_report_options_are_decompose_options_in_their_types():
    parse = evaluate._decompose_option
    assert parse("mirror_normals=false") == ("mirror_normals", False)
    assert parse("albedo_headroom=0") == ("albedo_headroom", 0.0)
    assert parse("max_side=256") == ("max_side", 256)
    for bad in ("mirror_normals=maybe", "albedo_headroom=lots", "registry=x", "nothing"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse(bad)


def test_flicker_turntable_runs_the_cli_with_and_without_stabilisation(tmp_path, monkeypatch):
    from inference import images, models

    folder = tmp_path / "tt"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for t in range(4):
        gt = bust(64, seed=7)
        rgb = (gt["albedo"] * 0.6 + rng.normal(0, 0.01, (64, 64, 3))).astype(np.float32)
        np.savez(folder / f"frame.{t:04d}.npz", rgb=rgb.astype(np.float16),
                 normal=gt["normal"].astype(np.float16), albedo=gt["albedo"].astype(np.float16),
                 alpha=gt["alpha"].astype(np.float16),
                 roughness=np.full((64, 64), 0.5, np.float16), meta=json.dumps({"frame": t}))
        images.save_exr(folder / f"plate.{t:04d}.exr", rgb, half=False)
    install_chain(tmp_path / "models")
    monkeypatch.setenv("RELIT_MODELS", str(tmp_path / "models"))
    monkeypatch.setattr(models, "_default", None)
    row = flicker.flicker_turntable(folder, strength=0.7, max_side=64,
                                    extra=["--no-photo-detail"])
    assert row["frames"] == 4 and row["decompose_args"] == ["--no-photo-detail"]
    for label in ("per_frame", "stabilised"):
        assert set(flicker.FLICKER_PASSES) <= set(row[label]["flicker"])
        assert np.isfinite(row[label]["normal_mean_deg"])
    # the stand-in DiffuseNet passes the noisy RGB through: stabilising must calm its albedo
    assert row["flicker_reduction_pct"]["albedo"] > 20


def test_direct_albedo_net_ships_as_diffuse_net_and_the_pipeline_uses_it(samples, tmp_path):
    from training import export

    models = tmp_path / "models"
    install_chain(models)
    entry = export.export("albedo", _train("albedo", samples, tmp_path), models, "0.0.1")
    assert entry["name"] == "diffuse_net" and entry["ort_vs_torch_max_abs"] <= 1e-3
    assert entry["outputs"][0]["channels"] == list(pipeline.FEATURES["albedo"])
    image = (bust(48)["albedo"] * 0.6).astype(np.float32)
    passes = pipeline.decompose(image, {"registry": Registry(models), "max_side": 48})
    assert 0 <= passes.albedo.min() and passes.albedo.max() <= 1
    assert np.allclose(passes.diffuse, passes.albedo * passes.diffuse_shading, atol=1e-5)


def test_albedo_diagnostics_bring_the_albedo_to_the_true_level():
    rng = np.random.default_rng(0)
    true = rng.uniform(0.05, 0.4, (8, 8, 3)).astype(np.float32)
    p = Passes(rgb=2.0 * true, alpha=np.ones((8, 8)),
               normal=np.dstack([np.zeros((8, 8, 2)), np.ones((8, 8))]),
               albedo=2.0 * true, roughness=np.full((8, 8), 0.5),
               reflectivity=np.full((8, 8), 0.04))
    mask = np.ones((8, 8), bool)
    d, level = synthetic.albedo_diagnostics(p, {"albedo": true}, mask)
    assert abs(level - 0.5) < 1e-6
    assert np.allclose(d["albedo_level_oracle"].albedo, true, atol=1e-6)
    assert d["true_albedo"].albedo is true and d["true_albedo"].normal is p.normal


def test_sh_level_in_stops():
    sh = np.zeros((9, 3), np.float32)
    sh[0], sh[2] = 1.0, 0.4
    assert abs(synthetic.sh_level_log2(2.0 * sh, sh) - 1.0) < 1e-6
    assert abs(synthetic.sh_level_log2(0.5 * sh, sh) + 1.0) < 1e-6
    assert abs(synthetic.sh_relative_error(2.0 * sh, sh) - 1.0) < 1e-6


# ---------------------------------------------------------------- the real-face relight protocol

from training import yale_relight  # noqa: E402


def test_yale_light_direction_follows_the_readme():
    # a positive azimuth puts the light on the subject's right: the image's left (-X)
    assert yale_relight.light_direction("P00A+000E+00") == pytest.approx([0, 0, 1])
    left = yale_relight.light_direction("P00A+050E+00")
    assert left[0] < -0.7 and left[2] > 0.6
    up = yale_relight.light_direction("P00A+000E+45")
    assert up[1] == pytest.approx(np.sqrt(0.5), abs=1e-6)


def test_si_psnr_fits_the_light_power():
    rng = np.random.default_rng(0)
    target = rng.uniform(0, 200, (20, 30)).astype(np.float32)
    mask = np.ones(target.shape, bool)
    assert yale_relight.si_psnr(target / 7.0, target, mask) > 100
    assert yale_relight.si_psnr(np.zeros_like(target), target, mask) < 20


def test_yale_relight_through_the_cli_orders_its_variants():
    """One development subject, two relights, through decompose as a user runs it: the oracle
    beats the chain, which beats the unchanged photo, and every variant is scored."""
    row = yale_relight.evaluate_subject("yaleB01", targets=("P00A+050E+00", "P00A-050E+00"),
                                        refine=False)
    m = row["mean"]
    assert row["relights"] == 2 and row["models"]["normal_net"]
    assert {"photo", "flat", "prior", "chain", "physics", "reference_albedo", "oracle",
            "render_sun"} <= set(m)
    assert m["oracle"] > m["chain"] > m["photo"] + 1.0
    assert m["render_sun"] > m["photo"] + 1.0  # the matte covers the face on a tight crop
    assert m["render_sun_diffuse"] > m["photo"] + 1.0 and m["render_sun_diffuse"] != m["render_sun"]
    assert 0 < row["normal_mean_deg"] < 30
    # the head pose known: the chain's normals turned onto the reference lose angular error
    assert 0 < row["normal_rotation_deg"] < 30
    assert row["normal_mean_deg_rotated"] <= row["normal_mean_deg"]
    assert np.isfinite(m["posed_chain"]) and m["posed_chain"] > m["photo"]
    table = yale_relight.card_table([row], {"development": ["yaleB01"]})
    assert "the chain" in table and "dB" in table and "the same split" in table


def test_yale_relight_refines_at_the_strength_asked_for():
    """``--refine-strength`` reaches RenderNet: none of its correction is the sun render."""
    if not yale_relight._refiner_installed():
        pytest.skip("render_net is not installed")
    row = yale_relight.evaluate_subject("yaleB01", targets=("P00A+050E+00",), refine=True,
                                        refine_options={"refine_strength": 0.0})
    assert row["refine_options"] == {"refine_strength": 0.0}
    assert row["mean"]["render_sun_refined"] == pytest.approx(row["mean"]["render_sun"],
                                                              abs=0.01)
