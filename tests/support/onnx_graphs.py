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


def global_linear(in_channels: int, out_features: int, bias) -> onnx.ModelProto:
    """Spatial mean of the input, then a fixed linear map: a vector output such as SH."""
    weights = np.zeros((in_channels, out_features), np.float32)
    nodes = [helper.make_node("ReduceMean", ["input"], ["m"], axes=[2, 3], keepdims=0),
             helper.make_node("MatMul", ["m", "w"], ["mw"]),
             helper.make_node("Add", ["mw", "b"], ["output"])]
    out = helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, out_features])
    return _model(nodes, [_vi("input", in_channels)], [out],
                  [numpy_helper.from_array(weights, "w"),
                   numpy_helper.from_array(np.asarray(bias, np.float32), "b")])


def constant_map(in_channels: int, values) -> onnx.ModelProto:
    """A 1×1 conv with zero weights and a bias: a constant image of ``len(values)`` channels."""
    values = np.asarray(values, np.float32)
    w = np.zeros((len(values), in_channels, 1, 1), np.float32)
    node = helper.make_node("Conv", ["input", "w", "b"], ["output"])
    return _model([node], [_vi("input", in_channels)], [_vi("output", len(values))],
                  [numpy_helper.from_array(w, "w"), numpy_helper.from_array(values, "b")])


def install_chain(models_dir: Path) -> None:
    """Wiring stand-ins for the decomposition chain, so the pipeline runs end to end in tests.

    normal_net returns the face-mesh prior, illum_net a fixed frontal SH, diffuse_net the RGB
    and specular_net constants. They check plumbing, not quality.
    """
    from inference import face, pipeline

    feats = pipeline.FEATURES
    normal_in = [*feats["rgb"], *feats["landmarks"], *feats["prior"], *feats["alpha"]]
    prior_at = normal_in.index("prior_x")
    install(models_dir, "normal_net", channel_slice(len(normal_in), prior_at, prior_at + 3),
            normal_in, feats["normal"], stride=16)
    sh = np.zeros((9, 3), np.float32)
    sh[0], sh[2] = 1.0, 0.5  # ambient plus light from the camera side (+Z, camera space)
    illum_in = [*feats["rgb"], *feats["normal"]]
    install(models_dir, "illum_net", global_linear(len(illum_in), 27, sh.reshape(-1)),
            illum_in, [f"sh{i}" for i in range(27)], stride=16)
    diffuse_in = [*feats["rgb"], *feats["shading"]]
    install(models_dir, "diffuse_net", channel_slice(len(diffuse_in), 0, 3), diffuse_in,
            feats["diffuse"], stride=16)
    spec_in = [*feats["rgb"], *feats["normal"], *feats["albedo"]]
    install(models_dir, "specular_net", constant_map(len(spec_in), [0.45, 0.04]), spec_in,
            feats["specular"], stride=16)
    render_in = [*feats["render"], *feats["normal"], *feats["albedo"], *feats["specular"],
                 *feats["alpha"], *feats["rgb"]]
    install(models_dir, "render_net", channel_slice(len(render_in), 0, 3), render_in,
            ["refined_r", "refined_g", "refined_b"], stride=16)
    assert len(face.LANDMARK_CHANNELS) == len(feats["landmarks"])

