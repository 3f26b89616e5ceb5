"""The relight plate: a camera-fitted plane whose material is driven by Relit's passes.

Node group "Relit Plate" (shader)
---------------------------------
Inputs: Albedo (colour), Roughness, F0, Normal (colour: the Non-Color normal image, which holds
``0.5 n + 0.5``; the group decodes it), Alpha, Plate (the source colour), Keep Plate (0/1). Inside:
Albedo -> Base Color; Roughness -> Roughness; F0 / 0.08 -> Specular IOR Level at IOR 1.5
(docs/ARCHITECTURE.md, *The passes*: 0.5 <-> F0 0.04); Normal -> Normal Map (OBJECT space) ->
Normal; the matte goes to Principled Alpha. "Keep original plate outside the matte" mixes in an
Emission (strength 1) of the source plate by the matte, so the background renders exactly as shot::

    t      = Keep Plate * (1 - Alpha)
    alpha  = Alpha + t                (Principled Alpha: the matte, or opaque when keeping)
    output = Mix(fac = 1 - t, Emission(Plate), Principled)

Keep Plate 0 gives the Principled BSDF with the matte as alpha (transparent outside);
Keep Plate 1 gives ``Alpha * Principled + (1 - Alpha) * Emission(Plate)``, opaque.

Why the Normal Map node works in OBJECT space
---------------------------------------------
Relit's normals are camera space: +X image right, +Y image up, +Z toward the viewer. The plane
is built with its local axes exactly so (X = image right, Y = image up, Z = toward the camera:
it is parented to the camera with no rotation), so object space *is* camera space, and an
OBJECT-space normal map gives the true normal whatever the mesh does. A TANGENT-space map would
be read relative to the surface's own frame: flat, that frame equals camera space too, but once
the height displaces the grid, the tangent frame tilts with the relief, and the map (which
already contains that relief) would be applied on top of it: the relief counted twice.

Height
------
Height (image widths, + toward the viewer) displaces the subdivided grid with a Geometry Nodes
modifier "Relit Height" (node group "Relit Displace"): each vertex moves along local +Z by
``height(uv) * Width * Scale``, sampled from the height image with the Image Texture node
(bilinear, exact pixel-centre convention). It is real geometry, so it casts real shadows in
Cycles, EEVEE and Workbench alike and shows in the viewport while lights are moved; editing or
repainting the height image updates it live. ``Scale`` (default 1 = the true relief) is the
artist's control: a modifier input (``set_height_scale``/``height_scale``).

Trimming
--------
Outside the matte the plate is transparent (unless "Keep Plate" is on), yet every ray that
crosses it there still costs an intersection and a shader evaluation. The Geometry Nodes
modifier "Relit Trim" deletes the quads that show none of the matte (face attribute
``relit_matte``, computed from the alpha pass when the plane is built: any pixel of the quad or
of its neighbours above one 8-bit step), so the render is the same and faster (``make bench``
renders a 512² bust at 32 samples). "Keep Plate" turns it off, since the plate then shows
everywhere. The cover is the alpha pass's as built: after repainting the matte beyond it,
rebuild the plane.

Keep the height on: Cycles never samples a reflection below the mesh's own (geometric) normal, so on
a flat card a normal tilted away from the camera loses the light arriving from behind the card, and
renders darker than the true relief, most under a world lit mostly from behind (``interior`` at
308.44°); ``tests/blender/test_scene_builders.py`` (``test_relight_matches_ground_truth``) measures
the flat card and the displaced plate against ``inference.render``. The material also turns Cycles'
bump-map correction off (``plate_material``), and batch renders look at the plate through an
orthographic camera, so that the displaced relief stays registered with the passes pixel for pixel
(``app.batch.batch_scene``).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Optional

import bpy
import numpy as np
from mathutils import Matrix, Vector

from ..inference.passes import Passes
from ..inference.plate_geometry import grid_counts, matte_cover, plane_size, relief
from . import (COLLECTION, BuildError, ensure_collection, find_tagged, image_arrays, is_relit,
               new_node, tag)

GROUP_NAME = "Relit Plate"
GROUP_VERSION = 1
DISPLACE_NAME = "Relit Displace"
DISPLACE_VERSION = 1
MODIFIER_NAME = "Relit Height"
UV_NAME = "UVMap"
F0_PER_LEVEL = 0.08          # Specular IOR Level = F0 / 0.08 at IOR 1.5
DEFAULT_SUBDIVISIONS = 256   # quads on the long side of the grid (at most one per pixel)
PLANE_WIDTH = 1.0            # default frame size of a perspective plane (metres, long side)

# (name, socket type, default, min, max) of the group's inputs, in order.
GROUP_INPUTS = (
    ("Albedo", "NodeSocketColor", (0.8, 0.8, 0.8, 1.0), None, None),
    ("Roughness", "NodeSocketFloat", 0.5, 0.0, 1.0),
    ("F0", "NodeSocketFloat", 0.04, 0.0, 1.0),
    ("Normal", "NodeSocketColor", (0.5, 0.5, 1.0, 1.0), None, None),
    ("Alpha", "NodeSocketFloat", 1.0, 0.0, 1.0),
    ("Plate", "NodeSocketColor", (0.0, 0.0, 0.0, 1.0), None, None),
    ("Keep Plate", "NodeSocketFloat", 0.0, 0.0, 1.0),
)
GROUP_OUTPUTS = (("Shader", "NodeSocketShader"),)

# pass key -> group input it feeds
PASS_SOCKETS = {"albedo": "Albedo", "roughness": "Roughness", "reflectivity": "F0",
                "normal": "Normal", "alpha": "Alpha", "rgb": "Plate"}

DISPLACE_INPUTS = (
    ("Geometry", "NodeSocketGeometry", None, None, None),
    ("Height", "NodeSocketImage", None, None, None),
    ("Scale", "NodeSocketFloat", 1.0, 0.0, 10.0),
    ("Width", "NodeSocketFloat", 1.0, 0.0, 1e6),
)
GEOMETRY_OUTPUTS = (("Geometry", "NodeSocketGeometry"),)

TRIM_NAME = "Relit Trim"       # node group and modifier
TRIM_VERSION = 1
COVER_ATTRIBUTE = "relit_matte"  # face attribute: the quad shows some of the matte
TRIM_INPUTS = (
    ("Geometry", "NodeSocketGeometry", None, None, None),
    ("Keep Plate", "NodeSocketBool", False, None, None),
)


# ------------------------------------------------------------------ node-tree helpers

def _interface_signature(tree) -> list:
    """Sockets of a group interface as (in/out, name, type), inputs first, in order."""
    items = [item for item in tree.interface.items_tree if item.item_type == "SOCKET"]
    return ([(i.in_out, i.name, i.socket_type) for i in items if i.in_out == "INPUT"]
            + [(i.in_out, i.name, i.socket_type) for i in items if i.in_out == "OUTPUT"])


def _wanted_signature(inputs, outputs) -> list:
    return ([("INPUT", name, kind) for name, kind, *_ in inputs]
            + [("OUTPUT", name, kind) for name, kind in outputs])


def _sync_interface(tree, inputs, outputs) -> None:
    """Make the interface exactly ``inputs`` + ``outputs`` while keeping every socket that
    already matches (same side, name and type), so links to it in materials survive."""
    interface = tree.interface
    wanted = _wanted_signature(inputs, outputs)
    kept = {}
    for item in list(interface.items_tree):
        key = (getattr(item, "in_out", None), item.name, getattr(item, "socket_type", None))
        if item.item_type != "SOCKET" or key not in wanted or key in kept:
            interface.remove(item)
        else:
            kept[key] = item
    for in_out, name, kind in wanted:
        if (in_out, name, kind) not in kept:
            kept[(in_out, name, kind)] = interface.new_socket(name, in_out=in_out,
                                                              socket_type=kind)
    # order as wanted; the flattened interface lists the outputs first, then the inputs
    order = [k for k in wanted if k[0] == "OUTPUT"] + [k for k in wanted if k[0] == "INPUT"]
    for position, key in enumerate(order):
        if interface.items_tree[position] != kept[key]:
            interface.move(kept[key], position)
    for name, kind, default, lo, hi in inputs:
        sock = kept[("INPUT", name, kind)]
        if default is not None:
            sock.default_value = default
        if lo is not None:
            sock.min_value, sock.max_value = lo, hi


def _ensure_group(name: str, tree_type: str, version: int, inputs, outputs, build):
    """Relit's node group ``name``: reused when current, rebuilt in place when its interface
    or version is stale (its users keep their links to the sockets that stay), created when
    missing."""
    group = find_tagged(bpy.data.node_groups, "relit_group", name)
    if group is not None and group.bl_idname != tree_type:
        group = None
    if group is None:
        group = tag(bpy.data.node_groups.new(name, tree_type), relit_group=name)
    elif (group.get("relit_version") == version
          and _interface_signature(group) == _wanted_signature(inputs, outputs)):
        return group
    group.nodes.clear()
    _sync_interface(group, inputs, outputs)
    build(group)
    group["relit_version"] = version
    return group


def _math(tree, op: str, name: str, location, a=None, b=None, clamp=False):
    node = new_node(tree, "ShaderNodeMath", name, location)
    node.operation = op
    node.use_clamp = clamp
    if a is not None:
        node.inputs[0].default_value = a
    if b is not None:
        node.inputs[1].default_value = b
    return node


# ------------------------------------------------------------------ "Relit Plate" group

def _build_plate_group(tree) -> None:
    links = tree.links
    gin = new_node(tree, "NodeGroupInput", "Group Input", (-900, 0))
    gout = new_node(tree, "NodeGroupOutput", "Group Output", (700, 0))
    bsdf = new_node(tree, "ShaderNodeBsdfPrincipled", "Principled BSDF", (150, 150))
    bsdf.inputs["IOR"].default_value = 1.5
    bsdf.inputs["Metallic"].default_value = 0.0
    f0 = _math(tree, "DIVIDE", "F0 to Specular IOR Level", (-400, 60), b=F0_PER_LEVEL)
    nmap = new_node(tree, "ShaderNodeNormalMap", "Normal Map", (-400, -120))
    # Object space == camera space on Relit's plane (see the module doc): exact when displaced.
    nmap.space = "OBJECT"
    one_minus = _math(tree, "SUBTRACT", "1 - Alpha", (-650, -360), a=1.0)
    keep = _math(tree, "MULTIPLY", "Keep x (1 - Alpha)", (-400, -360))
    alpha = _math(tree, "ADD", "Alpha or Opaque", (-150, -260), clamp=True)
    fac = _math(tree, "SUBTRACT", "Matte Mix", (150, -360), a=1.0, clamp=True)
    emit = new_node(tree, "ShaderNodeEmission", "Plate Emission", (150, -160))
    emit.inputs["Strength"].default_value = 1.0
    mix = new_node(tree, "ShaderNodeMixShader", "Keep Plate Mix", (450, 0))

    links.new(gin.outputs["Albedo"], bsdf.inputs["Base Color"])
    links.new(gin.outputs["Roughness"], bsdf.inputs["Roughness"])
    links.new(gin.outputs["F0"], f0.inputs[0])
    links.new(f0.outputs[0], bsdf.inputs["Specular IOR Level"])
    links.new(gin.outputs["Normal"], nmap.inputs["Color"])
    links.new(nmap.outputs["Normal"], bsdf.inputs["Normal"])
    links.new(gin.outputs["Alpha"], one_minus.inputs[1])
    links.new(one_minus.outputs[0], keep.inputs[0])
    links.new(gin.outputs["Keep Plate"], keep.inputs[1])
    links.new(gin.outputs["Alpha"], alpha.inputs[0])
    links.new(keep.outputs[0], alpha.inputs[1])
    links.new(alpha.outputs[0], bsdf.inputs["Alpha"])
    links.new(keep.outputs[0], fac.inputs[1])
    links.new(gin.outputs["Plate"], emit.inputs["Color"])
    links.new(fac.outputs[0], mix.inputs[0])
    links.new(emit.outputs[0], mix.inputs[1])
    links.new(bsdf.outputs[0], mix.inputs[2])
    links.new(mix.outputs[0], gout.inputs["Shader"])


def plate_group():
    """The shared shader node group "Relit Plate" (reused; rebuilt in place if stale)."""
    return _ensure_group(GROUP_NAME, "ShaderNodeTree", GROUP_VERSION, GROUP_INPUTS,
                         GROUP_OUTPUTS, _build_plate_group)


# ------------------------------------------------------------------ plate material

def find_material(source: str):
    """Relit's plate material of ``source``, or None."""
    return find_tagged(bpy.data.materials, "relit_source", source)


