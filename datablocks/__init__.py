"""Builders of Blender data fed by Relit's passes: images, the plate plane and material, light
rigs and worlds. Data API only (no ``bpy.ops``, no ``context.area``), so every builder runs in
``blender --background`` with an explicit scene.

Modules
-------
- ``image_arrays``: numpy arrays (top row first; docs/ARCHITECTURE.md, *Arrays and orientation*) <->
  ``bpy.types.Image``.
- ``plate``: the "Relit Plate" node group, the plate material, the camera-fitted plane and its
  height displacement.
- ``lights``: key/fill/rim area-light rigs, and a key light plus ambient from SH lighting.
- ``world``: HDRI worlds (built-in studio lights or a file) and a world from SH lighting.
- ``compositor``: the Relit compositor (plate over its background, AOVs to a multi-layer EXR).

Ownership
---------
Everything Relit makes carries the custom property ``relit`` (``TAG``) and a key naming what
it is for. Builders look datablocks up by those tags, so a rerun reuses them, and they never
modify a datablock without the tag: a user's material, object, world or image that happens to
share a name is left alone, and Relit makes its own beside it (Blender adds ``.001``).

Objects, collections, plate materials and worlds are looked up in the scene being built, never
file-wide: building in a second scene makes that scene its own plane, lights, "Relit"
collection and world, and leaves the first scene's alone. Pass images are shared by name.
"""
from __future__ import annotations

from ..inference.errors import RelitError

TAG = "relit"
COLLECTION = "Relit"


class BuildError(RelitError, RuntimeError):
    """A scene Relit cannot build into (no camera, bad sizes, missing HDRI...).

    The message is written for the user and can be shown as it is.
    """

    exit_code = 2


def is_relit(idblock, key: str | None = None, value=None) -> bool:
    """Whether a datablock was made by Relit (optionally with ``idblock[key] == value``)."""
    if idblock is None or not idblock.get(TAG):
        return False
    return key is None or idblock.get(key) == value


def find_tagged(collection, key: str, value):
    """The first datablock of a ``bpy.data`` collection that Relit tagged with ``key = value``."""
    for idblock in collection:
        if is_relit(idblock, key, value) and idblock.library is None:
            return idblock
    return None


def tag(idblock, **keys):
    """Mark a datablock as Relit's own, with extra custom properties."""
    idblock[TAG] = 1
    for key, value in keys.items():
        idblock[key] = value
    return idblock


def new_node(tree, kind: str, name: str, location=(0, 0), label: str = ""):
    """A new node of ``kind`` in ``tree``, named ``name`` (and labelled ``label``, default its
    name) at ``location``."""
    node = tree.nodes.new(kind)
    node.name = name
    node.label = label or name
    node.location = location
    return node


def ensure_collection(scene, name: str = COLLECTION, parent=None):
    """Relit's collection ``name`` (tagged) among the children of ``parent`` (default the
    scene's master collection), made and linked there when it has none.

    The lookup is scoped to ``parent``: another scene's "Relit" collection is never linked
    into this one, and a user's collection of the same name is left alone.
    """
    import bpy

    parent = parent if parent is not None else scene.collection
    coll = next((c for c in parent.children
                 if is_relit(c, "relit_collection", name) and c.library is None), None)
    if coll is None:
        coll = tag(bpy.data.collections.new(name), relit_collection=name)
        parent.children.link(coll)
    return coll
