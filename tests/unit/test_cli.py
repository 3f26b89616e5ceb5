"""python -m inference: commands, exit codes and bad input, each without a traceback."""
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from inference import cli, images
from inference.passes import Passes


ROOT = Path(__file__).resolve().parents[2]


def run(argv, capsys):
    code = cli.main(["--quiet", *argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def gradient(h, w, c=3):
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    planes = [x / max(w - 1, 1), y / max(h - 1, 1), 0.5 + 0 * x, 0.8 + 0 * x][:c]
    return np.dstack(planes).astype(np.float32)


def test_help_lists_commands():
    out = subprocess.run([sys.executable, "-m", "inference", "--help"], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 0
    for command in ("decompose", "relight", "ps", "integrate"):
        assert command in out.stdout


def test_decompose_without_models_names_the_model(tmp_path):
    images.save_png(tmp_path / "a.png", gradient(20, 20))
    env = {**os.environ, "RELIT_MODELS": str(tmp_path / "empty")}
    out = subprocess.run([sys.executable, "-m", "inference", "decompose", str(tmp_path / "a.png"),
                          "--out", str(tmp_path / "out")], cwd=ROOT, env=env,
                         capture_output=True, text=True)
    assert out.returncode == 3
    assert "model not installed: normal_net" in out.stderr
    assert "Traceback" not in out.stderr


def test_the_photo_refinement_switches_reach_the_chain_and_are_recorded(with_chain, tmp_path,
                                                                       capsys):
    images.save_png(tmp_path / "plate.png", gradient(40, 60))
    for i, (extra, detail, shading) in enumerate((
            ((), 0.025, 0.05), (("--no-photo-detail",), 0.0, 0.05),
            (("--no-shading-normals",), 0.025, 0.0))):
        out = tmp_path / f"o{i}"
        code, _ = run(["decompose", str(tmp_path / "plate.png"), "--out", str(out), *extra],
                      capsys)
        assert code == 0
        meta = json.loads((out / "plate" / "lighting.json").read_text())["meta"]
        assert meta["albedo_detail"] == pytest.approx(detail)
        assert meta["shading_normals"] == pytest.approx(shading)


def test_decompose_writes_every_file(with_chain, tmp_path, capsys):
    images.save_png(tmp_path / "plate.png", gradient(40, 60))
    code, _ = run(["decompose", str(tmp_path / "plate.png"), "--out", str(tmp_path / "o")],
                  capsys)
    assert code == 0
    folder = tmp_path / "o" / "plate"
    for name in ("passes.exr", "normal.exr", "albedo.exr", "roughness.exr", "reflectivity.exr",
                 "alpha.exr", "height.exr", "lighting.json", "normal.png", "albedo.png"):
        assert (folder / name).exists(), name
    assert set(images.read_exr_channels(folder / "normal.exr")) == {"R", "G", "B"}
    assert set(images.read_exr_channels(folder / "height.exr")) == {"Y"}
    chans = images.read_exr_channels(folder / "passes.exr")
    assert {"ViewLayer.Normal.X", "ViewLayer.Diffuse Color.R", "ViewLayer.Combined.A",
            "ViewLayer.Roughness.X"} <= set(chans)
    assert len(json.loads((folder / "lighting.json").read_text())["sh"]) == 9
    # A second run refuses to overwrite, and keeps what is there.
    before = (folder / "normal.exr").read_bytes()
    code, err = run(["decompose", str(tmp_path / "plate.png"), "--out", str(tmp_path / "o")],
                    capsys)
    assert code == 4 and "--overwrite" in err
    assert (folder / "normal.exr").read_bytes() == before


def test_warnings_of_a_multi_file_run_name_each_file(with_chain, tmp_path, capsys):
    """Neither gradient holds a face: each file's warning says which file, and the second
    file's is not swallowed as a repeat of the first's."""
    for name in ("a.png", "b.png"):
        images.save_png(tmp_path / name, gradient(40, 60))
    code, err = run(["decompose", str(tmp_path / "a.png"), str(tmp_path / "b.png"), "--out",
                     str(tmp_path / "o")], capsys)
    assert code == 0, err
    for name in ("a.png", "b.png"):
        assert f"relit: warning: {tmp_path / name}: no face found" in err, err
    images.save_png(tmp_path / "c.png", gradient(40, 60))   # one file: as before
    code, err = run(["decompose", str(tmp_path / "c.png"), "--out", str(tmp_path / "p")],
                    capsys)
    assert code == 0 and "relit: warning: no face found" in err, err


def _write_bad_inputs(tmp_path: Path) -> dict:
    (tmp_path / "empty.png").write_bytes(b"")
    images.save_png(tmp_path / "full.png", np.random.default_rng(0).random((64, 64, 3)))
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    (tmp_path / "anim.gif").write_bytes(b"GIF89a....")
    return {"empty.png": "empty", "cut.png": "truncated|decode", "anim.gif": "unsupported",
            "missing.png": "not found"}


def test_bad_files_exit_2_with_one_line(with_chain, tmp_path, capsys):
    for name, message in _write_bad_inputs(tmp_path).items():
        code, err = run(["decompose", str(tmp_path / name), "--out", str(tmp_path / "o")],
                        capsys)
        assert code == 2, (name, err)
        assert err.startswith("relit: error:") and len(err.strip().splitlines()) == 1
        assert any(m in err for m in message.split("|")), err


def test_keep_going_processes_the_rest(with_chain, tmp_path, capsys):
    _write_bad_inputs(tmp_path)
    images.save_png(tmp_path / "good.png", gradient(30, 30))
    code, err = run(["decompose", str(tmp_path / "empty.png"), str(tmp_path / "good.png"),
                     "--out", str(tmp_path / "o"), "--keep-going"], capsys)
    assert code == 1 and "empty.png" in err
    assert (tmp_path / "o" / "good" / "passes.exr").exists()


@pytest.mark.parametrize("kind", ["one_pixel", "grey", "rgba", "sixteen_bit", "nan_exr"])
def test_odd_images_decompose(with_chain, tmp_path, capsys, kind):
    path = tmp_path / f"{kind}.png"
    if kind == "one_pixel":
        images.save_png(path, np.full((1, 1, 3), 0.4, np.float32))
    elif kind == "grey":
        images.save_png(path, gradient(30, 40, 1))
    elif kind == "rgba":
        images.save_png(path, gradient(30, 40, 4))
    elif kind == "sixteen_bit":
        images.save_png(path, gradient(30, 40), bits=16)
    else:
        path = tmp_path / "nan.exr"
        bad = gradient(30, 40)
        bad[3, 3] = np.nan
        bad[4, 4] = np.inf
        images.save_exr(path, bad, half=False)
    code, err = run(["decompose", str(path), "--out", str(tmp_path / "o")], capsys)
    assert code == 0, err
    if kind == "nan_exr":
        assert "warning" in err and "NaN/Inf" in err
    passes = Passes.load(tmp_path / "o" / path.stem)
    assert np.isfinite(passes.normal).all()


@pytest.mark.slow
def test_8k_image_decomposes_in_bounded_memory(chain_dir, tmp_path):
    """An 8K UHD plate runs tiled at internal resolution; peak memory stays a few GB."""
    path = tmp_path / "plate8k.png"
    images.save_png(path, gradient(4320, 7680))
    env = {**os.environ, "RELIT_MODELS": str(chain_dir)}
    code = ("import resource, sys; from inference import cli; rc = cli.main(sys.argv[1:]); "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(rc)")
    out = subprocess.run([sys.executable, "-c", code, "--quiet", "decompose", str(path),
                          "--out", str(tmp_path / "o"), "--no-previews"], cwd=ROOT, env=env,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    peak_gb = int(out.stdout.strip().splitlines()[-1]) / 1024 ** 2
    assert peak_gb < 8.0, peak_gb
    assert images.read_exr_channels(tmp_path / "o" / "plate8k" / "alpha.exr")["Y"].shape == (
        4320, 7680)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss > 0


def test_ps_relight_integrate(tmp_path, capsys, monkeypatch):
    from inference import demo

    gt = demo.bust_passes(64)
    lights = demo.capture_lights(6)
    paths = demo.capture(gt, lights, tmp_path / "cap")
    code, err = run(["ps", *map(str, paths), "--lights", str(tmp_path / "cap" / "lights.json"),
                     "--out", str(tmp_path / "ps")], capsys)
    assert code == 0, err
    passes = Passes.load(tmp_path / "ps")
    assert passes.meta["source"] == "photometric stereo"

    code, err = run(["relight", str(tmp_path / "ps"), "--hdri", "studio", "--rotation", "45",
                     "--out", str(tmp_path / "relit.exr")], capsys)
    assert code == 0, err
    relit = images.load_image(tmp_path / "relit.exr")
    assert relit.shape == (64, 64, 4) and relit[32, 32, :3].max() > 0.01
    code, err = run(["relight", str(tmp_path / "ps"), "--hdri", "studio",
                     "--out", str(tmp_path / "relit.png")], capsys)
    assert code == 0 and images.load_image(tmp_path / "relit.png").shape == (64, 64, 4)
    code, err = run(["relight", str(tmp_path / "ps"), "--hdri", "nowhere",
                     "--out", str(tmp_path / "x.png")], capsys)
    assert code == 2 and "nowhere" in err
    from inference import models

    if models.default_registry().status().get("render_net") == "ok":  # shipped: it refines
        code, err = run(["relight", str(tmp_path / "ps"), "--hdri", "city", "--refine",
                         "--out", str(tmp_path / "refined.png")], capsys)
        assert code == 0, err
        assert images.load_image(tmp_path / "refined.png").shape == (64, 64, 4)
        # none of RenderNet's correction is the plain render, file for file
        code, err = run(["relight", str(tmp_path / "ps"), "--hdri", "city", "--refine",
                         "--refine-strength", "0", "--out", str(tmp_path / "none.exr")], capsys)
        assert code == 0, err
        code, err = run(["relight", str(tmp_path / "ps"), "--hdri", "city",
                         "--out", str(tmp_path / "plain.exr")], capsys)
        assert np.allclose(images.load_image(tmp_path / "none.exr"),
                           images.load_image(tmp_path / "plain.exr"), atol=1e-3)
    for extra, message in ((["--refine-strength", "0.3"], "--refine-strength needs --refine"),
                           (["--refine", "--refine-strength", "2"], "must be from 0 to 1")):
        code, err = run(["relight", str(tmp_path / "ps"), "--hdri", "city", *extra,
                         "--out", str(tmp_path / "z.png")], capsys)
        assert code == 2 and message in err, err
        assert not (tmp_path / "z.png").exists()
    with monkeypatch.context() as m:
        m.setenv("RELIT_MODELS", str(tmp_path / "no_models"))
        code, err = run(["relight", str(tmp_path / "ps"), "--hdri", "city", "--refine",
                         "--out", str(tmp_path / "y.png")], capsys)
    assert code == 3 and "render_net" in err

    code, err = run(["integrate", str(tmp_path / "ps" / "normal.exr"),
                     "--mask", str(tmp_path / "ps" / "alpha.exr"),
                     "--out", str(tmp_path / "h.exr")], capsys)
    assert code == 0, err
    assert images.load_image(tmp_path / "h.exr").shape == (64, 64, 1)


def test_ps_bad_lights(tmp_path, capsys):
    for i in range(3):
        images.save_png(tmp_path / f"i{i}.png", gradient(8, 8))
    (tmp_path / "lights.json").write_text(json.dumps({"i0.png": [0, 0, 1], "i1.png": [1, 0, 1]}))
    code, err = run(["ps", *(str(tmp_path / f"i{i}.png") for i in range(3)), "--lights",
                     str(tmp_path / "lights.json"), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "i2.png" in err


def test_models_command(with_chain, capsys):
    assert cli.main(["models"]) == 0
    assert "normal_net" in capsys.readouterr().out


def _sequence(tmp_path, count=4, size=(36, 48)):
    frames = []
    for f in range(1, count + 1):
        path = tmp_path / f"plate.{f:04d}.png"
        images.save_png(path, gradient(*size) * (0.9 + 0.02 * f))
        frames.append(path)
    return frames


def test_sequence_with_a_bad_frame_stops_or_skips(with_chain, tmp_path, capsys):
    frames = _sequence(tmp_path)
    frames[2].write_bytes(frames[2].read_bytes()[:100])  # frame 3 is cut short
    pattern = str(tmp_path / "plate.####.png")
    code, err = run(["decompose", pattern, "--out", str(tmp_path / "stop")], capsys)
    assert code == 2 and "plate.0003.png" in err
    assert (tmp_path / "stop" / "plate.0002" / "passes.exr").exists()  # earlier frames kept
    assert not (tmp_path / "stop" / "plate.0004").exists()
    code, err = run(["decompose", pattern, "--out", str(tmp_path / "skip"), "--on-error",
                     "skip"], capsys)
    assert code == 1 and "1 of 4 inputs failed" in err
    assert (tmp_path / "skip" / "plate.0004" / "passes.exr").exists()


def test_stabilised_sequence_and_mixed_sizes(with_chain, tmp_path, capsys):
    _sequence(tmp_path, count=3)
    images.save_png(tmp_path / "plate.0004.png", gradient(30, 30))
    code, err = run(["decompose", str(tmp_path / "plate.%04d.png"), "--out",
                     str(tmp_path / "o"), "--stabilise", "0.6"], capsys)
    assert code == 0, err
    assert "stabilisation restarts" in err
    meta = json.loads((tmp_path / "o" / "plate.0002" / "lighting.json").read_text())["meta"]
    assert meta["stabilised"] == 0.6


def test_bad_options_and_clashing_inputs_exit_2_before_any_work(with_chain, tmp_path, capsys):
    images.save_png(tmp_path / "a.png", gradient(20, 20))
    images.save_jpeg(tmp_path / "a.jpg", gradient(20, 20))
    out = tmp_path / "o"
    for extra, message in ((["--max-side", "0"], "max_side"), (["--max-side", "-5"], "max_side"),
                           (["--stabilise", "-0.5"], "strength")):
        code, err = run(["decompose", str(tmp_path / "a.png"), "--out", str(out), *extra],
                        capsys)
        assert code == 2 and message in err, err
    code, err = run(["decompose", str(tmp_path / "a.png"), str(tmp_path / "a.jpg"),
                     "--out", str(out)], capsys)
    assert code == 2 and "would both write" in err, err
    assert not out.exists()  # nothing was started
    code, err = run(["relight", str(tmp_path / "a.png"), "--hdri", "city",
                     "--out", str(tmp_path / "r.tga")], capsys)
    assert code == 2 and "unsupported output format" in err and "decompose" not in err


def test_unwritable_output_keeps_what_exists(with_chain, tmp_path, capsys):
    images.save_png(tmp_path / "a.png", gradient(20, 20))
    blocker = tmp_path / "out"
    blocker.write_text("a file where the output folder should be")
    code, err = run(["decompose", str(tmp_path / "a.png"), "--out", str(blocker)], capsys)
    assert code == 4 and "cannot write" in err
    assert blocker.read_text().startswith("a file")


def test_export_aovs(tmp_path, capsys):
    from inference import demo

    demo.bust_passes(40).save(tmp_path / "p")
    out = tmp_path / "shot.exr"
    code, err = run(["export", str(tmp_path / "p"), "--hdri", "city", "--out", str(out),
                     "--single", "--previews"], capsys)
    assert code == 0, err
    layers = images.read_exr_layers(out)
    for name in ("Combined", "Diffuse Direct", "Glossy Direct", "Plate", "Normal",
                 "Diffuse Color", "Roughness", "Reflectivity", "Alpha", "Height"):
        assert f"ViewLayer.{name}" in layers, name
    combined = layers["ViewLayer.Combined"]
    light = layers["ViewLayer.Diffuse Direct"] + layers["ViewLayer.Glossy Direct"]
    assert np.allclose(combined[..., :3], light, atol=2e-3)  # beauty = diffuse + glossy
    assert (tmp_path / "shot.Glossy_Direct.exr").exists()
    assert (tmp_path / "shot.Normal.png").exists()
    code, err = run(["export", str(tmp_path / "p"), "--hdri", "city", "--out", str(out)],
                    capsys)
    assert code == 4 and "--overwrite" in err
    code, _ = run(["export", str(tmp_path / "p"), "--hdri", "city", "--out", str(out),
                   "--float", "--overwrite"], capsys)
    assert code == 0
    assert images.read_exr_channels(out)["ViewLayer.Combined.R"].dtype == np.float32


def test_demo_decomposes_the_bundled_portrait_and_captures_the_bust(with_chain, tmp_path,
                                                                    capsys):
    from inference import demo

    assert demo.portrait_path().name == "grace_hopper.jpg"
    code, err = run(["demo", "--out", str(tmp_path / "d"), "--res", "64"], capsys)
    assert code == 0, err
    source = images.load_image(demo.portrait_path())
    passes = Passes.load(tmp_path / "d" / "passes")
    assert passes.shape == source.shape[:2] and passes.height is not None
    for name, _ in demo.HDRIS:
        relit = images.load_image(tmp_path / "d" / f"relit_{name}.png")
        assert relit.shape[:2] == source.shape[:2]
    sheet = images.load_image(tmp_path / "d" / "contact_sheet.png")
    assert sheet.shape[1] == 5 * 256 and sheet.shape[0] >= 2 * 256
    assert (tmp_path / "d" / "capture" / "contact_sheet.png").is_file()


def test_demo_keeps_to_a_folder_of_its_own(tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "passes").write_text("someone else's file")
    code, err = run(["demo", "--out", str(mine), "--only", "capture", "--res", "32"], capsys)
    assert code == 4 and "holds other files" in err
    assert (mine / "passes").read_text() == "someone else's file"
    fresh = tmp_path / "fresh"
    for _ in range(2):  # a rerun writes over its own earlier outputs
        code, err = run(["demo", "--out", str(fresh), "--only", "capture", "--res", "32"],
                        capsys)
        assert code == 0, err
    assert json.loads((fresh / "capture" / "summary.json").read_text())["hdris"]


def test_demo_without_models_says_which_is_missing(tmp_path, monkeypatch, capsys):
    from inference import models

    monkeypatch.setenv("RELIT_MODELS", str(tmp_path / "none"))
    models._default = None
    try:
        code, err = run(["demo", "--out", str(tmp_path / "d"), "--only", "portrait"], capsys)
    finally:
        models._default = None
    assert code == 3 and "normal_net" in err


# ---------------------------------------------------------------- checks before any work

def loud(argv, capsys):
    """As ``run``, with progress lines (to show that no work started)."""
    code = cli.main(list(argv))
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def _no_work(err):
    return "decompose 1/" not in err and "%" not in err


def _bust_passes(folder, res=16):
    from inference.demo import bust

    gt = bust(res)
    Passes(rgb=gt["albedo"] * 0.7, alpha=gt["alpha"], normal=gt["normal"], albedo=gt["albedo"],
           roughness=gt["roughness"], reflectivity=gt["reflectivity"]).save(folder,
                                                                           previews=False)
    return folder


def test_outputs_and_lighting_are_refused_before_any_decompose(with_chain, tmp_path, capsys):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    images.save_png(a, gradient(20, 20))
    images.save_png(b, gradient(24, 20))
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    cases = [
        (["decompose", str(a), str(b), "--out", str(blocker)], 4, "blocker is not a folder"),
        (["decompose", str(a), "--out", str(blocker / "deeper")], 4, "not a folder"),
        (["decompose", str(a), "--out", "/proc/relit_out"], 4, "/proc takes no new files"),
        (["relight", str(a), "--hdri", "beach", "--out", str(tmp_path / "r.png")], 2,
         "unknown HDRI name 'beach'"),
        (["relight", str(a), "--hdri", "studio", "--out", "/proc/r.png"], 4,
         "cannot write r.png to /proc"),
        (["export", str(a), "--hdri", "studio", "--out", str(blocker / "x.exr")], 4,
         "not a folder"),
        (["ps", str(a), str(b), "--lights", str(tmp_path / "l.json"), "--out",
          str(blocker)], 4, "not a folder"),
        (["integrate", str(a), "--out", "/proc/h.exr"], 4, "/proc"),
    ]
    for argv, want, message in cases:
        code, err = loud(argv, capsys)
        assert code == want and message in err and _no_work(err), (argv, err)
        assert len(err.strip().splitlines()) == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png", "blocker"]

    # one existing output of two: refused before either is decomposed, the other not made
    (tmp_path / "o" / "b").mkdir(parents=True)
    code, err = loud(["decompose", str(a), str(b), "--out", str(tmp_path / "o")], capsys)
    assert code == 4 and "--overwrite" in err and _no_work(err), err
    assert not (tmp_path / "o" / "a").exists()
    # under --on-error skip the existing one is reported and skipped, the other written
    code, err = run(["decompose", str(a), str(b), "--out", str(tmp_path / "o"), "--on-error",
                     "skip"], capsys)
    assert code == 1 and "o/b exists" in err and "1 of 2 inputs failed" in err, err
    assert (tmp_path / "o" / "a" / "passes.exr").exists()
    assert not any((tmp_path / "o" / "b").iterdir())


@pytest.mark.parametrize("argv,option,value", [
    (["relight", "{face}", "--hdri", "studio", "--rotation", "nan"], "--rotation", "nan"),
    (["relight", "{face}", "--hdri", "studio", "--strength", "inf"], "--strength", "inf"),
    (["relight", "{face}", "--hdri", "studio", "--rotation", "1e999"], "--rotation", "inf"),
    (["export", "{face}", "--rig", "key", "--key-azimuth=-inf"], "--key-azimuth", "-inf"),
    (["relight", "{face}", "--rig", "key", "--key-size", "NaN"], "--key-size", "nan"),
    (["decompose", "{face}", "--stabilise", "nan"], "--stabilise", "nan"),
    (["ps", "{face}", "--lights", "l.json", "--saturation", "inf"], "--saturation", "inf"),
    (["farm-bundle", "{face}", "--bundle", "b", "--rotation", "nan"], "--rotation", "nan"),
])
def test_numbers_that_are_not_finite_are_refused(tmp_path, capsys, argv, option, value):
    argv = [a.format(face=tmp_path / "face") for a in argv]
    code, err = loud([*argv, "--out", str(tmp_path / "out.exr")], capsys)
    assert code == 2 and err.strip().splitlines() == [
        f"relit: error: {option} must be a finite number; got {value}"]
    assert sorted(tmp_path.iterdir()) == []


def test_a_rerun_sweeps_the_temporaries_a_killed_run_left(with_chain, tmp_path, capsys):
    images.save_png(tmp_path / "plate.png", gradient(20, 24))
    out = tmp_path / "o"
    (out / "plate").mkdir(parents=True)
    old = 1_000_000_000
    left = [out / "plate" / ".passes.k3j5h7g9.tmp.exr", out / ".plate.a1b2c3d4.tmp",
            out / ".other.a1b2c3d4.tmp"]
    left[0].write_bytes(b"half an EXR")
    left[1].mkdir(), left[2].mkdir()
    (left[1] / ".normal.zxcvbnm1.tmp.exr").write_bytes(b"x")
    for p in [*left, left[1] / ".normal.zxcvbnm1.tmp.exr"]:
        os.utime(p, (old, old))
    # refused (out/plate exists, no --overwrite), and yet the leftovers are gone
    code, err = run(["decompose", str(tmp_path / "plate.png"), "--out", str(out)], capsys)
    assert code == 4 and "--overwrite" in err, err
    assert "removed 2 stale temporaries" in err and ".passes.k3j5h7g9.tmp.exr" in err
    assert not left[0].exists() and not left[1].exists()
    assert left[2].exists()          # not an output of this run: not Relit's to remove
    code, err = run(["decompose", str(tmp_path / "plate.png"), "--out", str(out),
                     "--overwrite"], capsys)
    assert code == 0 and "removed" not in err, err
    assert (out / "plate" / "passes.exr").exists()
    # relight sweeps its output folder too, and says nothing when there is nothing
    stale = tmp_path / "r" / ".relit.q1w2e3r4.tmp.png"
    stale.parent.mkdir()
    stale.write_bytes(b"x")
    os.utime(stale, (old, old))
    code, err = run(["relight", str(out / "plate"), "--hdri", "studio", "--out",
                     str(tmp_path / "r" / "relit.png")], capsys)
    assert code == 0 and "removed 1 stale temporary" in err and not stale.exists(), err
    code, err = run(["relight", str(out / "plate"), "--hdri", "studio", "--out",
                     str(tmp_path / "r" / "again.png")], capsys)
    assert code == 0 and "removed" not in err


def test_a_sequence_gap_is_named_and_stops_a_strict_run(with_chain, tmp_path, capsys):
    for f in (1, 2, 4, 5):
        images.save_png(tmp_path / f"plate.{f:04d}.png", gradient(20, 24) * (0.9 + 0.02 * f))
    pattern, out = str(tmp_path / "plate.####.png"), tmp_path / "o"
    code, err = loud(["decompose", pattern, "--out", str(out)], capsys)
    assert code == 2 and "has no frame 3 (it holds 1-2,4-5)" in err and _no_work(err), err
    assert not out.exists()
    code, err = run(["decompose", pattern, "--out", str(out), "--on-error", "skip"], capsys)
    assert code == 0 and "relit: warning: plate.####.png has no frame 3" in err, err
    assert sorted(p.name for p in out.iterdir()) == [f"plate.000{f}" for f in (1, 2, 4, 5)]
    # --frames: a gap outside the frames read does not matter
    code, err = run(["decompose", pattern, "--out", str(tmp_path / "chunk"), "--frames", "4-5"],
                    capsys)
    assert code == 0 and "frame 3" not in err, err


def test_unrelated_sizes_say_nothing_about_stabilisation(with_chain, tmp_path, capsys):
    images.save_png(tmp_path / "wide.png", gradient(20, 40))
    images.save_png(tmp_path / "tall.png", gradient(40, 20))
    code, err = loud(["decompose", str(tmp_path / "wide.png"), str(tmp_path / "tall.png"),
                      "--out", str(tmp_path / "o")], capsys)
    assert code == 0 and "decompose 2/2" in err, err
    assert "stabilis" not in err.lower(), err


def test_models_flag_chooses_the_models_folder(chain_dir, tmp_path, capsys, monkeypatch):
    from inference import models

    monkeypatch.setenv("RELIT_MODELS", str(tmp_path / "no_models"))
    models._default = None
    images.save_png(tmp_path / "a.png", gradient(20, 20))
    code, err = run(["decompose", str(tmp_path / "a.png"), "--out", str(tmp_path / "o")],
                    capsys)
    assert code == 3 and "normal_net" in err
    code, err = run(["decompose", str(tmp_path / "a.png"), "--out", str(tmp_path / "o"),
                     "--models", str(chain_dir)], capsys)
    assert code == 0 and (tmp_path / "o" / "a" / "passes.exr").exists(), err
    assert os.environ["RELIT_MODELS"] == str(tmp_path / "no_models")   # restored
    code, err = run(["relight", str(tmp_path / "a.png"), "--hdri", "studio", "--models",
                     str(chain_dir), "--out", str(tmp_path / "r.png")], capsys)
    assert code == 0 and (tmp_path / "r.png").exists(), err
    code, err = loud(["export", str(tmp_path / "a.png"), "--hdri", "studio", "--models",
                      str(tmp_path / "nowhere"), "--out", str(tmp_path / "x.exr")], capsys)
    assert code == 2 and "models folder not found" in err and _no_work(err), err
    assert cli.main(["models", "--models", str(chain_dir)]) == 0
    assert "normal_net" in capsys.readouterr().out
    models._default = None


def test_an_ldr_hdri_is_accepted_with_a_warning(tmp_path, capsys):
    face = _bust_passes(tmp_path / "face")
    sky = tmp_path / "sky.jpg"
    images.save_jpeg(sky, np.full((16, 32, 3), 0.8, np.float32))
    code, err = run(["relight", str(face), "--hdri", str(sky), "--out",
                     str(tmp_path / "r.png")], capsys)
    assert code == 0 and (tmp_path / "r.png").exists(), err
    assert err.strip().splitlines() == [
        "relit: warning: --hdri sky.jpg is a low-dynamic-range image, not HDR: its lights are "
        "clipped at 1.0, so the relight comes out flat and dim; use an equirectangular .exr "
        "or .hdr"]
    code, err = run(["relight", str(face), "--hdri", "studio", "--out",
                     str(tmp_path / "s.png")], capsys)
    assert code == 0 and "warning" not in err, err


def test_write_chooses_the_files_and_a_sequence_gets_one_exr_a_frame(with_chain, tmp_path,
                                                                       capsys):
    _sequence(tmp_path, count=2)
    pattern = str(tmp_path / "plate.####.png")
    names = lambda folder: sorted(p.name for p in folder.iterdir())  # noqa: E731
    code, err = run(["decompose", pattern, "--out", str(tmp_path / "seq")], capsys)
    assert code == 0, err
    assert names(tmp_path / "seq" / "plate.0001") == ["lighting.json", "passes.exr"]
    code, err = run(["decompose", str(tmp_path / "plate.0001.png"), "--out",
                     str(tmp_path / "one")], capsys)
    assert code == 0 and "normal.exr" in names(tmp_path / "one" / "plate.0001"), err
    assert "normal.png" in names(tmp_path / "one" / "plate.0001")
    code, err = run(["decompose", pattern, "--out", str(tmp_path / "chosen"), "--write",
                     "singles,previews"], capsys)
    assert code == 0, err
    chosen = names(tmp_path / "chosen" / "plate.0002")
    assert "passes.exr" not in chosen and {"normal.exr", "normal.png", "source.exr"} <= set(
        chosen)
    assert Passes.load(tmp_path / "chosen" / "plate.0002").normal is not None
    for value, message in (("passes,mattes", "--write takes passes, singles, previews"),
                           ("previews", "previews alone are not a pass folder")):
        code, err = loud(["decompose", pattern, "--out", str(tmp_path / "bad"), "--write",
                          value], capsys)
        assert code == 2 and message in err and _no_work(err), err
    assert not (tmp_path / "bad").exists()
