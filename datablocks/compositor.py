"""The Relit compositor (Blender 5.0 ``scene.compositing_node_group``).

Render Layers (the relit plate, film transparent, premultiplied) → Alpha Over the original plate
→ Group Output (the composite). With an edge treatment the matte is eroded and feathered (for
hair and soft edges): the render is unpremultiplied, given the treated matte (never more than
the render's own alpha) with Set Alpha's *Replace Alpha*, and premultiplied again, so the edge
is ``colour x matte`` once (Set Alpha's default, *Apply Mask*, would multiply the premultiplied
render by the matte a second time). Without one the render goes over the plate as it is.

``build_compositor`` also sets what the composite needs: a transparent film (the plate shows through
the render's alpha) and the Standard view transform (docs/ARCHITECTURE.md, *Colour*: the plate
outside the matte must come out as shot, which AgX or Filmic would not give).

A File Output node writes the AOVs as one multi-layer EXR named as Blender names passes
(docs/ARCHITECTURE.md, *Multi-layer EXR*: ``<layer>.<pass>.<channel>``), as ``python -m inference
export`` does: ``Composite.Combined`` (the composite), ``ViewLayer.Combined`` (the relit render),
its diffuse and glossy light, and Relit's passes (``ViewLayer.Plate``, ``Normal`` raw X,Y,Z,
``Diffuse Color``, ``Roughness``, ``Reflectivity``, ``Alpha``, ``Height``). ``inference``'s
``Passes.load`` reads the file back. (File Output names a scalar's one channel ``V``.)
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

import bpy

from ..inference.passes import LAYER
from . import BuildError, is_relit, tag

TREE_NAME = "Relit Compositor"
COMPOSITE = "Composite.Combined"   # the composite, as Blender names it in a multi-layer EXR
# File Output item name -> (source, socket type): "render:<Render Layers output>" or a pass key
AOVS = {
    COMPOSITE: ("composite", "RGBA"),
    f"{LAYER}.Combined": ("render:Image", "RGBA"),
    f"{LAYER}.Diffuse Direct": ("render:Diffuse Direct", "RGBA"),
    f"{LAYER}.Diffuse Indirect": ("render:Diffuse Indirect", "RGBA"),
    f"{LAYER}.Glossy Direct": ("render:Glossy Direct", "RGBA"),
    f"{LAYER}.Glossy Indirect": ("render:Glossy Indirect", "RGBA"),
    f"{LAYER}.Plate": ("rgb", "RGBA"),
    f"{LAYER}.Normal": ("normal", "VECTOR"),
    f"{LAYER}.Diffuse Color": ("albedo", "RGBA"),
    f"{LAYER}.Roughness": ("roughness", "FLOAT"),
    f"{LAYER}.Reflectivity": ("reflectivity", "FLOAT"),
    f"{LAYER}.Alpha": ("alpha", "FLOAT"),
    f"{LAYER}.Height": ("height", "FLOAT"),
}


def _enable_light_passes(scene) -> None:
    layer = scene.view_layers[0]
    for attr in ("use_pass_diffuse_direct", "use_pass_diffuse_indirect",
                 "use_pass_glossy_direct", "use_pass_glossy_indirect"):
        setattr(layer, attr, True)


def prepare_scene(scene) -> list[str]:
    """Transparent film and the Standard view transform (no look), which the composite needs;
    returns what was changed, in words, for the artist."""
    changed = []
    if not scene.render.film_transparent:
        scene.render.film_transparent = True
        changed.append("film set to transparent")
    view = scene.view_settings
    if view.view_transform != "Standard" or view.look != "None":
        changed.append(f"view transform {view.view_transform} set to Standard")
        view.view_transform = "Standard"
        view.look = "None"
    return changed


def _tree(scene):
    tree = scene.compositing_node_group
    if tree is not None and not is_relit(tree, "relit_compositor", 1):
        raise BuildError(f"the scene already uses compositor '{tree.name}', which Relit did "
                          "not make; remove it from the scene to let Relit build its own")
    if tree is None:
        tree = tag(bpy.data.node_groups.new(TREE_NAME, "CompositorNodeTree"),
                   relit_compositor=1)
        scene.compositing_node_group = tree
    tree.nodes.clear()
    tree.interface.clear()
    tree.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
    return tree


def _treated_edge(tree, render, edge: float):
    """The render with its matte eroded and feathered by ``edge`` pixels, premultiplied once:
    unpremultiply, replace the alpha by min(feathered, alpha), premultiply."""
    nodes, links = tree.nodes, tree.links
    feather = nodes.new("CompositorNodeDilateErode")
    feather.inputs["Type"].default_value = "Feather"
    feather.inputs["Size"].default_value = -max(1, int(round(edge)))
    feather.location = (-350, 50)
    links.new(render.outputs["Alpha"], feather.inputs["Mask"])
    within = nodes.new("ShaderNodeMath")   # never more than the render's own coverage
    within.operation = "MINIMUM"
    within.location = (-150, 50)
    links.new(feather.outputs[0], within.inputs[0])
    links.new(render.outputs["Alpha"], within.inputs[1])
    straight = nodes.new("CompositorNodePremulKey")
    straight.inputs["Type"].default_value = "To Straight"
    straight.location = (-350, 250)
    links.new(render.outputs["Image"], straight.inputs["Image"])
    set_alpha = nodes.new("CompositorNodeSetAlpha")
    set_alpha.inputs["Type"].default_value = "Replace Alpha"
    set_alpha.location = (-150, 250)
    links.new(straight.outputs["Image"], set_alpha.inputs["Image"])
    links.new(within.outputs[0], set_alpha.inputs["Alpha"])
    premul = nodes.new("CompositorNodePremulKey")
    premul.inputs["Type"].default_value = "To Premultiplied"
    premul.location = (0, 250)
    links.new(set_alpha.outputs["Image"], premul.inputs["Image"])
    return premul.outputs["Image"]


def build_compositor(scene, images: Mapping[str, Any], *, edge: float = 0.0,
                     directory: Optional[str] = None, file_name: str = "relit_",
                     half: bool = True):
    """Build (or rebuild) the Relit compositor of ``scene`` (and ``prepare_scene``).

    ``images`` are the pass images (``image_arrays.pass_images``; ``rgb`` is the original plate).
    ``edge`` > 0 erodes and feathers the matte by that many pixels. With ``directory`` a File
    Output node writes ``<directory>/<file_name><frame>.exr`` (multi-layer; half or float).
    """
    plate_image = images.get("rgb")
    if plate_image is None:
        raise BuildError("the compositor needs the original plate (the rgb pass)")
    if edge < 0:
        raise BuildError(f"edge treatment must be >= 0 pixels, got {edge:g}")
    _enable_light_passes(scene)
    tree = _tree(scene)
    prepare_scene(scene)
    nodes, links = tree.nodes, tree.links
    render = nodes.new("CompositorNodeRLayers")
    render.scene = scene
    render.location = (-600, 200)
    plate = nodes.new("CompositorNodeImage")
    plate.image, plate.location, plate.label = plate_image, (-600, -200), "Plate"
    foreground = _treated_edge(tree, render, edge) if edge > 0 else render.outputs["Image"]
    over = nodes.new("CompositorNodeAlphaOver")
    over.location = (200, 100)
    links.new(plate.outputs["Image"], over.inputs["Background"])
    links.new(foreground, over.inputs["Foreground"])
    out = nodes.new("NodeGroupOutput")
    out.location = (400, 100)
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
