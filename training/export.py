"""``python -m training.export normal|illum|diffuse|specular|render --ckpt FILE [--models DIR]``: ONNX export, manifest.

Opset 17, dynamic H and W. The exported graph is checked against PyTorch on a random input of an
odd size (max abs difference ≤ 1e-3) before it is written, atomically, with its manifest entry
(sha256, size, inputs and outputs by channel name with their normalisation, stride, training
data). Metrics are added by ``training.evaluate``.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch

from inference import pipeline

from . import nets, train

MODELS = Path(__file__).resolve().parents[1] / "models"
OPSET = 17
TOLERANCE = 1e-3


def normal_net_entry(model: nets.NormalNet, file: str, config: dict) -> dict:
    aux = [*pipeline.FEATURES["landmarks"], *pipeline.FEATURES["prior"],
           *pipeline.FEATURES["alpha"]]
    return {
        "name": "normal_net", "version": config.get("version", "0.1.0"), "file": file,
        "stride": model.stride,
        "inputs": [
            {"name": "rgb", "layout": "NCHW", "channels": list(pipeline.FEATURES["rgb"]),
             "normalisation": "srgb"},
            {"name": "aux", "layout": "NCHW", "channels": aux, "normalisation": "none"}],
        "outputs": [{"name": "normal", "layout": "NCHW",
                     "channels": list(pipeline.FEATURES["normal"]), "normalisation": "none"}],
        "training_data": {"datasets": config.get("data", []),
                          "landmarks": config.get("landmarks", True),
                          "steps": config.get("step")},
        "parameters": nets.parameters(model),
    }


def to_onnx(model: torch.nn.Module, example: tuple, names_in, names_out) -> bytes:
    buf = io.BytesIO()
    dynamic = {n: {2: "H", 3: "W"} for n in (*names_in, *names_out)}
    torch.onnx.export(model, example, buf, opset_version=OPSET, input_names=list(names_in),
                      output_names=list(names_out), dynamic_axes=dynamic, dynamo=False)
    return buf.getvalue()


def check_against_torch(model, blob: bytes, inputs: dict) -> float:
    """Max abs difference between ONNX Runtime and PyTorch on ``inputs``."""
    import onnxruntime as ort

    sess = ort.InferenceSession(blob, providers=["CPUExecutionProvider"])
    ours = sess.run(None, {k: v.numpy() for k, v in inputs.items()})[0]
    with torch.no_grad():
        ref = model(*inputs.values()).numpy()
    return float(np.abs(ours - ref).max())


def _load(net: str, ckpt: Path):
    """(model in eval mode, config with the step) from a training checkpoint."""
    state = torch.load(ckpt, map_location="cpu", weights_only=False)
    config = {**state["config"], "step": state["step"]}
    model = train.build(net, config.get("widths"))
    model.load_state_dict(state["model"])
    model.eval()
    return model, config


def _export_checked(model, channels: dict, outputs: list[str]) -> tuple[bytes, float]:
    """ONNX of ``model`` for inputs ``{name: channels}``, checked against PyTorch on a
    non-square size (dynamic axes must hold); raises when they differ by more than 1e-3."""
    gen = torch.Generator().manual_seed(0)
    h, w = 3 * model.stride, 5 * model.stride
    inputs = {n: torch.rand(1, c, h, w, generator=gen) * 2 - 1 for n, c in channels.items()}
    blob = to_onnx(model, tuple(inputs.values()), inputs, outputs)
    diff = check_against_torch(model, blob, inputs)
    if diff > TOLERANCE:
        raise SystemExit(f"ONNX Runtime differs from PyTorch by {diff:.2e} > {TOLERANCE}")
    return blob, diff


def illum_net_entry(model: nets.IllumNet, file: str, config: dict) -> dict:
    return {
        "name": "illum_net", "version": config.get("version", "0.1.0"), "file": file,
        "stride": model.stride,
        "inputs": [
            {"name": "rgb", "layout": "NCHW", "channels": list(pipeline.FEATURES["rgb"]),
             "normalisation": "srgb"},
            {"name": "normal", "layout": "NCHW",
             "channels": list(pipeline.FEATURES["normal"]), "normalisation": "none"}],
        "outputs": [{"name": "sh", "layout": "NC", "channels": [f"sh{i}" for i in range(27)],
                     "normalisation": "camera-space SH of incident radiance, index k*3+c"}],
        "training_data": {"datasets": config.get("data", []), "steps": config.get("step")},
        "parameters": nets.parameters(model),
    }


def export_illum(ckpt: Path, models_dir: Path = MODELS) -> dict:
    model, config = _load("illum", ckpt)
    blob, diff = _export_checked(model, {"rgb": 3, "normal": 3}, ["sh"])
    entry = illum_net_entry(model, "illum_net.onnx", config)
    write_model(models_dir, entry, blob)
    return {**entry, "ort_vs_torch_max_abs": diff}


MAP_NETS = {
    "diffuse": ("diffuse_net", [("rgb", "rgb", "srgb"), ("shading", "shading", "none")],
                ("diffuse", "diffuse")),
    # the direct-albedo alternative ships under DiffuseNet's name when it measures better
    "albedo": ("diffuse_net", [("rgb", "rgb", "srgb"), ("shading", "shading", "none")],
               ("albedo", "albedo")),
    "specular": ("specular_net", [("rgb", "rgb", "srgb"), ("normal", "normal", "none"),
                                  ("albedo", "albedo", "none")], ("specular", "specular")),
    "render": ("render_net", [("render", "render", "none"), ("normal", "normal", "none"),
                              ("albedo", "albedo", "none"), ("specular", "specular", "none"),
                              ("alpha", "alpha", "none"), ("rgb", "rgb", "srgb")],
               ("refined", "refined")),
}


def export_map(net: str, ckpt: Path, models_dir: Path = MODELS) -> dict:
    """DiffuseNet or SpecularNet: named input groups, one map output (see ``MAP_NETS``)."""
    name, groups, (out_name, out_group) = MAP_NETS[net]
    model, config = _load(net, ckpt)
    blob, diff = _export_checked(model, {g: len(pipeline.FEATURES[f]) for g, f, _ in groups},
                                 [out_name])
    entry = {
        "name": name, "version": config.get("version", "0.1.0"), "file": f"{name}.onnx",
        "stride": model.stride,
        "inputs": [{"name": g, "layout": "NCHW", "channels": list(pipeline.FEATURES[f]),
                    "normalisation": norm} for g, f, norm in groups],
        "outputs": [{"name": out_name, "layout": "NCHW",
                     "channels": list(pipeline.FEATURES[out_group]), "normalisation": "none"}],
        "training_data": {"datasets": config.get("data", []), "steps": config.get("step")},
        "parameters": nets.parameters(model),
    }
    write_model(models_dir, entry, blob)
    return {**entry, "ort_vs_torch_max_abs": diff}


def export_normal(ckpt: Path, models_dir: Path = MODELS) -> dict:
    model, config = _load("normal", ckpt)
    blob, diff = _export_checked(model, {"rgb": 3, "aux": nets.NormalNet.AUX}, ["normal"])
    entry = normal_net_entry(model, "normal_net.onnx", config)
    write_model(models_dir, entry, blob)
    return {**entry, "ort_vs_torch_max_abs": diff}


def write_model(models_dir: Path, entry: dict, blob: bytes) -> None:
    """Write the ONNX file and update manifest.json, each atomically."""
    models_dir.mkdir(parents=True, exist_ok=True)
    path = models_dir / entry["file"]
    tmp = path.with_suffix(".onnx.tmp")
    tmp.write_bytes(blob)
    os.replace(tmp, path)
    entry.update(sha256=hashlib.sha256(blob).hexdigest(), size=len(blob))
    manifest_path = models_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {
        "schema": 1, "models": {}}
    old = manifest["models"].get(entry["name"], {})
    if "metrics" in old:
        entry.setdefault("metrics", old["metrics"])
    manifest["models"][entry["name"]] = entry
    tmp = manifest_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(tmp, manifest_path)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.export", description=__doc__)
    p.add_argument("net", choices=("normal", "illum", *MAP_NETS))
    p.add_argument("--ckpt", required=True)
    p.add_argument("--models", default=str(MODELS))
    args = p.parse_args(argv)
    if args.net in MAP_NETS:
        entry = export_map(args.net, Path(args.ckpt), Path(args.models))
    else:
        exporter = export_normal if args.net == "normal" else export_illum
        entry = exporter(Path(args.ckpt), Path(args.models))
    print(json.dumps({k: entry[k] for k in ("file", "size", "sha256",
                                            "ort_vs_torch_max_abs")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
