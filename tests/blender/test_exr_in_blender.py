"""Blender reads Relit's multi-layer EXR with its own naming: layer ViewLayer, one pass each."""
import numpy as np
import pytest

from inference.demo import bust
from inference.passes import Passes

pytestmark = pytest.mark.blender


def test_blender_reads_passes_exr(tmp_path):
    import bpy

    gt = bust(32)
    passes = Passes(rgb=gt["albedo"], alpha=gt["alpha"], normal=gt["normal"],
                    albedo=gt["albedo"], roughness=gt["roughness"],
                    reflectivity=gt["reflectivity"], height=gt["height"],
                    sh=np.zeros((9, 3), np.float32))
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
