"""The operators as an artist runs them, on the installed extension: passes in, plate built,
lights and worlds, reruns that reuse, and bad cases that report instead of tracing back."""
import importlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from inference import images
from inference.demo import bust, bust_passes

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
    for prop in ("active", "output_dir", "pack_images", "models_dir", "source_path",
                 "lights_path", "ps_linear", "ps_ambient"):
        scene.relit.property_unset(prop)  # back to the defaults for the next test


def _passes_folder(tmp_path: Path, res: int = 64, sh: bool = True, folder: Path = None) -> Path:
    gt = bust_passes(res)
    sh_coeffs = np.zeros((9, 3), np.float32)
    sh_coeffs[0], sh_coeffs[3] = 0.8, 0.4  # ambient plus light from camera-space +X
    passes = replace(gt, rgb=gt.albedo * 0.7, sh=sh_coeffs if sh else None)
    folder = folder or tmp_path / "face"
    passes.save(folder, previews=False)
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
        jobs = importlib.import_module(relit + ".app.jobs")
        level, message = jobs.notice("decompose")  # what the panel shows afterwards
        assert level == "WARNING" and "no face" in message
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


def test_photo_refinement_settings_reach_the_chain(scene, relit):
    sources = importlib.import_module(relit + ".app.sources")
    # on by default: the albedo keeps the photo's texture, the normals its shading
    assert scene.relit.photo_detail and scene.relit.shading_normals
    options = sources.decompose_options(scene.relit)
    assert "albedo_detail" not in options and "shading_normals" not in options
    scene.relit.photo_detail = False
    assert sources.decompose_options(scene.relit)["albedo_detail"] == 0.0
    scene.relit.shading_normals = False
    assert sources.decompose_options(scene.relit)["shading_normals"] == 0.0


def test_refine_strength_setting_reaches_render_net(scene, relit):
    refine = importlib.import_module(relit + ".app.refine")
    pipeline = importlib.import_module(relit + ".inference.pipeline")
    assert scene.relit.refine_strength == pytest.approx(pipeline.REFINE_STRENGTH)
    scene.relit.refine_strength = 0.8
    assert refine.refine_settings(scene.relit)["refine_strength"] == pytest.approx(0.8)
    scene.relit.refine_strength = 3.0  # the slider stops at 1
    assert scene.relit.refine_strength == 1.0


def test_batch_command_runs_the_cli(relit, tmp_path):
    batch = importlib.import_module(relit + ".app.command")
    folder = _passes_folder(tmp_path)
    out = tmp_path / "relit.png"
    assert batch.run(["--quiet", "relight", str(folder), "--hdri", "forest",
                      "--out", str(out)]) == 0
    assert images.load_image(out).shape == (64, 64, 4)
    assert batch.run(["--quiet", "relight", str(tmp_path / "nope.png"), "--hdri", "forest",
                      "--out", str(tmp_path / "other.png")]) == 2


def test_batch_relight_renders_in_cycles(relit, tmp_path):
    batch = importlib.import_module(relit + ".app.command")
    folder = _passes_folder(tmp_path, res=48)
    out = tmp_path / "cycles.png"
    assert batch.run(["relight", str(folder), "--hdri", "studio", "--samples", "4",
                      "--displace", "--out", str(out)]) == 0
    rgba = images.load_image(out)
    assert rgba.shape == (48, 48, 4)
    inside = bust(48)["alpha"] > 0.5
    assert rgba[..., 3][inside].mean() > 0.95 and rgba[..., :3][inside].mean() > 0.02
    assert batch.run(["relight", str(folder), "--hdri", "studio", "--out", str(out)]) == 4  # exists


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
    batch = importlib.import_module(relit + ".app.command")
    folder = _passes_folder(tmp_path, res=32)
    out = tmp_path / "shot.exr"
    assert batch.run(["--quiet", "export", str(folder), "--hdri", "city", "--samples", "2",
                      "--out", str(out)]) == 0
    layers = images.read_exr_layers(out)
    assert {"Composite.Combined", "ViewLayer.Combined", "ViewLayer.Diffuse Direct",
            "ViewLayer.Glossy Direct", "ViewLayer.Normal", "ViewLayer.Diffuse Color",
            "ViewLayer.Roughness", "ViewLayer.Alpha"} <= set(layers)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".relit-")] == []
    assert batch.run(["--quiet", "export", str(folder), "--hdri", "city", "--out",
                      str(out)]) == 4  # exists