def _plane_material(plane, source: str):
    """The material to (re)build for ``plane``: its own Relit material of ``source``, else an
    unused one of Relit's, else a new one. A plane never takes over another plane's material,
    so planes of the same source in two scenes keep their own settings."""
    current = plane.data.materials[0] if len(plane.data.materials) else None
    if is_relit(current, "relit_source", source) and current.library is None:
        return current
    unused = next((m for m in bpy.data.materials if m.users == 0 and m.library is None
                   and is_relit(m, "relit_source", source)), None)
    return unused or tag(bpy.data.materials.new(f"Relit {source}"), relit_source=source)


def plate_material(source: str, images: Mapping[str, Any], *, keep_plate: bool = False,
                   interpolation: str = "Linear", material=None):
    """Material "Relit <source>": an Image Texture per pass (UV, ``interpolation`` 'Linear' or
    'Closest', Extend) feeding the "Relit Plate" group into the Material Output.

    ``images`` maps pass keys (``albedo``, ``roughness``, ``reflectivity``, ``normal``,
    ``alpha``, ``rgb``) to Blender images; a missing pass leaves the group's default (grey
    albedo 0.8, roughness 0.5, F0 0.04, flat normal, opaque, black plate). Without an albedo
    the plate colour is used. The material (``material``, else the one found by its tag) is
    rebuilt on rerun; a user's material named alike is never touched.
    """
    if interpolation not in ("Linear", "Closest", "Cubic", "Smart"):
        raise BuildError(f"unknown interpolation '{interpolation}'")
    images = {k: v for k, v in images.items() if v is not None}
    if "albedo" not in images and "rgb" in images:
        images["albedo"] = images["rgb"]
    if material is not None and not is_relit(material, "relit_source", source):
        raise BuildError(f"material '{material.name}' is not Relit's plate of '{source}'")
    mat = material if material is not None else find_material(source)
    if mat is None:
        mat = tag(bpy.data.materials.new(f"Relit {source}"), relit_source=source)
    tree = mat.node_tree
    tree.nodes.clear()
    out = new_node(tree, "ShaderNodeOutputMaterial", "Material Output", (500, 0))
    out.target = "ALL"
    group = new_node(tree, "ShaderNodeGroup", "Relit Plate", (200, 0))
    group.node_tree = plate_group()
    group.inputs["Keep Plate"].default_value = 1.0 if keep_plate else 0.0
    tree.links.new(group.outputs["Shader"], out.inputs["Surface"])
    uv = new_node(tree, "ShaderNodeUVMap", "UV", (-600, 0))
    uv.uv_map = UV_NAME
    for row, (key, socket) in enumerate(PASS_SOCKETS.items()):
        image = images.get(key)
        if image is None:
            continue
        tex = new_node(tree, "ShaderNodeTexImage", f"Relit {socket}", (-300, 300 - 200 * row),
                    label=socket)
        tex.image = image
        tex.interpolation = interpolation
        tex.extension = "EXTEND"
        tex.projection = "FLAT"
        tree.links.new(uv.outputs["UV"], tex.inputs["Vector"])
        tree.links.new(tex.outputs["Color"], group.inputs[socket])
    # EEVEE: dithered transparency keeps correct alpha shadows and depth (blended would not).
    if hasattr(mat, "surface_render_method"):
        mat.surface_render_method = "DITHERED"
    if hasattr(mat, "use_transparent_shadow"):
        mat.use_transparent_shadow = True
    mat.use_backface_culling = False
    # Cycles' bump-map correction (on by default) bends a normal-mapped normal toward the
    # mesh's own and softens diffuse light at grazing angles: meant for small bumps, it darkens
    # the plate, whose normal map is the whole surface (see the module doc, Height).
    cycles = getattr(mat, "cycles", None)
    if cycles is not None and hasattr(cycles, "use_bump_map_correction"):
        cycles.use_bump_map_correction = False
    return mat


