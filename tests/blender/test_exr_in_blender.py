"""Blender reads Relit's multi-layer EXR with its own naming: layer ViewLayer, one pass each."""
from dataclasses import replace

import numpy as np
import pytest

from inference.demo import bust_passes

pytestmark = pytest.mark.blender


def test_blender_reads_passes_exr(tmp_path):
    import bpy

    passes = replace(bust_passes(32), sh=np.zeros((9, 3), np.float32))
    passes.save(tmp_path, previews=False)
    image = bpy.data.images.load(str(tmp_path / "passes.exr"))
    tree = bpy.data.node_groups.new("relit exr check", "CompositorNodeTree")
    try:
        node = tree.nodes.new("CompositorNodeImage")
        node.image = image  # loads the file
        assert image.type == "MULTILAYER"
        outputs = {o.name for o in node.outputs if o.enabled}
        assert {"Normal", "Diffuse Color", "Roughness", "Reflectivity", "Alpha", "Height"} <= outputs
    finally:
        bpy.data.node_groups.remove(tree)
        bpy.data.images.remove(image)
