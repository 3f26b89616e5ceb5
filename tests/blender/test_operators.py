"""The operators as an artist runs them, on the installed extension: passes in, plate built,
lights and worlds, reruns that reuse, and bad cases that report instead of tracing back."""
import importlib
from pathlib import Path

import numpy as np
import pytest

from inference import images
from inference.demo import bust
from inference.passes import Passes

pytestmark = pytest.mark.blender


@pytest.fixture
def scene(relit):
    import bpy

    scene = bpy.context.scene
    assert scene.camera is not None  # the default startup scene: Cube, Camera, Light
    yield scene
    scene = bpy.context.scene  # after an undo, the old reference is gone
    for obj in [o for o in bpy.data.objects if o.get("relit")]:
        bpy.data.objects.remove(obj)
    for prop in ("active", "output_dir", "pack_images", "models_dir", "source_path"):
        scene.relit.property_unset(prop)  # back to the defaults for the next test


def _passes_folder(tmp_path: Path, res: int = 64, sh: bool = True) -> Path:
    gt = bust(res)
    sh_coeffs = np.zeros((9, 3), np.float32)
    sh_coeffs[0], sh_coeffs[3] = 0.8, 0.4  # ambient plus light from camera-space +X
    passes = Passes(rgb=gt["albedo"] * 0.7, alpha=gt["alpha"], normal=gt["normal"],
                    albedo=gt["albedo"], roughness=gt["roughness"],
                    reflectivity=gt["reflectivity"], height=gt["height"],
                    sh=sh_coeffs if sh else None)
    folder = tmp_path / "face"
    passes.save(folder)
    return folder


def _counts():
    import bpy

    return (len(bpy.data.objects), len(bpy.data.materials), len(bpy.data.images),
            len(bpy.data.meshes), len(bpy.data.node_groups))


def test_import_builds_the_plate_and_a_rerun_reuses_it(scene, tmp_path):
    import bpy

    cube = bpy.data.objects["Cube"]
    cube_material = cube.active_material.name if cube.active_material else None
    scene.relit.output_dir = str(tmp_path / "out")
    folder = _passes_folder(tmp_path)
    assert bpy.ops.relit.import_passes(filepath=str(folder / "normal.exr")) == {"FINISHED"}
    assert scene.relit.active == "face"
    plane = bpy.data.objects["Relit face"]
    assert plane.parent == scene.camera
    material = plane.active_material
    group = material.node_tree.nodes["Relit Plate"]
    assert group.inputs["Albedo"].is_linked and group.inputs["Normal"].is_linked
    normal_image = next(i for i in bpy.data.images if i.get("relit_pass") == "normal")
    assert normal_image.colorspace_settings.is_data
    albedo_image = next(i for i in bpy.data.images if i.get("relit_pass") == "albedo")
    assert not albedo_image.colorspace_settings.is_data
    assert (scene.render.resolution_x, scene.render.resolution_y) == (64, 64)
    assert any((tmp_path / "out" / "face").glob("*.exr"))  # images saved to the folder

    before = _counts()
    assert bpy.ops.relit.import_passes(filepath=str(folder)) == {"FINISHED"}
    assert bpy.ops.relit.build_plane() == {"FINISHED"}
    assert _counts() == before
    assert (cube.active_material.name if cube.active_material else None) == cube_material
    assert bpy.data.objects.get("Cube") is cube


