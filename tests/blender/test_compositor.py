"""The compositor graph renders headless, sets up the scene it needs, puts the premultiplied
render over the plate exactly once, and writes an AOV EXR named as Blender and
``python -m inference export`` name passes, which inference reads back."""
from dataclasses import replace

import numpy as np
import pytest

from inference import images, render
from inference.aovs import export_aovs
from inference.demo import bust_passes
from inference.passes import Passes
from inference.sources import is_pass_source

pytestmark = pytest.mark.blender

SIZE = 40


@pytest.fixture
def comp_scene(relit):
    """A user's scene as Blender 5.0 makes it: AgX, opaque film (the operator must fix both)."""
    import bpy

    scene = bpy.data.scenes.new("compositor test")
    cam = bpy.data.objects.new("cam", bpy.data.cameras.new("cam"))
    cam.rotation_euler = (np.pi / 2, 0.0, 0.0)
    scene.collection.objects.link(cam)
    scene.camera = cam
    scene.render.engine = "CYCLES"
    scene.cycles.samples = 4
    scene.cycles.use_denoising = False
    scene.view_settings.view_transform = "AgX"
    scene.render.film_transparent = False
    scene.relit.pack_images = True
    yield scene
    for obj in [o for o in scene.objects if o.get("relit_source") == "comp"]:
        bpy.data.objects.remove(obj)
    bpy.data.objects.remove(cam)
    bpy.data.scenes.remove(scene)


def _passes():
    gt = bust_passes(SIZE)
    plate = np.full((SIZE, SIZE, 3), 0.2, np.float32)
    plate[:, :SIZE // 2] = 0.6  # a background with an edge, to see it outside the matte
    return gt, replace(gt, rgb=plate)


def _render_aovs(bpy, scene, folder, edge):
    with bpy.context.temp_override(scene=scene):
        assert bpy.ops.relit.build_compositor(edge=edge, directory=str(folder)) == {"FINISHED"}
    bpy.ops.render.render(write_still=False, scene=scene.name)
    written = sorted(folder.glob("*.exr"))
    assert len(written) == 1, list(folder.iterdir())
    return written[0]


def test_compositor_renders_and_writes_aovs(comp_scene, tmp_path, relit):
    import bpy

    scene = comp_scene
    gt, passes = _passes()
    plate = passes.rgb
    app = __import__(relit + ".app", fromlist=["passes", "lighting"])
    app.passes.apply_passes(scene, scene.relit, "comp", passes)
    app.lighting.set_hdri(scene, scene.relit)
    aovs = _render_aovs(bpy, scene, tmp_path / "edge0", 0.0)
    tree = scene.compositing_node_group
    assert tree is not None and tree.get("relit")
    # what the composite needs, set by the operator (docs/ARCHITECTURE.md, Colour: Standard,
    # not Blender's AgX)
    assert scene.render.film_transparent
    assert scene.view_settings.view_transform == "Standard"

    # Blender's naming, as inference's export writes it
    layers = images.read_exr_layers(aovs)
    assert {"Composite.Combined", "ViewLayer.Combined", "ViewLayer.Normal",
            "ViewLayer.Diffuse Color", "ViewLayer.Roughness", "ViewLayer.Alpha",
            "ViewLayer.Glossy Direct", "ViewLayer.Diffuse Direct", "ViewLayer.Plate"} <= set(layers)
    ours = tmp_path / "inference.exr"
    export_aovs(passes, render.cook_torrance(passes, render.HdriLight("city")), ours)
    assert set(images.read_exr_layers(ours)) <= set(layers)
    assert is_pass_source(aovs)
    inside = gt.alpha > 0.5
    assert np.abs(layers["ViewLayer.Normal"][inside] - gt.normal[inside]).max() < 3e-3

    # the premultiplied render over the plate, once: composite = render + (1 - a) plate
    relit_rgba = layers["ViewLayer.Combined"]
    a = relit_rgba[..., 3:4]
    composite = layers["Composite.Combined"][..., :3]
    want = relit_rgba[..., :3] + (1.0 - a) * plate
    soft = (a[..., 0] > 0.05) & (a[..., 0] < 0.95)
    assert soft.sum() >= 8  # the matte's anti-aliased edge is where a second multiply shows
    np.testing.assert_allclose(composite, want, atol=4e-3)
    import cv2

    outside = cv2.dilate(gt.alpha, np.ones((7, 7), np.uint8)) == 0  # clear of the edge
    np.testing.assert_allclose(composite[outside], plate[outside], atol=2e-3)  # as shot
    assert np.abs(composite[inside] - plate[inside]).mean() > 0.02  # relit inside

    # an edge treatment shrinks the matte; every pixel stays between the render's own colour
    # and the plate (no fringe brighter than both, as a re-used premultiplied colour gives)
    edged = images.read_exr_layers(_render_aovs(bpy, scene, tmp_path / "edge2", 2.0))
    composite2 = edged["Composite.Combined"][..., :3]
    covered = a[..., 0] > 0.02
    straight = relit_rgba[..., :3][covered] / a[covered]
    lo = np.minimum(straight, plate[covered]) - 5e-3
    hi = np.maximum(straight, plate[covered]) + 5e-3
    assert np.all((composite2[covered] >= lo) & (composite2[covered] <= hi))
    plate_share = np.abs(composite2 - want).mean(axis=-1)
    assert plate_share[soft].mean() > 0.01  # the edge shows more plate than before
    core = a[..., 0] > 0.999
    assert np.allclose(composite2[core].mean(), composite[core].mean(), atol=0.05)


def test_blender_aovs_read_back_with_inference(comp_scene, tmp_path, relit):
    import bpy

    scene = comp_scene
    gt, passes = _passes()
    app = __import__(relit + ".app", fromlist=["passes", "lighting"])
    app.passes.apply_passes(scene, scene.relit, "comp", passes)
    app.lighting.set_hdri(scene, scene.relit)
    back = Passes.load(_render_aovs(bpy, scene, tmp_path, 0.0))
    inside = gt.alpha > 0.5
    assert np.abs(back.normal[inside] - gt.normal[inside]).max() < 3e-3
    assert np.allclose(back.roughness[inside], gt.roughness[inside], atol=2e-3)
    np.testing.assert_allclose(back.alpha, gt.alpha, atol=2e-3)
    np.testing.assert_allclose(back.albedo[inside], gt.albedo[inside], atol=2e-3)
