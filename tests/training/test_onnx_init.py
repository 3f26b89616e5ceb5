"""--init from a shipped ONNX file: the weights read back reproduce ONNX Runtime, a file that
cannot start the net is refused, and a fine-tune runs from ``models/`` with no checkpoint."""
import copy
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the training environment (make venv-train)")
onnx = pytest.importorskip("onnx", reason="the training environment (make venv-train)")

from training import export, onnx_init, train  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "models"
SHIPPED = json.loads((MODELS / "manifest.json").read_text())["models"]


def _net_of(name: str) -> str:
    return onnx_init.NET_OF_OUTPUT[SHIPPED[name]["outputs"][0]["name"]]


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_each_shipped_model_reads_back_into_its_net(name):
    net = _net_of(name)
    graph, widths = onnx_init.open_for(MODELS / SHIPPED[name]["file"], net)
    assert graph.sha256 == SHIPPED[name]["sha256"] and graph.entry["name"] == name
    model = train.build(net, widths)
    assert sum(p.numel() for p in model.parameters()) == SHIPPED[name]["parameters"]
    report = onnx_init.load(model, graph, net)
    assert report["ort_max_abs"] <= onnx_init.TOLERANCE
    # calibrating the rebuilt batch norms keeps what the net computes in eval mode
    gen = torch.Generator().manual_seed(1)
    batches = [[torch.rand(2, c, 2 * model.stride, 3 * model.stride, generator=gen)
                for _, c in graph.inputs]]
    if report["fused_norms"]:
        assert onnx_init.calibrate(model, report["fused_norms"], batches) == 1
    assert onnx_init.verify(model, graph) <= onnx_init.TOLERANCE


def test_calibration_makes_a_train_mode_step_start_from_the_shipped_net():
    graph, widths = onnx_init.open_for(MODELS, "albedo")
    model = train.build("albedo", widths)
    report = onnx_init.load_into(model, graph, "albedo")
    gen = torch.Generator().manual_seed(0)
    x = [torch.rand(4, 3, 32, 32, generator=gen), torch.rand(4, 3, 32, 32, generator=gen)]
    with torch.no_grad():
        shipped = model.eval()(*x)
        raw = copy.deepcopy(model).train()(*x)  # batch statistics, identity batch norms
        onnx_init.calibrate(model, report["fused_norms"], [x])
        calibrated = model.train()(*x)
    assert float((raw - shipped).abs().max()) > 0.05
    assert float((calibrated - shipped).abs().max()) < 1e-4


def test_a_models_folder_picks_the_nets_file():
    assert onnx_init.is_onnx(MODELS) and onnx_init.is_onnx("elsewhere/x.onnx")
    assert not onnx_init.is_onnx(ROOT / "training")
    assert onnx_init.resolve(MODELS, "albedo") == MODELS / "diffuse_net.onnx"


def _run(shards, ckpt, *extra):
    return ["--data", str(shards), "--steps", "1", "--batch", "2", "--size", "32",
            "--every", "1", "--log-every", "1", "--ckpt", str(ckpt), *extra]