def test_lights_worlds_and_match(scene, tmp_path):
    import bpy

    scene.relit.pack_images = True
    assert bpy.ops.relit.import_passes(filepath=str(_passes_folder(tmp_path))) == {"FINISHED"}
    scene.relit.light_preset = "three_point"
    assert bpy.ops.relit.add_light_rig() == {"FINISHED"}
    rig = [o for o in bpy.data.objects if o.get("relit_light")]
    assert {o["relit_light"] for o in rig} == {"key", "fill", "rim"}
    assert bpy.ops.relit.add_light_rig() == {"FINISHED"}
    assert len([o for o in bpy.data.objects if o.get("relit_light")]) == 3

    scene.relit.hdri, scene.relit.hdri_rotation = "courtyard", 45.0
    assert bpy.ops.relit.set_hdri() == {"FINISHED"}
    assert scene.world.get("relit") and "courtyard" in str(
        [n.image.filepath for n in scene.world.node_tree.nodes if n.type == "TEX_ENVIRONMENT"])

    assert bpy.ops.relit.match_lighting(mode="KEY") == {"FINISHED"}
    key = next(o for o in bpy.data.objects if o.get("relit_light") == "key")
    # SH light from camera +X: the key sits on the camera's right.
    to_key = key.matrix_world.to_translation() - scene.camera.matrix_world.to_translation()
    right = scene.camera.matrix_world.to_3x3().col[0]
    assert to_key.dot(right) > 0 or key.data.type == "SUN"
    assert bpy.ops.relit.match_lighting(mode="WORLD") == {"FINISHED"}
    scene.relit.pack_images = False


def test_export_writes_the_pass_folder(scene, tmp_path):
    import bpy

    scene.relit.pack_images = True
    bpy.ops.relit.import_passes(filepath=str(_passes_folder(tmp_path)))
    out = tmp_path / "export"
    assert bpy.ops.relit.export_passes(directory=str(out)) == {"FINISHED"}
    assert {"ViewLayer.Normal.X", "ViewLayer.Diffuse Color.R"} <= set(
        images.read_exr_channels(out / "passes.exr"))
    with pytest.raises(RuntimeError, match="exists"):
        bpy.ops.relit.export_passes(directory=str(out))
    scene.relit.pack_images = False


def test_bad_cases_report_clearly(scene, tmp_path):
    import bpy

    scene.relit.output_dir = str(tmp_path / "out")
    scene.relit.models_dir = str(tmp_path / "no_models")
    try:
        with pytest.raises(RuntimeError, match="model not installed: normal_net"):
            bpy.ops.relit.decompose(source="FILE")
    finally:
        scene.relit.models_dir = ""
    (tmp_path / "empty").mkdir()
    with pytest.raises(RuntimeError, match="missing passes"):
        bpy.ops.relit.import_passes(filepath=str(tmp_path / "empty") + "/")
    folder = _passes_folder(tmp_path, sh=False)
    images.save_exr(folder / "albedo.exr", np.ones((32, 32, 3), np.float32))
    (folder / "passes.exr").unlink()
    with pytest.raises(RuntimeError, match="differ in size.*albedo 32×32"):
        bpy.ops.relit.import_passes(filepath=str(folder) + "/")
    with pytest.raises(RuntimeError, match="decompose or import passes first"):
        bpy.ops.relit.add_light_rig()
    camera, scene.camera = scene.camera, None
    try:
        scene.relit.active = "face"
        with pytest.raises(RuntimeError, match="no camera"):
            bpy.ops.relit.build_plane()
    finally:
        scene.camera = camera


def test_decompose_with_a_face_free_image_warns_and_builds(scene, tmp_path, relit, capfd):
    """With stand-in models the whole chain runs from the operator; no face is a warning."""
    import bpy
    from onnx_graphs import install_chain

    install_chain(tmp_path / "models")
    scene.relit.models_dir = str(tmp_path / "models")
    scene.relit.output_dir = str(tmp_path / "out")
    plate = tmp_path / "plate.png"
    y, x = np.mgrid[0:48, 0:64] / 64.0
    images.save_png(plate, np.dstack([x, y, 0.5 + 0 * x]).astype(np.float32))
    scene.relit.source_path = str(plate)
    try:
        with pytest.raises(RuntimeError, match="no image selected"):
            bpy.ops.relit.decompose(source="ACTIVE")
        assert bpy.ops.relit.decompose(source="FILE") == {"FINISHED"}
        assert "no face" in capfd.readouterr().err
        assert bpy.data.objects.get("Relit plate") is not None
    finally:
        scene.relit.models_dir = ""


