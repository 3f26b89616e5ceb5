"""Small ONNX graphs built in tests (no trained weights): identity-like convs and fixed heads."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _model(nodes, inputs, outputs, inits=()):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def _vi(name, channels):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, channels, "H", "W"])


def identity_conv(channels: int, kernel: int = 3) -> onnx.ModelProto:
    """A conv whose kernel is a centred delta: returns its input (zero padding inside)."""
    w = np.zeros((channels, channels, kernel, kernel), np.float32)
    for c in range(channels):
        w[c, c, kernel // 2, kernel // 2] = 1.0
    node = helper.make_node("Conv", ["input", "w"], ["output"], pads=[kernel // 2] * 4)
    return _model([node], [_vi("input", channels)], [_vi("output", channels)],
                  [numpy_helper.from_array(w, "w")])


def channel_slice(in_channels: int, start: int, stop: int) -> onnx.ModelProto:
    """Outputs input channels [start, stop): a network that 'predicts' one of its inputs."""
    idx = numpy_helper.from_array(np.arange(start, stop, dtype=np.int64), "idx")
    node = helper.make_node("Gather", ["input", "idx"], ["output"], axis=1)
    return _model([node], [_vi("input", in_channels)], [_vi("output", stop - start)], [idx])


def install(models_dir: Path, name: str, model: onnx.ModelProto, in_channels, out_channels,
            stride: int = 1, extra: dict | None = None) -> Path:
    """Write the model and add it to ``models_dir/manifest.json``."""
    models_dir.mkdir(parents=True, exist_ok=True)
    path = models_dir / f"{name}.onnx"
    path.write_bytes(model.SerializeToString())
    manifest_path = models_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {
        "schema": 1, "models": {}}
    manifest["models"][name] = {
        "name": name, "version": "0.0.0-test", "file": path.name,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "size": path.stat().st_size,
        "stride": stride,
        "inputs": [{"name": "input", "layout": "NCHW", "channels": list(in_channels)}],
        "outputs": [{"name": "output", "layout": "NCHW", "channels": list(out_channels)}],
        **(extra or {}),
    }
    manifest_path.write_text(json.dumps(manifest, indent=2))
    return path
