"""The compositor graph renders headless, and the EXR it writes reads back as expected."""
import numpy as np
import pytest

from inference import images
from inference.demo import bust
from inference.passes import Passes

pytestmark = pytest.mark.blender


def test_compositor_renders_and_writes_aovs(relit, tmp_path):
    import bpy

    scene = bpy.data.scenes.new("compositor test")
    try:
        cam = bpy.data.objects.new("cam", bpy.data.cameras.new("cam"))
        cam.rotation_euler = (np.pi / 2, 0.0, 0.0)
        scene.collection.objects.link(cam)
        scene.camera = cam
        scene.render.engine = "CYCLES"
        scene.cycles.samples = 4
        scene.render.film_transparent = True
        scene.view_settings.view_transform = "Standard"
        settings = scene.relit
        settings.pack_images = True
        gt = bust(40)
        plate = np.full((40, 40, 3), 0.2, np.float32)
        plate[:, :20] = 0.6  # a background with an edge, to see it outside the matte
        passes = Passes(rgb=plate, alpha=gt["alpha"], normal=gt["normal"],
                        albedo=gt["albedo"], roughness=gt["roughness"],
                        reflectivity=gt["reflectivity"], height=gt["height"])
        api = __import__(relit + ".operators.api", fromlist=["api"])
        api.apply_passes(scene, settings, "comp", passes)
        api.set_hdri(scene, settings)
        with bpy.context.temp_override(scene=scene):
            assert bpy.ops.relit.build_compositor(edge=1.0, directory=str(tmp_path)) == {
                "FINISHED"}
        tree = scene.compositing_node_group
        assert tree is not None and tree.get("relit")
        scene.render.filepath = str(tmp_path / "final.png")
        bpy.ops.render.render(write_still=True, scene=scene.name)
        written = sorted(tmp_path.glob("*.exr"))
        assert written, list(tmp_path.iterdir())
        layers = images.read_exr_layers(written[0])
        assert {"Composite", "Relit", "Normal", "Diffuse Color", "Roughness", "Alpha",
                "Glossy Direct", "Diffuse Direct"} <= set(layers)
        inside = gt["alpha"] > 0.5
        assert np.abs(layers["Normal"][inside] - gt["normal"][inside]).max() < 2e-3
        assert np.allclose(layers["Roughness"][..., 0][inside], 0.45, atol=2e-3)
        composite = layers["Composite"][..., :3]
        import cv2

        outside = cv2.dilate(gt["alpha"], np.ones((7, 7), np.uint8)) == 0  # clear of the edge
        assert np.allclose(composite[outside], plate[outside], atol=2e-3)  # plate as shot
        assert np.abs(composite[inside] - plate[inside]).mean() > 0.02  # relit inside
    finally:
        for obj in [o for o in bpy.data.objects if o.get("relit_source") == "comp"]:
            bpy.data.objects.remove(obj)
        bpy.data.scenes.remove(scene)
