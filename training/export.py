"""``python -m training.export NET --ckpt FILE [--models DIR] --version V``: ONNX export and
its manifest entry, for NET in normal, illum, diffuse, albedo, specular, render.

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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from inference import pipeline

from . import nets, train

MODELS = Path(__file__).resolve().parents[1] / "models"
OPSET = 17
TOLERANCE = 1e-3


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


def load_checkpoint(net: str, ckpt: Path):
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
    height, width = 3 * model.stride, 5 * model.stride
    inputs = {name: torch.rand(1, count, height, width, generator=gen) * 2 - 1
              for name, count in channels.items()}
    blob = to_onnx(model, tuple(inputs.values()), inputs, outputs)
    diff = check_against_torch(model, blob, inputs)
    if diff > TOLERANCE:
        raise SystemExit(f"ONNX Runtime differs from PyTorch by {diff:.2e} > {TOLERANCE}")
    return blob, diff


@dataclass(frozen=True)
class Port:
    """One input or output of an exported net, as the manifest lists it."""

    name: str
    channels: tuple[str, ...]
    normalisation: str = "none"
    layout: str = "NCHW"

    def entry(self) -> dict:
        return {"name": self.name, "layout": self.layout, "channels": list(self.channels),
                "normalisation": self.normalisation}


def _f(*groups: str) -> tuple[str, ...]:
    """The pipeline's channel names of feature ``groups``, in order."""
    return tuple(c for g in groups for c in pipeline.FEATURES[g])


RGB = Port("rgb", _f("rgb"), "srgb")
NORMAL, ALBEDO, SHADING = Port("normal", _f("normal")), Port("albedo", _f("albedo")), \
    Port("shading", _f("shading"))
SPECULAR = Port("specular", _f("specular"))

CAMERA_PRIOR_AUX = Port("aux", (*_f("landmarks", "prior_camera"), "prior_mask", *_f("alpha")))
"""NormalNet's face features when it was trained on the camera-space prior (--camera-prior)."""

EXPORTS: dict[str, tuple[str, tuple[Port, ...], Port]] = {
    # net: (model name, inputs, output)
    "normal": ("normal_net", (RGB, Port("aux", _f("landmarks", "prior", "alpha"))), NORMAL),
    "illum": ("illum_net", (RGB, NORMAL),
              Port("sh", tuple(f"sh{i}" for i in range(27)),
                   "camera-space SH of incident radiance, index k*3+c", "NC")),
    "diffuse": ("diffuse_net", (RGB, SHADING), Port("diffuse", _f("diffuse"))),
    # the direct-albedo alternative ships under DiffuseNet's name when it measures better
    "albedo": ("diffuse_net", (RGB, SHADING), Port("albedo", _f("albedo"))),
    "specular": ("specular_net", (RGB, NORMAL, ALBEDO), SPECULAR),
    "render": ("render_net", (Port("render", _f("render")), NORMAL, ALBEDO, SPECULAR,
                              Port("alpha", _f("alpha")), RGB), Port("refined", _f("refined"))),
}


def export(net: str, ckpt: Path, models_dir: Path = MODELS, version: str = "") -> dict:
    """Export the checkpoint of ``net`` (a key of ``EXPORTS``) as ONNX into ``models_dir``,
    checked against PyTorch, with its manifest entry; returns the entry and the check."""
    if not version:
        raise ValueError("export needs the version the manifest gives the model")
    name, inputs, output = EXPORTS[net]
    model, config = load_checkpoint(net, ckpt)
    if net == "normal" and config.get("camera_prior"):  # trained on the camera-space prior
        inputs = (RGB, CAMERA_PRIOR_AUX)
    blob, diff = _export_checked(model, {p.name: len(p.channels) for p in inputs},
                                 [output.name])
    trained = {"datasets": config.get("data", []), "steps": config.get("step")}
    if net == "normal":
        trained["landmarks"] = config.get("landmarks", True)
        trained["camera_prior"] = bool(config.get("camera_prior", False))
    if "init" in config:  # fine-tuned from an earlier run
        trained["init"] = config["init"]
    entry = {
        "name": name, "version": version,
        "file": f"{name}.onnx", "stride": model.stride,
        "inputs": [p.entry() for p in inputs], "outputs": [output.entry()],
        "training_data": trained, "parameters": nets.parameters(model),
    }
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
    manifest["models"][entry["name"]] = entry
    tmp = manifest_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(tmp, manifest_path)


def main(argv=None) -> int:
    cli = argparse.ArgumentParser(prog="python -m training.export", description=__doc__)
    cli.add_argument("net", choices=tuple(EXPORTS))
    cli.add_argument("--ckpt", required=True)
    cli.add_argument("--models", default=str(MODELS))
    cli.add_argument("--version", required=True, help="the model's version in the manifest")
    args = cli.parse_args(argv)
    entry = export(args.net, Path(args.ckpt), Path(args.models), args.version)
    print(json.dumps({k: entry[k] for k in ("file", "size", "sha256",
                                            "ort_vs_torch_max_abs")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