def test_decompose_a_portrait_with_the_models_shipped_in_the_zip(scene, tmp_path):
    import bpy
    from inference.demo import portrait_path

    plate = tmp_path / "portrait.png"
    images.save_png(plate, images.resize(images.load_image(portrait_path()), (150, 128)))
    scene.relit.source_path = str(plate)
    scene.relit.output_dir = str(tmp_path / "out")
    assert bpy.ops.relit.decompose(source="FILE") == {"FINISHED"}
    plane = bpy.data.objects["Relit portrait"]
    group = plane.active_material.node_tree.nodes["Relit Plate"]
    assert group.inputs["Albedo"].is_linked and group.inputs["Roughness"].is_linked
    normal = next(i for i in bpy.data.images if i.get("relit_pass") == "normal"
                  and i.get("relit_source") == "portrait")
    assert tuple(normal.size) == (128, 150) and normal.colorspace_settings.is_data
    encoded = np.array(normal.pixels[:], np.float32).reshape(150, 128, 4)[..., :3]
    decoded = encoded * 2.0 - 1.0  # normal maps store (n + 1) / 2
    assert np.allclose(np.linalg.norm(decoded, axis=-1), 1.0, atol=0.02)  # unit normals
    assert (scene.render.resolution_x, scene.render.resolution_y) == (128, 150)


def test_batch_command_runs_the_cli(relit, tmp_path):
    batch = importlib.import_module(relit + ".operators.batch")
    folder = _passes_folder(tmp_path)
    out = tmp_path / "relit.png"
    assert batch.run(["--quiet", "relight", str(folder), "--hdri", "forest",
                      "--out", str(out)]) == 0
    assert images.load_image(out).shape == (64, 64, 4)
    assert batch.run(["--quiet", "relight", str(tmp_path / "nope.png"), "--hdri", "forest",
                      "--out", str(tmp_path / "other.png")]) == 2


def test_batch_relight_renders_in_cycles(relit, tmp_path):
    batch = importlib.import_module(relit + ".operators.batch")
    folder = _passes_folder(tmp_path, res=48)
    out = tmp_path / "cycles.png"
    assert batch.run(["relight", str(folder), "--hdri", "studio", "--samples", "4",
                      "--displace", "--out", str(out)]) == 0
    rgba = images.load_image(out)
    assert rgba.shape == (48, 48, 4)
    inside = bust(48)["alpha"] > 0.5
    assert rgba[..., 3][inside].mean() > 0.95 and rgba[..., :3][inside].mean() > 0.02
    assert batch.run(["relight", str(folder), "--hdri", "studio", "--out", str(out)]) == 2


def test_refine_the_last_render_with_stand_in_render_net(scene, tmp_path):
    """RenderNet's plumbing: the last render → refine → a new image (stand-in model)."""
    import bpy
    from onnx_graphs import install_chain

    install_chain(tmp_path / "models")
    scene.relit.pack_images = True
    assert bpy.ops.relit.refine.poll() is False  # shipped models: render_net missing
    scene.relit.models_dir = str(tmp_path / "models")
    try:
        bpy.ops.relit.import_passes(filepath=str(_passes_folder(tmp_path, res=32)))
        with pytest.raises(RuntimeError, match="no render yet"):
            bpy.ops.relit.refine()
        scene.render.engine, scene.cycles.samples = "CYCLES", 2
        bpy.ops.render.render(scene=scene.name)
        assert bpy.ops.relit.refine() == {"FINISHED"}
        refined = next(i for i in bpy.data.images if i.get("relit_image") == "face/refined")
        assert tuple(refined.size) == (32, 32)
    finally:
        scene.relit.models_dir = ""
        scene.relit.pack_images = False


def test_batch_export_writes_blender_aovs(relit, tmp_path):
    batch = importlib.import_module(relit + ".operators.batch")
    folder = _passes_folder(tmp_path, res=32)
    out = tmp_path / "shot.exr"
    assert batch.run(["--quiet", "export", str(folder), "--hdri", "city", "--samples", "2",
                      "--out", str(out)]) == 0
    layers = images.read_exr_layers(out)
    assert {"Composite", "Relit", "Diffuse Direct", "Glossy Direct", "Normal",
            "Diffuse Color", "Roughness", "Alpha"} <= set(layers)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".relit-")] == []
    assert batch.run(["--quiet", "export", str(folder), "--hdri", "city", "--out",
                      str(out)]) == 2