def test_batch_export_over_a_sequence_with_a_bad_frame(relit, tmp_path):
    """AOVs for every frame of ``plate.####.png`` with the shipped models; a truncated frame
    stops the run (earlier frames kept) or is skipped, as asked."""
    from inference.demo import portrait_path

    batch = importlib.import_module(relit + ".app.command")
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
    assert {"ViewLayer.Combined", "ViewLayer.Normal", "ViewLayer.Diffuse Color",
            "ViewLayer.Alpha"} <= set(layers)
    assert batch.run([*args, "--out", str(tmp_path / "skip" / "one.exr")]) == 2  # 3 sources


def test_batch_relight_expands_pass_folders_and_frames(relit, tmp_path):
    batch = importlib.import_module(relit + ".app.command")
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

    modules = [importlib.import_module(f"{relit}.operators.{name}") for name in (
        "source.decompose", "source.photometric", "passes.import_passes", "plane.build_plane",
        "lighting.add_light_rig", "lighting.set_hdri", "lighting.restore_world",
        "lighting.match_lighting", "refine.refine", "export.export_passes",
        "export.build_compositor", "cancel")]
    ops = [c for module in modules for c in vars(module).values()
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


# ------------------------------------------------------------------ batch: names and memory

def _relight_args(*sources, out, samples="1"):
    return ["--quiet", "relight", *map(str, sources), "--hdri", "forest", "--samples", samples,
            "--out", str(out)]


def test_batch_outputs_are_named_per_source_and_never_collide(relit, tmp_path, capfd):
    batch = importlib.import_module(relit + ".app.command")
    frames = [_passes_folder(tmp_path, res=16, folder=tmp_path / "passes" / f"plate.000{i}")
              for i in (1, 2)]
    out = tmp_path / "renders"
    assert batch.run(_relight_args(*frames, out=out)) == 0
    assert sorted(p.name for p in out.iterdir()) == ["plate.0001.png", "plate.0002.png"]
    shots = [_passes_folder(tmp_path, res=16, folder=tmp_path / "shots" / n) / "passes.exr"
             for n in ("a", "b")]
    assert batch.run(_relight_args(*shots, out=tmp_path / "by_shot")) == 0
    assert sorted(p.name for p in (tmp_path / "by_shot").iterdir()) == ["a.png", "b.png"]
    capfd.readouterr()

    # two sources with one name are refused before anything runs
    twins = [_passes_folder(tmp_path, res=16, folder=tmp_path / d / "face") for d in "xy"]
    assert batch.run(_relight_args(*twins, out=tmp_path / "twins")) == 2
    assert "would both write" in capfd.readouterr().err
    assert not (tmp_path / "twins").exists()
    # so are an output format Relit cannot write and an output folder that cannot be made
    assert batch.run(_relight_args(frames[0], out=tmp_path / "one.tif")) == 2
    assert "unsupported output format" in capfd.readouterr().err
    (tmp_path / "a_file").write_text("")
    assert batch.run(["--quiet", "export", str(frames[0]), "--hdri", "forest", "--samples", "1",
                      "--out", str(tmp_path / "a_file" / "shot.exr")]) == 4
    assert "not a folder" in capfd.readouterr().err


def test_batch_reuses_one_plate_for_every_source(relit, tmp_path):
    """A sequence holds one frame's plate at a time: a run over three sources, and a rerun,
    leave the file with the datablocks of one."""
    import bpy

    batch = importlib.import_module(relit + ".app.command")
    app_batch = importlib.import_module(relit + ".app.batch")
    sources = [_passes_folder(tmp_path, res=16, folder=tmp_path / "seq" / f"f{i}")
               for i in range(3)]

    def counts():
        return (*_counts(), len(bpy.data.worlds), len(bpy.data.scenes))

    assert batch.run(_relight_args(sources[0], out=tmp_path / "one")) == 0
    after_one = counts()
    assert batch.run(_relight_args(*sources, out=tmp_path / "three")) == 0
    assert counts() == after_one
    assert batch.run(_relight_args(*sources, out=tmp_path / "again")) == 0
    assert counts() == after_one
    held = [i for i in bpy.data.images if i.get("relit_source") == app_batch.BATCH_NAME]
    assert held and all(i.packed_file is None for i in held)  # no packed copy per frame
    assert not hasattr(app_batch, "_passes")  # no session cache of every source's arrays


def test_batch_decompose_uses_the_models_folder_and_reports_progress(relit, tmp_path, capfd):
    from onnx_graphs import install_chain

    batch = importlib.import_module(relit + ".app.command")
    install_chain(tmp_path / "models")
    (tmp_path / "empty").mkdir()
    plate = tmp_path / "plate.png"
    y, x = np.mgrid[0:24, 0:32] / 32.0
    images.save_png(plate, np.dstack([x, y, 0.5 + 0 * x]).astype(np.float32))
    args = ["relight", str(plate), "--hdri", "forest", "--samples", "1"]
    assert batch.run([*args, "--models", str(tmp_path / "models"),
                      "--out", str(tmp_path / "a.png")]) == 0
    err = capfd.readouterr().err
    assert "%" in err and "[relit]" in err  # the decomposition's progress lines
    assert "no face" in err  # and its warnings
    assert batch.run([*args, "--models", str(tmp_path / "empty"),
                      "--out", str(tmp_path / "b.png")]) == 3
    assert "model not installed" in capfd.readouterr().err


# ------------------------------------------------------------------ the UI: before and after a job

def test_decompose_checks_where_results_go_before_it_starts(scene, tmp_path, relit,
                                                            monkeypatch):
    import bpy
    from onnx_graphs import install_chain

    sources = importlib.import_module(relit + ".app.sources")
    ran = []
    monkeypatch.setattr(sources.pipeline, "decompose", lambda *a, **k: ran.append(1))
    install_chain(tmp_path / "models")
    scene.relit.models_dir = str(tmp_path / "models")
    plate = tmp_path / "plate.png"
    images.save_png(plate, np.full((16, 16, 3), 0.5, np.float32))
    scene.relit.source_path = str(plate)
    assert not bpy.data.filepath and scene.relit.output_dir == "//relit/"
    before = _counts()
    try:
        with pytest.raises(RuntimeError, match="not saved yet"):
            bpy.ops.relit.decompose(source="FILE")
        (tmp_path / "a_file").write_text("")
        scene.relit.output_dir = str(tmp_path / "a_file" / "relit")
        with pytest.raises(RuntimeError, match="not a folder"):
            bpy.ops.relit.decompose(source="FILE")
    finally:
        scene.relit.models_dir = ""
    assert ran == [] and _counts() == before  # the chain never ran, nothing was made


def test_refine_survives_any_render_output_and_keeps_its_image(scene, tmp_path, relit):
    """Multi-layer EXR or video output (where Blender 5.0 refuses a plain EXR format until
    the media type is IMAGE) is set aside for the render read and put back; the refined image
    is premultiplied, keeps the render's alpha (and the render itself where that is 0), and is
    saved like the passes."""
    import bpy
    from onnx_graphs import install_chain

    refine = importlib.import_module(relit + ".app.refine")
    install_chain(tmp_path / "models")
    scene.relit.models_dir = str(tmp_path / "models")
    scene.relit.output_dir = str(tmp_path / "out")
    out = scene.render.image_settings
    keys = ("media_type", "file_format", "color_depth", "color_mode", "exr_codec",
            "color_management")
    try:
        bpy.ops.relit.import_passes(filepath=str(_passes_folder(tmp_path, res=32)))
        scene.render.engine, scene.cycles.samples = "CYCLES", 2
        scene.render.film_transparent = True
        bpy.ops.render.render(scene=scene.name)
        rendered = refine.render_result_pixels(scene)
        for media, fmt in (("MULTI_LAYER_IMAGE", "OPEN_EXR_MULTILAYER"), ("VIDEO", "FFMPEG")):
            out.media_type, out.file_format = media, fmt
            saved = {k: getattr(out, k) for k in keys}
            assert bpy.ops.relit.refine() == {"FINISHED"}
            assert {k: getattr(out, k) for k in keys} == saved
        refined = next(i for i in bpy.data.images if i.get("relit_image") == "face/refined")
        assert refined.alpha_mode == "PREMUL" and refined.source == "FILE"
        assert Path(bpy.path.abspath(refined.filepath)).is_file()
        rgba = np.empty(32 * 32 * 4, np.float32)
        refined.pixels.foreach_get(rgba)
        rgba = rgba.reshape(32, 32, 4)[::-1]
        np.testing.assert_allclose(rgba[..., 3], rendered[..., 3], atol=1e-4)
        empty = rendered[..., 3] == 0   # where the frame is empty, refine leaves it as rendered
        assert empty.any()
        np.testing.assert_allclose(rgba[..., :3][empty], rendered[..., :3][empty], atol=1e-4)
    finally:
        out.media_type, out.file_format = "IMAGE", "PNG"
        scene.render.film_transparent = False
        scene.relit.models_dir = ""


def test_the_pass_images_are_the_passes(scene, tmp_path, relit):
    """An edited (painted) pass image is what export, rebuild and refine read."""
    import bpy

    scene.relit.pack_images = True
    bpy.ops.relit.import_passes(filepath=str(_passes_folder(tmp_path, res=32)))
    albedo = next(i for i in bpy.data.images if i.get("relit_image") == "face/albedo")
    albedo.pixels.foreach_set(np.full(32 * 32 * 4, 0.25, np.float32))  # a paint stroke
    out = tmp_path / "export"
    assert bpy.ops.relit.export_passes(directory=str(out)) == {"FINISHED"}
    np.testing.assert_allclose(images.load_image(out / "albedo.exr"), 0.25, atol=1e-3)
    scene.relit.pack_images = False


# ------------------------------------------------------------------ worlds and scenes

def test_the_users_world_is_kept_and_can_be_restored(scene, tmp_path):
    import bpy

    original = scene.world
    mine = bpy.data.worlds.new("My World")
    scene.world = mine
    scene.relit.pack_images = True
    try:
        assert bpy.ops.relit.restore_world.poll() is False
        bpy.ops.relit.import_passes(filepath=str(_passes_folder(tmp_path, res=16)))
        assert bpy.ops.relit.set_hdri() == {"FINISHED"}
        assert bpy.ops.relit.set_hdri() == {"FINISHED"}  # a rerun keeps the user's world
        assert scene.world.get("relit") and mine.users >= 1
        bpy.data.orphans_purge(do_recursive=True)  # what saving the file drops
        assert bpy.data.worlds.get("My World") == mine
        assert bpy.ops.relit.restore_world() == {"FINISHED"}
        assert scene.world == mine
    finally:
        scene.world = original
        bpy.data.worlds.remove(mine)
        scene.relit.pack_images = False


def test_hdri_sliders_only_turn_an_hdri_world(scene, tmp_path, relit):
    import math

    import bpy

    jobs = importlib.import_module(relit + ".app.jobs")
    settings = scene.relit
    settings.pack_images = True
    original = scene.world
    try:
        bpy.ops.relit.import_passes(filepath=str(_passes_folder(tmp_path, res=16)))
        scene.world = original
        settings.hdri_rotation = 30.0  # no Relit world: the slider leaves the world alone
        assert scene.world == original
        assert bpy.ops.relit.set_hdri() == {"FINISHED"}
        settings.hdri_rotation = 60.0  # an HDRI world turns live
        turn = scene.world.node_tree.nodes["Relit Rotation"].inputs["Rotation"].default_value
        assert turn[2] == pytest.approx(math.radians(60.0))
        for mode, kind in (("KEY", "ambient"), ("WORLD", "sh")):
            assert bpy.ops.relit.match_lighting(mode=mode) == {"FINISHED"}
            matched = scene.world
            assert matched["relit_mode"] == kind and "relit_hdri" not in matched
            settings.hdri_rotation, settings.hdri_strength = 90.0, 2.0
            settings.hdri = "city"
            assert scene.world == matched and matched["relit_mode"] == kind
            assert jobs.notice("world") is None
    finally:
        scene.world = original
        for prop in ("hdri", "hdri_rotation", "hdri_strength", "pack_images"):
            settings.property_unset(prop)


def test_two_scenes_keep_their_own_plates_and_lights(scene, tmp_path, relit):
    import bpy

    plate = importlib.import_module(relit + ".datablocks.plate")
    folder = _passes_folder(tmp_path, res=16)
    other = bpy.data.scenes.new("Relit other scene")
    cam = bpy.data.objects.new("other cam", bpy.data.cameras.new("other cam"))
    other.collection.objects.link(cam)
    other.camera = cam
    try:
        for s in (scene, other):
            s.relit.pack_images = True
            with bpy.context.temp_override(scene=s):
                assert bpy.ops.relit.import_passes(filepath=str(folder)) == {"FINISHED"}
                assert bpy.ops.relit.add_light_rig() == {"FINISHED"}
        mine, theirs = plate.find_plane("face", scene), plate.find_plane("face", other)
        assert mine != theirs
        assert mine.parent == scene.camera and theirs.parent == cam
        assert mine.active_material != theirs.active_material
        assert not set(scene.collection.children) & set(other.collection.children)
        lights = [{o for o in s.objects if o.get("relit_light")} for s in (scene, other)]
        assert len(lights[0]) == len(lights[1]) == 3 and not lights[0] & lights[1]
    finally:
        scene.relit.pack_images = False
        for obj in [o for o in other.objects]:
            bpy.data.objects.remove(obj)
        bpy.data.scenes.remove(other)


def test_decompose_reads_what_the_image_editor_shows(relit, tmp_path):
    import bpy

    sources = importlib.import_module(relit + ".app.sources")
    errors = importlib.import_module(relit + ".inference.errors")
    for f, grey in ((1, 0.2), (2, 0.5), (3, 0.8)):
        images.save_exr(tmp_path / f"shot.{f:04d}.exr", np.full((8, 8, 3), grey, np.float32))
    still = bpy.data.images.load(str(tmp_path / "shot.0001.exr"))
    seq = bpy.data.images.load(str(tmp_path / "shot.0001.exr"), check_existing=False)
    seq.source = "SEQUENCE"
    material = bpy.data.materials.new("relit test sequence user")
    node = material.node_tree.nodes.new("ShaderNodeTexImage")
    node.image = seq
    try:
        assert sources.image_source(still)[1][..., :3].mean() == pytest.approx(0.2, abs=1e-3)
        still.pixels.foreach_set(np.full(8 * 8 * 4, 0.7, np.float32))  # painted, unsaved
        assert still.is_dirty
        assert sources.image_source(still)[1][..., :3].mean() == pytest.approx(0.7, abs=1e-3)
        node.image_user.frame_current = 2  # the frame the editor shows
        assert sources.image_source(seq, node.image_user)[1][..., :3].mean() == pytest.approx(
            0.5, abs=1e-3)
        with pytest.raises(errors.InputError, match="current frame"):
            sources.image_source(seq)  # no frame shown yet: a clear error, not the first file
    finally:
        bpy.data.materials.remove(material)
        bpy.data.images.remove(still)
        bpy.data.images.remove(seq)


YALE_B01 = Path(__file__).resolve().parents[3] / "shared" / "eval" / "yaleb" / "yaleB01"


@pytest.mark.skipif(not YALE_B01.is_dir(), reason=f"shared data not found: {YALE_B01}")
def test_photometric_operator_on_real_linear_captures(scene, tmp_path):
    """The Photometric Stereo operator on Yale B's 64 linear captures with their ambient
    frame and Linear Captures on: the normal pass it loads matches the reference."""
    import json

    import bpy
    from inference.metrics import normal_metrics
    from inference.photometric import yale_light_direction

    files = sorted(p for p in YALE_B01.glob("*.pgm") if not p.name.endswith("_Ambient.pgm"))
    lights = tmp_path / "lights.json"
    lights.write_text(json.dumps({p.name: list(map(float, yale_light_direction(p.name)))
                                  for p in files}))
    scene.relit.lights_path = str(lights)
    scene.relit.ps_ambient = str(next(YALE_B01.glob("*_Ambient.pgm")))
    scene.relit.ps_linear = True
    scene.relit.output_dir = str(tmp_path / "out")
    result = bpy.ops.relit.photometric(directory=str(YALE_B01),
                                       files=[{"name": p.name} for p in files])
    assert result == {"FINISHED"}
    normal = next(i for i in bpy.data.images if i.get("relit_pass") == "normal"
                  and i.get("relit_source") == "yaleB01")
    w, h = normal.size
    pixels = np.empty(w * h * 4, np.float32)
    normal.pixels.foreach_get(pixels)
    encoded = pixels.reshape(h, w, 4)[::-1, :, :3]  # Blender's rows run bottom-up
    decoded = encoded * 2.0 - 1.0
    decoded /= np.maximum(np.linalg.norm(decoded, axis=-1, keepdims=True), 1e-6)
    reference = np.load(YALE_B01 / "reference.npz")
    assert normal_metrics(decoded, reference["normal"], reference["mask"])["mean_deg"] <= 3.0
