"""Warm start from a shipped ONNX file: its initializers read back into the PyTorch net.

``python -m training.train NET --init models/NET_net.onnx`` (or ``--init models``, which picks
the file of NET) starts a fine-tune from what is on ``main``, with no checkpoint. The export
(``training.export``, opset 17, eval mode) fuses each batch norm into the convolution before it,
so a fused convolution's weight and bias are read back as the convolution's weight and the batch
norm's shift, with a batch norm that is the identity in eval mode. ``calibrate`` then sets its
running statistics to those of the training data, rescaling the scale and shift so that the
eval-mode function does not change: a train-mode step, which normalises by the batch's
statistics, starts from (nearly) the net that was shipped rather than from a net whose every
channel is rescaled to unit variance.

Parameters are matched by name where the export kept it (depthwise weights, linear layers,
``scale``), otherwise by their order in the graph, with every shape, group count, stride and
padding checked. The widths come from the convolutions' shapes. The result is verified: the
net's output on a random input must match ONNX Runtime's on the file to ``TOLERANCE``, or the
load is refused with an ``OnnxInitError`` that names what differs.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

TOLERANCE = 1e-4
"""Max abs difference allowed between the loaded net and ONNX Runtime, relative to the
output's magnitude where that exceeds 1."""

NET_OF_OUTPUT = {"normal": "normal", "sh": "illum", "diffuse": "diffuse", "albedo": "albedo",
                 "specular": "specular", "refined": "render"}
"""The training net behind an exported graph, by the graph's output name (training.export)."""

FILE_OF_NET = {"normal": "normal_net.onnx", "illum": "illum_net.onnx",
               "diffuse": "diffuse_net.onnx", "albedo": "diffuse_net.onnx",
               "specular": "specular_net.onnx", "render": "render_net.onnx"}
"""Where a models folder keeps each net: the albedo net ships under DiffuseNet's name."""


class OnnxInitError(ValueError):
    """The ONNX file cannot start this net: another net, other widths, or weights that do not
    reproduce its output."""


def is_onnx(path: str | Path) -> bool:
    """Whether ``--init`` names an ONNX file or a models folder (one with a manifest.json)."""
    target = Path(path).expanduser()
    return target.suffix == ".onnx" or (target.is_dir() and (target / "manifest.json").exists())


def resolve(path: str | Path, net: str) -> Path:
    file = Path(path).expanduser()
    if file.is_dir():
        file = file / FILE_OF_NET[net]
    if not file.exists():
        raise OnnxInitError(f"--init {file}: no such file")
    return file


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def manifest_entry(path: Path, digest: str) -> dict | None:
    """The manifest entry next to ``path`` that describes this very file (by sha256), if any."""
    manifest = path.parent / "manifest.json"
    if not manifest.exists():
        return None
    try:
        models = json.loads(manifest.read_text()).get("models", {})
    except (ValueError, AttributeError):
        return None
    for entry in models.values():
        if entry.get("file") == path.name and entry.get("sha256") == digest:
            return entry
    return None


# --- the graph ---------------------------------------------------------------------------

@dataclass
class Unit:
    """A parametric node of the graph: a convolution (with the batch norm that may follow it
    unfused) or a fully connected layer, with its tensors by role."""

    kind: str  # "conv" | "linear"
    node: str
    weight: np.ndarray
    weight_name: str
    bias: np.ndarray | None = None
    attrs: dict = field(default_factory=dict)
    norm: dict | None = None  # an unfused BatchNormalization's scale, B, mean, var, epsilon


@dataclass
class Graph:
    path: Path
    sha256: str
    inputs: list[tuple[str, int]]  # (name, channels)
    outputs: list[str]
    units: list[Unit]
    tensors: dict[str, np.ndarray]  # initializers and Constant outputs, by name
    used: set  # names of tensors that a unit took
    ops: set
    entry: dict | None

    @property
    def net(self) -> str | None:
        return NET_OF_OUTPUT.get(self.outputs[0]) if self.outputs else None


