"""The OpenJD job template and job bundles: `openjd check`, and `openjd run` in chunks on this
machine giving the same outputs as one run of the same commands."""
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from inference import cli, farm
from plate_sequences import plate_sequence, tree_bytes

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "farm" / "relit-sequence.yaml"
OPENJD = Path(sys.executable).parent / "openjd"


def openjd(*args, cwd=None, env=None):
    assert OPENJD.exists(), "openjd-cli is missing: make venv installs requirements/dev.txt"
    return subprocess.run([str(OPENJD), *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_template_validates_and_declares_chunked_steps():
    out = openjd("check", TEMPLATE)
    assert out.returncode == 0, out.stdout + out.stderr
    doc = yaml.safe_load(TEMPLATE.read_text())
    assert doc["specificationVersion"] == "jobtemplate-2023-09"
    assert "TASK_CHUNKING" in doc["extensions"]
    names = {p["name"] for p in doc["parameterDefinitions"]}
    assert {"Plate", "Frames", "ChunkSize", "Models", "Hdri", "LightingFile", "OutputDir",
            "Output", "Runner", "Stabilise", "Warmup"} <= names
    steps = doc["steps"]
    assert [s["name"] for s in steps] == ["Decompose", "Render"]
    assert steps[1]["dependencies"] == [{"dependsOn": "Decompose"}]
    for step in steps:
        (chunk,) = step["parameterSpace"]["taskParameterDefinitions"]
        assert chunk["type"] == "CHUNK[INT]" and chunk["range"] == "{{Param.Frames}}"
        assert chunk["chunks"]["rangeConstraint"] == "CONTIGUOUS"
    # The extension ships the template: the bundle writer copies it.
    assert farm.TEMPLATE == TEMPLATE


def test_a_bundle_runs_in_chunks_with_openjd_and_equals_one_run(chain_dir, tmp_path, capsys):
    """12 stabilised frames in chunks of 4 through `openjd run` of a written bundle (relative
    paths, python runner), against the same commands run once over the whole plate."""
    pattern = plate_sequence(tmp_path / "plates", 12, size=40)
    env = {**os.environ, "RELIT_MODELS": str(chain_dir)}
    code = cli.main(["--quiet", "farm-bundle", pattern, "--bundle", str(tmp_path / "bundle"),
                     "--out", str(tmp_path / "farm"), "--chunk-size", "4", "--runner",
                     "python", "--python", sys.executable, "--models", str(chain_dir),
                     "--render-args=--no-shadows", "--paths", "relative"])
    assert code == 0, capsys.readouterr().err
    bundle = tmp_path / "bundle"
    values = json.loads((bundle / "openjd-parameters.json").read_text())
    assert values["Plate"] == "../plates/plate.####.png" and values["Frames"] == "1-12"
    deadline = yaml.safe_load((bundle / "parameter_values.yaml").read_text())
    assert {v["name"]: v["value"] for v in deadline["parameterValues"]} == values
    assert (bundle / "template.yaml").read_bytes() == TEMPLATE.read_bytes()

    run = openjd("run", "template.yaml", "--step", "Render", "--run-dependencies",
                 "-p", "file://openjd-parameters.json", cwd=bundle, env=env)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "Chunks run: 6" in run.stdout  # 3 decompose + 3 relight tasks
    assert "--frames 5-8" in run.stdout

    one = tmp_path / "one"
    for argv in (["decompose", pattern, "--stabilise", "0.7", "--out", str(one / "passes")],
                 ["relight", str(one / "passes"), "--hdri", "studio", "--rotation", "0.0",
                  "--no-shadows", "--out", str(one / "relight")]):
        done = subprocess.run([sys.executable, "-m", "inference", "--quiet", *argv], cwd=ROOT,
                              env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    farm_files, one_files = tree_bytes(tmp_path / "farm"), tree_bytes(one)
    # passes.exr and lighting.json a frame (a sequence's default), and its relight
    assert farm_files.keys() == one_files.keys() and len(farm_files) == 12 * 3
    for name, data in one_files.items():
        if name.endswith("lighting.json"):  # its meta names the plate as each run spelt it
            a, b = json.loads(data), json.loads(farm_files[name])
            assert a["sh"] == b["sh"] and a["meta"]["stabilised"] == b["meta"]["stabilised"]
        else:
            assert farm_files[name] == data, name


def test_absolute_bundle_lists_job_attachments_and_bad_input_fails_first(tmp_path, capsys):
    pattern = plate_sequence(tmp_path / "plates", 3, size=16, start=1001)
    lights = tmp_path / "lights.json"
    lights.write_text("[]")
    bundle = tmp_path / "b"
    code = cli.main(["--quiet", "farm-bundle", str(tmp_path / "plates" / "plate.1002.png"),
                     "--bundle", str(bundle), "--out", "out", "--frames", "1002-1003",
                     "--lighting", str(lights), "--then", "export"])
    assert code == 0, capsys.readouterr().err
    values = {v["name"]: v["value"] for v in yaml.safe_load(
        (bundle / "parameter_values.yaml").read_text())["parameterValues"]}
    assert values["Plate"] == pattern and values["Output"] == "export"
    assert values["OutputDir"] == os.path.abspath("out") and values["Runner"] == "blender"
    refs = yaml.safe_load((bundle / "asset_references.yaml").read_text())["assetReferences"]
    assert [Path(p).name for p in refs["inputs"]["filenames"]] == [
        "plate.1002.png", "plate.1003.png", "lights.json"]
    for argv, message in (
            (["--frames", "1-5"], "no frames 1-5"),
            (["--lighting", str(tmp_path / "none.json")], "not found"),
            (["--lighting", str(tmp_path / "scene.blend"), "--runner", "python"], "not found"),
            (["--chunk-size", "0"], "chunk size"),
            ([], "exists")):
        code = cli.main(["--quiet", "farm-bundle", pattern, "--bundle", str(bundle),
                         "--out", "out", *argv])
        err = capsys.readouterr().err
        assert code in (2, 4) and message in err and "Traceback" not in err, (argv, err)
    (tmp_path / "scene.blend").write_bytes(b"BLENDER")
    code = cli.main(["--quiet", "farm-bundle", pattern, "--bundle", str(tmp_path / "c"),
                     "--out", "out", "--lighting", str(tmp_path / "scene.blend"),
                     "--runner", "python"])
    assert code == 2 and "blender runner" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()