def set_keep_plate(material, keep: bool, plane=None) -> None:
    """Toggle "keep original plate outside the matte" on a Relit plate material, and on its
    ``plane``'s trim (the whole plane shows while the plate is kept)."""
    node = material.node_tree.nodes.get("Relit Plate") if material.node_tree else None
    if node is None or not is_relit(material):
        raise BuildError(f"'{material.name}' is not a Relit plate material")
    node.inputs["Keep Plate"].default_value = 1.0 if keep else 0.0
    mod = _nodes_modifier(plane, TRIM_NAME) if plane is not None else None
    if mod is not None:
        mod[_socket_id(mod.node_group, "Keep Plate")] = bool(keep)
        plane.update_tag()


# ------------------------------------------------------------------ camera fitting

@dataclass
class Frame:
    """The camera frame at ``distance`` in camera-local coordinates (metres)."""

    center: tuple[float, float]
    size: tuple[float, float]
    distance: float


def scene_camera(scene, camera=None):
    """``camera`` (default the scene's), checked to be one the plate can be fitted to: raises
    BuildError for none, an object that is not a camera, or a panoramic camera."""
    camera = camera if camera is not None else scene.camera
    if camera is None:
        raise BuildError(f"scene '{scene.name}' has no camera: add a camera (Add > Camera), "
                          f"make it the scene camera, then build the relight plane again")
    if camera.type != "CAMERA":
        raise BuildError(f"'{camera.name}' is not a camera (it is a {camera.type.lower()})")
    if camera.data.type == "PANO":
        raise BuildError(f"camera '{camera.name}' is panoramic: the relight plane needs a "
                          f"perspective or orthographic camera")
    return camera