def test_batch_export_over_a_sequence_with_a_bad_frame(relit, tmp_path):
    """AOVs for every frame of ``plate.####.png`` with the shipped models; a truncated frame
    stops the run (earlier frames kept) or is skipped, as asked."""
    from inference.demo import portrait_path

    batch = importlib.import_module(relit + ".operators.batch")
    frames = tmp_path / "frames"
    frames.mkdir()
    face = images.resize(images.load_image(portrait_path()), (60, 52))
    for f in range(1, 4):
        images.save_png(frames / f"plate.{f:04d}.png", np.roll(face, f, axis=1))
    (frames / "plate.0002.png").write_bytes((frames / "plate.0002.png").read_bytes()[:60])
    pattern = str(frames / "plate.####.png")
    args = ["--quiet", "export", pattern, "--hdri", "forest", "--samples", "2"]
    assert batch.run([*args, "--out", str(tmp_path / "stop")]) == 2
    assert [p.name for p in (tmp_path / "stop").iterdir()] == ["plate.0001.exr"]
    assert batch.run([*args, "--out", str(tmp_path / "skip"), "--on-error", "skip"]) == 1
    written = sorted(p.name for p in (tmp_path / "skip").iterdir())
    assert written == ["plate.0001.exr", "plate.0003.exr"]
    layers = images.read_exr_layers(tmp_path / "skip" / "plate.0003.exr")
    assert {"Relit", "Normal", "Diffuse Color", "Alpha"} <= set(layers)
    assert batch.run([*args, "--out", str(tmp_path / "skip" / "one.exr")]) == 2  # 3 sources


def test_batch_relight_expands_pass_folders_and_frames(relit, tmp_path):
    batch = importlib.import_module(relit + ".operators.batch")
    folder = _passes_folder(tmp_path, res=24)
    assert batch.expand_sources([str(folder)]) == [str(folder)]
    frames = tmp_path / "frames"
    frames.mkdir()
    for f in (2, 1):
        images.save_png(frames / f"plate.{f:04d}.png", np.full((8, 8, 3), 0.5, np.float32))
    assert [Path(p).name for p in batch.expand_sources([str(frames / "plate.####.png")])] == [
        "plate.0001.png", "plate.0002.png"]
    assert len(batch.expand_sources([str(frames)])) == 2


def test_undo_restores_the_scene_after_import_and_lights(scene, tmp_path, relit):
    """Every scene-editing operator is an undo step, and undoing one restores the scene.

    Headless Blender records no undo step when an operator finishes (the UI does, for operators
    with UNDO), so the test pushes the step an artist's click would push."""
    import bpy

    module = importlib.import_module(f"{relit}.operators.relight_ops")
    ops = [c for c in vars(module).values()
           if isinstance(c, type) and c.__name__.startswith("RELIT_OT_")]
    no_undo = {c.__name__ for c in ops if "UNDO" not in getattr(c, "bl_options", set())}
    assert no_undo == {"RELIT_OT_export_passes", "RELIT_OT_cancel"}  # they change no data
    scene.relit.output_dir = str(tmp_path / "out")
    folder = _passes_folder(tmp_path)
    names = sorted(o.name for o in bpy.data.objects)
    world = scene.world.name if scene.world else None
    bpy.ops.ed.undo_push(message="before Relit")
    assert bpy.ops.relit.import_passes(filepath=str(folder)) == {"FINISHED"}
    bpy.ops.ed.undo_push(message="Relit: import passes")
    assert bpy.ops.relit.set_hdri() == {"FINISHED"}
    bpy.ops.ed.undo_push(message="Relit: set HDRI")
    assert "Relit face" in bpy.data.objects
    assert bpy.ops.ed.undo() == {"FINISHED"}  # the world goes back
    assert (bpy.context.scene.world.name if bpy.context.scene.world else None) == world
    assert "Relit face" in bpy.data.objects
    assert bpy.ops.ed.undo() == {"FINISHED"}  # then the plate goes
    assert sorted(o.name for o in bpy.data.objects) == names
    assert bpy.ops.ed.redo() == {"FINISHED"}
    assert "Relit face" in bpy.data.objects
