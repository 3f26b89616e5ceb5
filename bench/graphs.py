"""The bench's ONNX network: a compute load with the shape of a decomposition net, random
weights (no trained model needed)."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def conv_stack(channels: int, width: int = 32, depth: int = 3, seed: int = 0) -> onnx.ModelProto:
    """Random 3×3 convs with ReLU, channels → width … → channels, on NCHW float images of any
    size: the weights of layer i are drawn in turn from ``default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    nodes, weights, prev, c_in = [], [], "input", channels
    for i in range(depth):
        last = i == depth - 1
        c_out = channels if last else width
        w = (rng.normal(size=(c_out, c_in, 3, 3)) / np.sqrt(9 * c_in)).astype(np.float32)
        weights.append(numpy_helper.from_array(w, f"w{i}"))
        conv = "output" if last else f"c{i}"
        nodes.append(helper.make_node("Conv", [prev, f"w{i}"], [conv], pads=[1, 1, 1, 1]))
        if not last:
            nodes.append(helper.make_node("Relu", [conv], [f"h{i}"]))
        prev, c_in = conv if last else f"h{i}", c_out
    image = [1, channels, "H", "W"]
    graph = helper.make_graph(
        nodes, "conv_stack",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, image)],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, image)],
        initializer=weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model