def _image_size(image_size) -> tuple[int, int]:
    size = tuple(image_size.size) if hasattr(image_size, "size") else tuple(image_size)
    if len(size) != 2 or min(size) < 1:
        raise BuildError(f"image size must be (width, height) in pixels, got {image_size}")
    return int(size[0]), int(size[1])


def camera_frame(scene, camera, distance: float) -> Frame:
    """Centre and size of ``camera``'s frame on the plane ``distance`` in front of it.

    Uses Blender's own ``Camera.view_frame(scene=...)``, which follows the render resolution,
    pixel aspect, sensor fit (AUTO/HORIZONTAL/VERTICAL) and lens shift; a perspective frame
    grows linearly with distance, an orthographic one does not.
    """
    corners = [Vector(c) for c in camera.data.view_frame(scene=scene)]
    xs = [c.x for c in corners]
    ys = [c.y for c in corners]
    if camera.data.type == "PERSP":
        k = distance / -corners[0].z
        xs = [x * k for x in xs]
        ys = [y * k for y in ys]
    return Frame(((min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2),
                 (max(xs) - min(xs), max(ys) - min(ys)), distance)


def _default_distance(scene, camera) -> float:
    data = camera.data
    if data.type == "PERSP":  # the frame's long side is PLANE_WIDTH metres there
        unit = camera_frame(scene, camera, 1.0)
        d = PLANE_WIDTH / max(unit.size)
    else:
        d = 2.0 * data.ortho_scale
    return min(max(d, 4.0 * data.clip_start), 0.5 * data.clip_end)


# ------------------------------------------------------------------ the grid mesh

def fill_grid(mesh, size: tuple[float, float], counts: tuple[int, int]) -> None:
    """(Re)build ``mesh`` as a grid centred on the origin in local XY, normal +Z, with UVs
    (U right, V up) spanning [0, 1]. Built with ``foreach_set``."""
    nx, ny = counts
    w, h = size
    mesh.clear_geometry()
    u = np.linspace(0.0, 1.0, nx + 1)
    v = np.linspace(0.0, 1.0, ny + 1)
    gu, gv = np.meshgrid(u, v)                                # rows bottom -> top
    co = np.stack([(gu - 0.5) * w, (gv - 0.5) * h, np.zeros_like(gu)], -1).reshape(-1, 3)
    i, j = np.meshgrid(np.arange(nx), np.arange(ny))
    base = (j * (nx + 1) + i).ravel()
    quads = np.stack([base, base + 1, base + nx + 2, base + nx + 1], -1)   # CCW seen from +Z
    mesh.vertices.add(len(co))
    mesh.vertices.foreach_set("co", co.astype(np.float32).ravel())
    mesh.loops.add(quads.size)
    mesh.loops.foreach_set("vertex_index", quads.astype(np.int32).ravel())
    mesh.polygons.add(len(quads))
    mesh.polygons.foreach_set("loop_start", np.arange(0, quads.size, 4, dtype=np.int32))
    mesh.update(calc_edges=True)
    uv_layer = mesh.uv_layers.get(UV_NAME) or mesh.uv_layers.new(name=UV_NAME)
    uvs = np.stack([gu.ravel(), gv.ravel()], -1)[quads.ravel()]
    uv_layer.data.foreach_set("uv", uvs.astype(np.float32).ravel())
    if hasattr(mesh, "shade_smooth"):
        mesh.shade_smooth()
    mesh.validate()


# ------------------------------------------------------------------ the plane object

def find_plane(source: str, scene=None):
    """Relit's plane of ``source`` (tag ``relit_source``) in ``scene``, or None; without a
    scene, the first in the file. Another scene's plane is never returned for ``scene``."""
    objects = scene.objects if scene is not None else bpy.data.objects
    return next((o for o in objects if o.type == "MESH" and o.library is None
                 and is_relit(o, "relit_source", source)), None)


def build_plane(scene, camera, image_size, name: str, *, distance: Optional[float] = None,
                subdivisions: int = DEFAULT_SUBDIVISIONS, fit_resolution: bool = True):
    """Create or reuse the camera-facing plane of image ``name``, filling the camera frame.

    ``camera`` is a camera object (None: the scene camera); ``image_size`` is ``(width,
    height)`` in pixels (like ``Image.size``) or an image. The plane is a grid of
    ``grid_counts(..., subdivisions)`` quads with UVs (U right, V up), parented to the
    camera with no rotation (local X = image right, Y = image up, Z = toward the camera) at
    ``distance`` metres in front of it (default: where a perspective frame is 1 m on its
    long side; twice the ortho scale for an orthographic camera), centred on the frame
    (lens shift included). With ``fit_resolution`` the scene's render resolution becomes
    the image size, so the plane fills the frame exactly; otherwise the plane keeps the
    image's aspect and fits inside the frame.

    The object "Relit <name>" is found again by its tag ``relit_source = name``, rebuilt in
    place and linked into the "Relit" collection. Raises BuildError for no camera.
    """
    camera = scene_camera(scene, camera)
    width, height = _image_size(image_size)
    scene.view_layers[0].update()          # a camera moved by a script has a stale matrix
    if fit_resolution:
        scene.render.resolution_x, scene.render.resolution_y = width, height
        scene.render.resolution_percentage = 100
    if distance is None:
        distance = _default_distance(scene, camera)
    data = camera.data
    if not data.clip_start < distance < data.clip_end:
        raise BuildError(f"plane distance {distance:g} m is outside camera '{camera.name}' "
                          f"clipping range ({data.clip_start:g} to {data.clip_end:g} m)")
    frame = camera_frame(scene, camera, distance)
    size = plane_size(frame.size, width, height)
    counts = grid_counts(width, height, subdivisions)

    obj = find_plane(name, scene)
    if obj is None:
        mesh = bpy.data.meshes.new(f"Relit {name}")
        obj = tag(bpy.data.objects.new(f"Relit {name}", mesh), relit_source=name)
    mesh = obj.data
    tag(mesh, relit_source=name)
    fill_grid(mesh, size, counts)
    coll = ensure_collection(scene, COLLECTION)
    if coll.objects.get(obj.name) is None:
        coll.objects.link(obj)
    # Parented with no rotation: object space == camera space. The parent inverse cancels a
    # scaled camera so the plane keeps its size in metres.
    obj.parent = camera
    scale = camera.matrix_world.to_scale()
    obj.matrix_parent_inverse = Matrix.Diagonal((1 / scale.x, 1 / scale.y, 1 / scale.z, 1.0))
    obj.matrix_basis = Matrix.Translation((frame.center[0], frame.center[1], -distance))
    obj["relit_image_size"] = [width, height]
    obj["relit_grid"] = list(counts)
    obj["relit_plane_size"] = [size[0], size[1]]
    obj["relit_distance"] = distance
    return obj


def plane_width(plane) -> float:
    """Width of a Relit plane in its local units (metres)."""
    size = plane.get("relit_plane_size")
    if size is None:
        raise BuildError(f"'{plane.name}' is not a Relit plane")
    return float(size[0])


# ------------------------------------------------------------------ height displacement

def _build_displace_group(tree) -> None:
    links = tree.links
    gin = new_node(tree, "NodeGroupInput", "Group Input", (-800, 0))
    gout = new_node(tree, "NodeGroupOutput", "Group Output", (400, 0))
    uv = new_node(tree, "GeometryNodeInputNamedAttribute", "UV", (-800, -200))
    uv.data_type = "FLOAT_VECTOR"
    uv.inputs["Name"].default_value = UV_NAME
    tex = new_node(tree, "GeometryNodeImageTexture", "Height Image", (-550, -150))
    tex.interpolation = "Linear"
    tex.extension = "EXTEND"
    red = new_node(tree, "FunctionNodeSeparateColor", "Height Value", (-350, -150))
    gain = _math(tree, "MULTIPLY", "Width x Scale", (-350, -350))
    amount = _math(tree, "MULTIPLY", "Displacement", (-150, -200))
    offset = new_node(tree, "ShaderNodeCombineXYZ", "Along Local Z", (50, -200))
    setpos = new_node(tree, "GeometryNodeSetPosition", "Set Position", (200, 0))
    links.new(gin.outputs["Geometry"], setpos.inputs["Geometry"])
    links.new(gin.outputs["Height"], tex.inputs["Image"])
    links.new(uv.outputs["Attribute"], tex.inputs["Vector"])
    links.new(tex.outputs["Color"], red.inputs["Color"])
    links.new(gin.outputs["Scale"], gain.inputs[0])
    links.new(gin.outputs["Width"], gain.inputs[1])
    links.new(red.outputs["Red"], amount.inputs[0])
    links.new(gain.outputs[0], amount.inputs[1])
    links.new(amount.outputs[0], offset.inputs["Z"])
    links.new(offset.outputs["Vector"], setpos.inputs["Offset"])
    links.new(setpos.outputs["Geometry"], gout.inputs["Geometry"])


def displace_group():
    """The Geometry Nodes group "Relit Displace" (reused; rebuilt in place if stale)."""
    return _ensure_group(DISPLACE_NAME, "GeometryNodeTree", DISPLACE_VERSION, DISPLACE_INPUTS,
                         GEOMETRY_OUTPUTS, _build_displace_group)


def _socket_id(group, name: str) -> str:
    return next(item.identifier for item in group.interface.items_tree
                if item.item_type == "SOCKET" and item.in_out == "INPUT" and item.name == name)


def _nodes_modifier(plane, name: str):
    mod = plane.modifiers.get(name)
    return mod if mod is not None and mod.type == "NODES" else None


def height_modifier(plane):
    """The plane's "Relit Height" modifier, or None."""
    return _nodes_modifier(plane, MODIFIER_NAME)


def set_height(plane, image, *, scale: float = 1.0):
    """Displace ``plane`` by a height image (image widths, + toward the camera), or remove the
    displacement when ``image`` is None. World displacement = height x plane width x scale."""
    mod = height_modifier(plane)
    if image is None:
        if mod is not None:
            plane.modifiers.remove(mod)
        return None
    group = displace_group()
    if mod is None:
        mod = plane.modifiers.new(MODIFIER_NAME, "NODES")
    mod.node_group = group
    mod[_socket_id(group, "Height")] = image
    mod[_socket_id(group, "Width")] = plane_width(plane)
    set_height_scale(plane, scale)
    return mod


def set_height_scale(plane, scale: float) -> None:
    """Set the relief scale (1 = the true height) of a displaced plane."""
    mod = height_modifier(plane)
    if mod is None:
        raise BuildError(f"'{plane.name}' has no height displacement")
    mod[_socket_id(mod.node_group, "Scale")] = float(scale)
    plane.update_tag()


def height_scale(plane) -> Optional[float]:
    """The plane's relief scale, or None when it is not displaced."""
    mod = height_modifier(plane)
    return None if mod is None else float(mod[_socket_id(mod.node_group, "Scale")])


def height_scale_path(plane) -> Optional[tuple[Any, str]]:
    """``(modifier, '["Socket_N"]')`` so a panel can draw the Scale input with
    ``layout.prop(mod, path, text="Relief")``."""
    mod = height_modifier(plane)
    if mod is None:
        return None
    return mod, f'["{_socket_id(mod.node_group, "Scale")}"]'


# ------------------------------------------------------------------ trimming

def _build_trim_group(tree) -> None:
    links = tree.links
    gin = new_node(tree, "NodeGroupInput", "Group Input", (-600, 0))
    gout = new_node(tree, "NodeGroupOutput", "Group Output", (400, 0))
    cover = new_node(tree, "GeometryNodeInputNamedAttribute", "Matte Cover", (-600, -200))
    cover.data_type = "BOOLEAN"
    cover.inputs["Name"].default_value = COVER_ATTRIBUTE
    shown = new_node(tree, "FunctionNodeBooleanMath", "Shown", (-350, -150))
    shown.operation = "OR"
    hidden = new_node(tree, "FunctionNodeBooleanMath", "Hidden", (-150, -150))
    hidden.operation = "NOT"
    delete = new_node(tree, "GeometryNodeDeleteGeometry", "Delete Outside Matte", (150, 0))
    delete.domain = "FACE"
    delete.mode = "ALL"
    links.new(cover.outputs["Attribute"], shown.inputs[0])
    links.new(gin.outputs["Keep Plate"], shown.inputs[1])
    links.new(shown.outputs[0], hidden.inputs[0])
    links.new(gin.outputs["Geometry"], delete.inputs["Geometry"])
    links.new(hidden.outputs[0], delete.inputs["Selection"])
    links.new(delete.outputs["Geometry"], gout.inputs["Geometry"])


def trim_group():
    """The Geometry Nodes group "Relit Trim" (reused; rebuilt in place if stale)."""
    return _ensure_group(TRIM_NAME, "GeometryNodeTree", TRIM_VERSION, TRIM_INPUTS,
                         GEOMETRY_OUTPUTS, _build_trim_group)


def set_trim(plane, alpha: Optional[np.ndarray], keep_plate: bool = False):
    """Trim ``plane`` (a Relit grid) to the matte ``alpha`` (H×W, top row first), or remove the
    trim when ``alpha`` is None. Returns the modifier or None."""
    mod = _nodes_modifier(plane, TRIM_NAME)
    if alpha is None:
        if mod is not None:
            plane.modifiers.remove(mod)
        return None
    mesh = plane.data
    counts = tuple(int(c) for c in plane.get("relit_grid", ()))
    if len(counts) != 2 or counts[0] * counts[1] != len(mesh.polygons):
        raise BuildError(f"'{plane.name}' is not a Relit grid")
    attr = mesh.attributes.get(COVER_ATTRIBUTE)
    if attr is None or attr.domain != "FACE" or attr.data_type != "BOOLEAN":
        if attr is not None:
            mesh.attributes.remove(attr)
        attr = mesh.attributes.new(COVER_ATTRIBUTE, "BOOLEAN", "FACE")
    attr.data.foreach_set("value", matte_cover(alpha, counts).ravel())
    group = trim_group()
    if mod is None:
        mod = plane.modifiers.new(TRIM_NAME, "NODES")
    mod.node_group = group
    mod[_socket_id(group, "Keep Plate")] = bool(keep_plate)
    mesh.update()
    return mod


# ------------------------------------------------------------------ everything at once

@dataclass
class Plate:
    """What ``build_plate`` made or reused."""

    plane: Any
    material: Any
    images: dict = field(default_factory=dict)


def build_plate(scene, passes: Passes, name: str, *, camera=None,
                folder: Optional[str] = None, pack: bool = False, keep_plate: bool = False,
                height_scale: float = 1.0, distance: Optional[float] = None,
                subdivisions: int = DEFAULT_SUBDIVISIONS, fit_resolution: bool = True,
                interpolation: str = "Linear") -> Plate:
    """Images, plane, material and displacement of ``passes`` under the name ``name``, all
    reused on rerun. See ``image_arrays.pass_images``, ``build_plane``, ``plate_material``
    and ``set_height``."""
    camera = scene_camera(scene, camera)          # fail before making anything
    arrays = image_arrays.pass_arrays(passes)
    h, w = arrays["normal"].shape[:2]
    if "height" in arrays:
        passes = replace(passes, height=relief(arrays))
    images = image_arrays.pass_images(passes, name, folder=folder, pack=pack)
    plane = build_plane(scene, camera, (w, h), name, distance=distance,
                        subdivisions=subdivisions, fit_resolution=fit_resolution)
    material = plate_material(name, images, keep_plate=keep_plate, interpolation=interpolation,
                              material=_plane_material(plane, name))
    mesh = plane.data
    if len(mesh.materials) == 0:
        mesh.materials.append(material)
    else:
        mesh.materials[0] = material
    set_trim(plane, arrays.get("alpha"), keep_plate)
    set_height(plane, images.get("height"), scale=height_scale)
    return Plate(plane, material, images)