def _attrs(node) -> dict:
    from onnx import helper

    return {attribute.name: helper.get_attribute_value(attribute)
            for attribute in node.attribute}


def read(path: str | Path) -> Graph:
    """Parse the ONNX file's inputs, outputs, constants and parametric nodes, in node order."""
    import onnx
    from onnx import numpy_helper

    path = Path(path)
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # a truncated or foreign file
        raise OnnxInitError(f"--init {path}: not a readable ONNX model ({exc})") from None
    onnx_graph = model.graph
    tensors = {initializer.name: numpy_helper.to_array(initializer)
               for initializer in onnx_graph.initializer}
    for node in onnx_graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            tensors[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    for node in onnx_graph.node:  # constants passed through Identity keep their value
        if node.op_type == "Identity" and node.input[0] in tensors:
            tensors[node.output[0]] = tensors[node.input[0]]
    initial = {initializer.name for initializer in onnx_graph.initializer}
    consumers: dict[str, list] = {}
    for node in onnx_graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    units, used = [], set()

    def const(name):
        if name not in tensors:
            raise OnnxInitError(f"--init {path}: node input '{name}' is not a constant; the "
                                f"graph does not hold its weights as initializers")
        used.add(name)
        return tensors[name].astype(np.float32)

    for node in onnx_graph.node:
        if node.op_type == "Conv":
            unit = Unit("conv", node.name, const(node.input[1]), node.input[1],
                        const(node.input[2]) if len(node.input) > 2 and node.input[2] else None,
                        _attrs(node))
            after = consumers.get(node.output[0], [])
            if len(after) == 1 and after[0].op_type == "BatchNormalization":
                bn = after[0]
                unit.norm = {role: const(bn.input[i]) for i, role in
                             enumerate(("scale", "B", "mean", "var"), start=1)}
                unit.norm["epsilon"] = _attrs(bn).get("epsilon", 1e-5)
            units.append(unit)
        elif node.op_type == "Gemm":
            attrs = _attrs(node)
            if (attrs.get("transA", 0) or attrs.get("alpha", 1.0) != 1.0
                    or attrs.get("beta", 1.0) != 1.0):
                raise OnnxInitError(f"--init {path}: Gemm {node.name} has attributes {attrs} "
                                    f"that no nn.Linear exports")
            weight = const(node.input[1])
            units.append(Unit("linear", node.name,
                              weight if attrs.get("transB", 0) else weight.T,
                              node.input[1], const(node.input[2]) if len(node.input) > 2
                              else None))
        elif node.op_type == "MatMul" and node.input[1] in tensors:
            weight = const(node.input[1]).T
            after = consumers.get(node.output[0], [])
            bias = None
            if len(after) == 1 and after[0].op_type == "Add":
                other = [name for name in after[0].input if name != node.output[0]]
                if other and other[0] in tensors:
                    bias = const(other[0])
            units.append(Unit("linear", node.name, weight, node.input[1], bias))
    inputs = [(graph_input.name, graph_input.type.tensor_type.shape.dim[1].dim_value)
              for graph_input in onnx_graph.input if graph_input.name not in initial]
    digest = sha256(path)
    return Graph(path, digest, inputs, [output.name for output in onnx_graph.output], units,
                 tensors, used, {node.op_type for node in onnx_graph.node},
                 manifest_entry(path, digest))


def infer_widths(net: str, graph: Graph) -> list[int]:
    """The ``widths`` of the net from its convolutions' output channels, in node order: a
    ``LightUNet`` has a stem, 4 per encoder block, 4 per decoder block and a head; IllumNet a
    stem and 2 per separable convolution."""
    channels = [unit.weight.shape[0] for unit in graph.units if unit.kind == "conv"]
    if net == "illum":
        if len(channels) < 3 or (len(channels) - 1) % 2:
            raise OnnxInitError(f"--init {graph.path}: {len(channels)} convolutions do not make "
                                f"an IllumNet (a stem and 2 per separable convolution)")
        return [channels[0]] + [channels[2 + 2 * i] for i in range((len(channels) - 1) // 2)]
    if len(channels) < 10 or (len(channels) - 2) % 8:
        raise OnnxInitError(f"--init {graph.path}: {len(channels)} convolutions do not make a "
                            f"U-Net (a stem, a head and 8 per level)")
    return [channels[0]] + [channels[2 + 4 * i] for i in range((len(channels) - 2) // 8)]


# --- the net -----------------------------------------------------------------------------

@dataclass
class Slot:
    """A convolution or linear layer of the torch net in the order its forward runs them, with
    the batch norm that takes its output."""

    kind: str
    name: str
    module: nn.Module
    norm_name: str | None = None
    norm: nn.BatchNorm2d | None = None


def trace(model: nn.Module, inputs: list[torch.Tensor]) -> list[Slot]:
    names = {module: name for name, module in model.named_modules()}
    order, produced = [], {}

    def hook(module, args, output):
        if isinstance(module, nn.BatchNorm2d):
            slot = produced.get(id(args[0]))
            if slot is not None and slot.norm is None:
                slot.norm, slot.norm_name = module, names[module]
                return
            raise OnnxInitError(f"batch norm {names[module]} follows no convolution")
        slot = Slot("conv" if isinstance(module, nn.Conv2d) else "linear", names[module], module)
        order.append(slot)
        produced[id(output)] = slot

    handles = [module.register_forward_hook(hook) for module in model.modules()
               if isinstance(module, (nn.Conv2d, nn.Linear, nn.BatchNorm2d))]
    try:
        with torch.no_grad():
            model.eval()
            model(*inputs)
    finally:
        for handle in handles:
            handle.remove()
    return order


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise OnnxInitError(message)


def load_into(model: nn.Module, graph: Graph, net: str) -> dict:
    """Set ``model``'s parameters and buffers from ``graph``; returns which batch norms were
    rebuilt from a fused convolution (for ``calibrate``). Raises ``OnnxInitError``."""
    where = f"--init {graph.path}"
    stride = getattr(model, "stride", 1)
    probe = [torch.zeros(1, channels, 2 * stride, 2 * stride) for _, channels in graph.inputs]
    try:
        slots = trace(model, probe)
    except RuntimeError as exc:
        raise OnnxInitError(f"{where}: its inputs {graph.inputs} do not fit the {net} net "
                            f"({str(exc).splitlines()[0]})") from None
    kinds = lambda seq: [entry.kind for entry in seq]  # noqa: E731
    _check(kinds(slots) == kinds(graph.units),
           f"{where}: the graph has {kinds(graph.units).count('conv')} convolutions and "
           f"{kinds(graph.units).count('linear')} linear layers, the {net} net "
           f"{kinds(slots).count('conv')} and {kinds(slots).count('linear')}")
    # by name where the export kept it, else by order
    by_name = {unit.weight_name: unit for unit in graph.units}
    pairs, free = {}, [unit for unit in graph.units]
    for slot in slots:
        unit = by_name.get(f"{slot.name}.weight")
        if unit is not None and unit.kind == slot.kind:
            pairs[slot.name] = unit
            free.remove(unit)
    unpaired = iter(free)
    pairs.update({slot.name: next(unpaired) for slot in slots if slot.name not in pairs})
    state = {key: value.clone() for key, value in model.state_dict().items()}
    done, fused = set(), []

    def put(key, value):
        value = torch.from_numpy(np.array(value, dtype=np.float32))
        _check(tuple(state[key].shape) == tuple(value.shape),
               f"{where}: {key} is {tuple(state[key].shape)} in the {net} net, "
               f"{tuple(value.shape)} in the file")
        state[key] = value
        done.add(key)

    for slot in slots:
        unit, module = pairs[slot.name], slot.module
        _check(tuple(module.weight.shape) == unit.weight.shape,
               f"{where}: {slot.name}.weight is {tuple(module.weight.shape)} in the {net} net, "
               f"but the file's {unit.node or unit.kind} ({unit.weight_name}) is "
               f"{unit.weight.shape}: another net or other widths")
        if slot.kind == "conv":
            for attr, ours in (("group", module.groups), ("strides", list(module.stride)),
                               ("dilations", list(module.dilation)),
                               ("pads", list(module.padding) * 2)):
                theirs = unit.attrs.get(attr, 1 if attr == "group" else None)
                _check(theirs is None or (list(theirs) if isinstance(theirs, (list, tuple))
                                          else theirs) == ours,
                       f"{where}: {slot.name} has {attr}={ours}, the file's {unit.node} "
                       f"{theirs}")
        put(f"{slot.name}.weight", unit.weight)
        if module.bias is not None:
            put(f"{slot.name}.bias",
                unit.bias if unit.bias is not None else np.zeros(module.bias.shape))
        if slot.norm is None:
            _check(unit.norm is None, f"{where}: the file has a batch norm after {unit.node}, "
                                      f"the {net} net none after {slot.name}")
            _check(module.bias is not None or unit.bias is None or not np.any(unit.bias),
                   f"{where}: {unit.node} has a bias, {slot.name} has none and no batch norm")
            continue
        norm_name = slot.norm_name
        if unit.norm is not None:  # exported unfused: the batch norm as it was
            put(f"{norm_name}.weight", unit.norm["scale"])
            put(f"{norm_name}.bias", unit.norm["B"])
            put(f"{norm_name}.running_mean", unit.norm["mean"])
            put(f"{norm_name}.running_var", unit.norm["var"])
            continue
        _check(module.bias is None, f"{where}: {slot.name} has a bias before its batch norm")
        # fused: y = W'x + b'. The batch norm becomes the identity plus b' in eval mode
        # (mean 0, var 1, scale sqrt(1 + eps)); calibrate() gives it real statistics.
        channels = slot.norm.num_features
        put(f"{norm_name}.running_mean", np.zeros(channels))
        put(f"{norm_name}.running_var", np.ones(channels))
        put(f"{norm_name}.weight", np.full(channels, np.sqrt(1.0 + slot.norm.eps)))
        put(f"{norm_name}.bias", unit.bias if unit.bias is not None else np.zeros(channels))
        fused.append(norm_name)
    # buffers and anything else: by name, else by a unique shape among the unused constants
    for key, value in state.items():
        if key in done or key.endswith("num_batches_tracked"):
            continue
        if key in graph.tensors:
            put(key, graph.tensors[key])
            continue
        spare = [name for name, tensor in graph.tensors.items()
                 if name not in graph.used and tuple(tensor.shape) == tuple(value.shape)
                 and tensor.dtype.kind == "f"]
        _check(len(spare) == 1, f"{where}: cannot place the {net} net's {key} "
                                f"{tuple(value.shape)}: {len(spare)} constants of that shape")
        put(key, graph.tensors[spare[0]])
        graph.used.add(spare[0])
    model.load_state_dict(state)
    return {"fused_norms": fused, "units": len(slots)}


def verify(model: nn.Module, graph: Graph, tolerance: float = TOLERANCE) -> float:
    """Max abs difference of the net (eval mode) and ONNX Runtime on a random input of an odd
    size; raises when it exceeds ``tolerance`` (times the output's magnitude, where above 1)."""
    import onnxruntime as ort

    stride = getattr(model, "stride", 1)
    gen = torch.Generator().manual_seed(0)
    height, width = 3 * stride, 5 * stride
    inputs = {name: torch.rand(1, channels, height, width, generator=gen) * 2 - 1
              for name, channels in graph.inputs}
    sess = ort.InferenceSession(str(graph.path), providers=["CPUExecutionProvider"])
    theirs = sess.run(None, {name: tensor.numpy() for name, tensor in inputs.items()})[0]
    model.eval()
    with torch.no_grad():
        ours = model(*inputs.values()).numpy()
    _check(ours.shape == theirs.shape, f"--init {graph.path}: the net gives {ours.shape}, "
                                       f"ONNX Runtime {theirs.shape}")
    diff = float(np.abs(ours - theirs).max())
    limit = tolerance * max(1.0, float(np.abs(theirs).max()))
    _check(diff <= limit, f"--init {graph.path}: the weights read back do not reproduce the "
                          f"file: max abs difference {diff:.3g} from ONNX Runtime > {limit:.3g} "
                          f"(another head or architecture than the {type(model).__name__} "
                          f"being trained?)")
    return diff


def calibrate(model: nn.Module, names: list[str], batches) -> int:
    """Set the running statistics of the batch norms ``names`` to the per-batch statistics of
    their inputs over ``batches`` (lists of the net's input tensors), keeping the eval-mode
    function: scale ← gain·sqrt(var + eps), shift ← offset + gain·mean for the eval affine
    gain·z + offset."""
    modules = dict(model.named_modules())
    sums = {name: [0.0, 0.0] for name in names}
    count = 0

    def hook_for(name):
        def hook(module, args, output):
            features = args[0].double()
            sums[name][0] = sums[name][0] + features.mean(dim=(0, 2, 3))
            sums[name][1] = sums[name][1] + features.var(dim=(0, 2, 3), unbiased=False)
        return hook

    handles = [modules[name].register_forward_hook(hook_for(name)) for name in names]
    model.eval()
    try:
        with torch.no_grad():
            for inputs in batches:
                model(*inputs)
                count += 1
    finally:
        for handle in handles:
            handle.remove()
    if not count:
        return 0
    with torch.no_grad():
        for name in names:
            bn = modules[name]
            mean, var = (total / count for total in sums[name])
            gain = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
            offset = bn.bias.double() - bn.running_mean.double() * gain
            bn.running_mean.copy_(mean)
            bn.running_var.copy_(var)
            bn.weight.copy_(gain * torch.sqrt(var + bn.eps))
            bn.bias.copy_(offset + gain * mean)
    return count


def open_for(path: str | Path, net: str) -> tuple[Graph, list[int]]:
    """The graph of ``path`` (a file, or a models folder: the file of ``net``) and its widths,
    refused when it is another net's."""
    graph = read(resolve(path, net))
    theirs = graph.net
    if theirs != net:
        hint = f"; train '{theirs}' to start from it" if theirs else ""
        kind = "an unknown net" if theirs is None else f"the {theirs} net"
        raise OnnxInitError(f"--init {graph.path}: its output is {graph.outputs}, the graph "
                            f"of {kind}, not of the {net} net{hint}")
    return graph, infer_widths(net, graph)


def load(model: nn.Module, graph: Graph, net: str, calibration=None) -> dict:
    """Read ``graph`` into ``model``, calibrate its rebuilt batch norms on ``calibration``
    (an iterable of input lists, optional) and verify it against ONNX Runtime."""
    report = load_into(model, graph, net)
    report["ort_max_abs"] = verify(model, graph)  # refused before any data is read
    report["calibration_batches"] = 0
    if calibration is not None and report["fused_norms"]:
        report["calibration_batches"] = calibrate(model, report["fused_norms"], calibration)
        report["ort_max_abs"] = verify(model, graph)
    return report


def record(graph: Graph, report: dict) -> dict:
    """The warm-start record of a run started from ``graph`` (the config's ``init``)."""
    entry = graph.entry or {}
    trained = entry.get("training_data", {})
    return {"path": str(graph.path.resolve()), "sha256": graph.sha256, "format": "onnx",
            "model": entry.get("name"), "version": entry.get("version"),
            "step": trained.get("steps"), "data": trained.get("datasets"),
            "ort_max_abs": report["ort_max_abs"],
            "calibration_batches": report["calibration_batches"]}
