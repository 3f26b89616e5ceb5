"""Farm jobs from Blender: the bundle operator, the batch command, and the template's Blender
runner (`blender -b --command relit …`) run in chunks by `openjd run`."""
import importlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from inference import images

ROOT = Path(__file__).resolve().parents[2]
OPENJD = Path(sys.executable).parent / "openjd"


def _plate(folder: Path, count: int = 4, size: int = 24, start: int = 1001) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    base = images.resize(rng.random((6, 6, 3)).astype(np.float32), (size, size))
    for f in range(start, start + count):
        images.save_png(folder / f"plate.{f}.png", np.roll(base, f, axis=1) * 0.8 + 0.1)
    return folder / f"plate.{start}.png"


def test_the_extension_ships_the_template(relit):
    farm = importlib.import_module(relit + ".inference.farm")
    assert farm.TEMPLATE.is_file() and "TASK_CHUNKING" in farm.TEMPLATE.read_text()
    assert farm.TEMPLATE.read_bytes() == (ROOT / "farm" / "relit-sequence.yaml").read_bytes()


def test_operator_writes_a_bundle_for_the_current_plate(relit, tmp_path):
    import bpy

    scene = bpy.context.scene
    scene.relit.source_path = ""
    assert not bpy.ops.relit.write_farm_bundle.poll()  # no plate yet
    first = _plate(tmp_path / "plates")
    scene.relit.source_path = str(first)
    scene.relit.hdri, scene.relit.hdri_rotation = "city", 30.0
    assert bpy.ops.relit.write_farm_bundle.poll()
    bundle = tmp_path / "bundle"
    result = bpy.ops.relit.write_farm_bundle(directory=str(bundle), output_dir=str(tmp_path / "o"),
                                             frames="1002-1003", chunk_size=1, then="export")
    assert result == {"FINISHED"}
    values = json.loads((bundle / "openjd-parameters.json").read_text())
    assert values["Plate"] == str(tmp_path / "plates" / "plate.####.png")
    assert (values["Frames"], values["ChunkSize"], values["Output"]) == ("1002-1003", 1, "export")
    assert (values["Hdri"], values["Rotation"], values["Runner"]) == ("city", 30.0, "blender")
    deadline = yaml.safe_load((bundle / "parameter_values.yaml").read_text())
    assert {v["name"]: v["value"] for v in deadline["parameterValues"]} == values
    assert (bundle / "asset_references.yaml").exists()
    # Again without overwrite: refused, the bundle kept; relative paths on request.
    with pytest.raises(RuntimeError, match="exists"):
        bpy.ops.relit.write_farm_bundle(directory=str(bundle), output_dir=str(tmp_path / "o"))
    assert bpy.ops.relit.write_farm_bundle(
        directory=str(bundle), output_dir=str(tmp_path / "o"), relative=True,
        overwrite=True) == {"FINISHED"}
    values = json.loads((bundle / "openjd-parameters.json").read_text())
    assert values["Plate"] == "../plates/plate.####.png" and values["Frames"] == "1001-1004"
    assert not (bundle / "asset_references.yaml").exists()
    scene.relit.source_path = ""


def test_template_runs_relit_in_blender_in_chunks(relit, chain_dir, tmp_path):
    """The batch command writes the bundle; `openjd run` runs its Blender runner (here Blender
    as a Python module behind a stand-in `blender` executable) in two chunks a step."""
    batch = importlib.import_module(relit + ".app.command")
    first = _plate(tmp_path / "plates")
    shim = tmp_path / "blender"
    shim.write_text("#!/usr/bin/env bash\n"
                    '[ "$1 $2 $3" = "-b --command relit" ] || exit 9\n'
                    f'shift 3\nexec "{sys.executable}" "{ROOT / "tools" / "batch.py"}" "$@"\n')
    shim.chmod(0o755)
    bundle, out = tmp_path / "bundle", tmp_path / "out"
    code = batch.run(["--quiet", "farm-bundle", str(first), "--bundle", str(bundle), "--out",
                      str(out), "--chunk-size", "2", "--blender", str(shim), "--models",
                      str(chain_dir), "--render-args=--samples 2 --no-denoise"])
    assert code == 0
    run = subprocess.run([str(OPENJD), "run", "template.yaml", "--step", "Render",
                          "--run-dependencies", "-p", "file://openjd-parameters.json"],
                         cwd=bundle, capture_output=True, text=True, timeout=400)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "Chunks run: 4" in run.stdout
    assert "--command relit relight" in run.stdout and "--frames 1003-1004" in run.stdout
    assert sorted(p.name for p in (out / "passes").iterdir()) == [
        f"plate.{f}" for f in range(1001, 1005)]
    rendered = sorted((out / "relight").iterdir())
    assert [p.name for p in rendered] == [f"plate.{f}.png" for f in range(1001, 1005)]
    assert images.load_image(rendered[0]).shape[:2] == (24, 24)
    # The batch command takes --frames too: only the chunk's frames are rendered.
    assert [Path(p).name for p in batch.expand_sources([str(out / "passes")], "1002")] == [
        "plate.1002"]