def test_a_file_that_cannot_start_the_net_is_refused(shards, tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes((MODELS / "normal_net.onnx").read_bytes()[:1000])
    with pytest.raises(SystemExit, match="not a readable ONNX model"):
        train.main(["normal", *_run(shards, tmp_path / "a", "--init", str(broken))])
    with pytest.raises(SystemExit, match="the illum net, not of the normal net"):
        train.main(["normal", *_run(shards, tmp_path / "b", "--init",
                                    str(MODELS / "illum_net.onnx"))])
    with pytest.raises(SystemExit, match="train 'albedo'"):  # 0.3.0 ships the albedo net
        train.main(["diffuse", *_run(shards, tmp_path / "c", "--init", str(MODELS))])
    with pytest.raises(SystemExit, match=r"widths are \[16, 32, 64, 128, 128\]"):
        train.main(["normal", *_run(shards, tmp_path / "d", "--widths", "8", "16",
                                    "--init", str(MODELS))])
    with pytest.raises(SystemExit, match="landmarks"):
        train.main(["normal", *_run(shards, tmp_path / "e", "--no-landmarks",
                                    "--init", str(MODELS))])
    # the albedo net's graph passed off as DiffuseNet's: the weights fit, the head does not
    model = onnx.load(str(MODELS / "diffuse_net.onnx"))
    model.graph.output[0].name = "diffuse"
    for node in model.graph.node:
        node.output[:] = ["diffuse" if o == "albedo" else o for o in node.output]
    relabelled = tmp_path / "relabelled.onnx"
    onnx.save(model, str(relabelled))
    with pytest.raises(SystemExit, match="do not reproduce the file: max abs difference"):
        train.main(["diffuse", *_run(shards, tmp_path / "f", "--init", str(relabelled))])
    for k in "abcdef":
        assert not (tmp_path / k).exists()


def test_a_fine_tune_starts_from_the_shipped_file_and_records_it(shards, tmp_path):
    ckpt = tmp_path / "normal"
    source = MODELS / "normal_net.onnx"
    assert train.main(["normal", *_run(shards, ckpt, "--lr", "0", "--calibrate", "2",
                                       "--init", str(source))]) == 0
    state = torch.load(ckpt / "last.pt", weights_only=False)
    init = state["config"]["init"]
    assert init["path"] == str(source.resolve()) and init["format"] == "onnx"
    assert init["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert init["version"] == SHIPPED["normal_net"]["version"]
    assert init["calibration_batches"] == 2 and init["ort_max_abs"] <= onnx_init.TOLERANCE
    assert state["config"]["widths"] == [16, 32, 64, 128, 128]
    depthwise = onnx.numpy_helper.to_array(next(
        t for t in onnx.load(str(source)).graph.initializer
        if t.name == "unet.down.0.0.depthwise.weight"))
    assert np.array_equal(state["model"]["unet.down.0.0.depthwise.weight"].numpy(), depthwise)
    # resumed without --init or --widths, the run keeps its widths and its record
    assert train.main(["normal", *_run(shards, ckpt)[:3], "2", *_run(shards, ckpt)[4:]]) == 0
    resumed = torch.load(ckpt / "last.pt", weights_only=False)
    assert resumed["step"] == 2 and resumed["config"]["init"] == init
    models = tmp_path / "models"
    entry = export.export("normal", ckpt / "last.pt", models, "0.3.1")
    assert entry["training_data"]["init"]["sha256"] == init["sha256"]
    assert entry["ort_vs_torch_max_abs"] <= 1e-3


def test_finetune_script_starts_from_a_models_folder(shards, tmp_path):
    synth = tmp_path / "root"
    synth.mkdir()
    (synth / "v1").symlink_to(shards)
    models = tmp_path / "shipped"  # a copy: the script takes whatever models folder it is given
    models.mkdir()
    for name in ("manifest.json", "illum_net.onnx"):
        shutil.copy(MODELS / name, models / name)
    env = {**os.environ, "PYTHON": sys.executable, "RELIT_SYNTH_ROOT": str(synth),
           "FROM": str(models), "RELIT_CACHE": str(tmp_path / "cache"), "NETS": "illum",
           "MAP_STEPS": "1", "TRAIN_ARGS": "--size 32 --batch 2 --every 1 --calibrate 1"}
    for path in shards.glob("*/*.npz"):  # IllumNet's target
        d = dict(np.load(path))
        np.savez(path, **d, sh=np.full((9, 3), 0.3, np.float32))
    done = subprocess.run(["bash", str(ROOT / "training" / "finetune.sh")], env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    state = torch.load(tmp_path / "cache" / "ckpt" / "next" / "illum" / "last.pt",
                       weights_only=False)
    assert state["step"] == 1
    assert state["config"]["init"]["path"] == str((models / "illum_net.onnx").resolve())
    assert state["config"]["init"]["sha256"] == SHIPPED["illum_net"]["sha256"]
