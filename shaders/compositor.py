"""The Relit compositor (Blender 5.0 ``scene.compositing_node_group``).

Render Layers (the relit plate, film transparent) → optional edge treatment of the matte
(a feathered erode, for hair and soft edges) → Alpha Over the original plate → Group Output
(the composite). A File Output node writes the AOVs as one multi-layer EXR: the composite, the
relit render, its diffuse and glossy light, and Relit's passes (plate, normal, albedo,
roughness, F0, alpha, height).
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

import bpy

from . import ShaderError, is_relit, tag

TREE_NAME = "Relit Compositor"
# File Output item name -> (source, socket type): "render:<Render Layers output>" or a pass key
AOVS = {
    "Composite": ("composite", "RGBA"),
    "Relit": ("render:Image", "RGBA"),
    "Diffuse Direct": ("render:Diffuse Direct", "RGBA"),
    "Diffuse Indirect": ("render:Diffuse Indirect", "RGBA"),
    "Glossy Direct": ("render:Glossy Direct", "RGBA"),
    "Glossy Indirect": ("render:Glossy Indirect", "RGBA"),
    "Plate": ("rgb", "RGBA"),
    "Normal": ("normal", "VECTOR"),
    "Diffuse Color": ("albedo", "RGBA"),
    "Roughness": ("roughness", "FLOAT"),
    "Reflectivity": ("reflectivity", "FLOAT"),
    "Alpha": ("alpha", "FLOAT"),
    "Height": ("height", "FLOAT"),
}


def _enable_light_passes(scene) -> None:
    layer = scene.view_layers[0]
    for attr in ("use_pass_diffuse_direct", "use_pass_diffuse_indirect",
                 "use_pass_glossy_direct", "use_pass_glossy_indirect"):
        setattr(layer, attr, True)


def _tree(scene):
    tree = scene.compositing_node_group
    if tree is not None and not is_relit(tree, "relit_compositor", 1):
        raise ShaderError(f"the scene already uses compositor '{tree.name}', which Relit did "
                          "not make; remove it from the scene to let Relit build its own")
    if tree is None:
        tree = tag(bpy.data.node_groups.new(TREE_NAME, "CompositorNodeTree"),
                   relit_compositor=1)
        scene.compositing_node_group = tree
    tree.nodes.clear()
    tree.interface.clear()
    tree.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
    return tree


def build_compositor(scene, images: Mapping[str, Any], *, edge: float = 0.0,
                     directory: Optional[str] = None, file_name: str = "relit_",
                     half: bool = True):
    """Build (or rebuild) the Relit compositor of ``scene``.

    ``images`` are the pass images (``bridge.pass_images``; ``rgb`` is the original plate).
    ``edge`` > 0 erodes and feathers the matte by that many pixels. With ``directory`` a File
    Output node writes ``<directory>/<file_name><frame>.exr`` (multi-layer; half or float).
    """
    plate_image = images.get("rgb")
    if plate_image is None:
        raise ShaderError("the compositor needs the original plate (the rgb pass)")
    if edge < 0:
        raise ShaderError(f"edge treatment must be >= 0 pixels, got {edge:g}")
    _enable_light_passes(scene)
    tree = _tree(scene)
    nodes, links = tree.nodes, tree.links
    render = nodes.new("CompositorNodeRLayers")
    render.scene = scene
    render.location = (-600, 200)
    plate = nodes.new("CompositorNodeImage")
    plate.image, plate.location, plate.label = plate_image, (-600, -200), "Plate"
    matte = render.outputs["Alpha"]
    if edge > 0:
        feather = nodes.new("CompositorNodeDilateErode")
        feather.inputs["Type"].default_value = "Feather"
        feather.inputs["Size"].default_value = -int(round(edge))
        feather.location = (-350, 50)
        links.new(matte, feather.inputs["Mask"])
        matte = feather.outputs[0]
    set_alpha = nodes.new("CompositorNodeSetAlpha")
    set_alpha.location = (-150, 200)
    links.new(render.outputs["Image"], set_alpha.inputs["Image"])
    links.new(matte, set_alpha.inputs["Alpha"])
    over = nodes.new("CompositorNodeAlphaOver")
    over.location = (50, 100)
    links.new(plate.outputs["Image"], over.inputs["Background"])
    links.new(set_alpha.outputs["Image"], over.inputs["Foreground"])
    out = nodes.new("NodeGroupOutput")
    out.location = (300, 100)
    links.new(over.outputs["Image"], out.inputs["Image"])
    if directory is not None:
        _file_output(tree, render, over, images, directory, file_name, half)
    return tree


def _decode_normal(tree, output, location):
    decode = tree.nodes.new("ShaderNodeVectorMath")
    decode.operation = "MULTIPLY_ADD"
    decode.location = location
    decode.inputs[1].default_value = (2.0, 2.0, 2.0)
    decode.inputs[2].default_value = (-1.0, -1.0, -1.0)
    tree.links.new(output, decode.inputs[0])
    return decode.outputs["Vector"]


def _file_output(tree, render, over, images, directory, file_name, half):
    node = tree.nodes.new("CompositorNodeOutputFile")
    node.location = (300, -250)
    node.directory, node.file_name = directory, file_name
    node.format.file_format = "OPEN_EXR_MULTILAYER"
    node.format.color_depth = "16" if half else "32"
    node.format.exr_codec = "PIZ"
    row = 0
    for name, (source, socket_type) in AOVS.items():
        if source == "composite":
            output = over.outputs["Image"]
        elif source.startswith("render:"):
            output = render.outputs.get(source[len("render:"):])
        else:
            image = images.get(source)
            output = None
            if image is not None:
                reader = tree.nodes.new("CompositorNodeImage")
                reader.image, reader.label = image, name
                reader.location = (-300, -400 - 120 * row)
                row += 1
                output = reader.outputs["Image"]
                if source == "normal":  # the image holds 0.5 n + 0.5: write raw normals
                    output = _decode_normal(tree, output, (0, -400 - 120 * row))
        if output is None:
            continue
        node.file_output_items.new(socket_type, name)
        tree.links.new(output, node.inputs[name])
    return node
