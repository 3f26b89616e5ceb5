"""inference.render against Blender itself: a Principled sphere in Cycles, under built-in HDRIs
(rotated by a Mapping node) and under point, sun and area lights.

The scene is built by the data API in a scene of its own, removed afterwards, instead of
``read_factory_settings``, so the preferences and the add-ons that other Blender tests of the
same session installed stay as they are: a smooth UV sphere of radius 1 at the origin, an
orthographic camera at -Y looking along +Y framing it, an Environment Texture world driven by
Generated coordinates through a Mapping node (POINT, rotation about Z), Cycles CPU with direct
light only (a convex sphere has no interreflection), a near-zero pixel filter so that every
pixel samples its centre as the analytic render does, a transparent film for the mask,
Standard view transform, written to a float EXR and read back as linear.

PSNR definition: over the pixels inside the sphere on both sides (Cycles alpha >= 0.999 and the
analytic disc shrunk by 1.5 px), ``PSNR = 10 log10(peak^2 / MSE)`` where ``peak`` is the
largest value of the Cycles reference in that mask (all channels) and MSE is the mean squared
difference over the mask and the three channels.
"""
import math
import tempfile
from pathlib import Path

import numpy as np
import pytest

from inference import lighting, render
from inference.images import load_image
from inference.passes import Passes

pytestmark = pytest.mark.blender

SIZE = 72
ORTHO_SCALE = 2.2
SAMPLES = 256

CASES = [
    # hdri, rotation (deg), base colour, roughness, F0
    ("courtyard", 30.0, (0.8, 0.8, 0.8), 0.5, 0.04),
    ("studio", -75.0, (0.9, 0.45, 0.2), 0.3, 0.08),
    ("forest", 140.0, (0.15, 0.2, 0.3), 0.25, 0.06),
]


def _studiolights_dir() -> Path:
    import bpy

    return Path(bpy.utils.system_resource("DATAFILES", path="studiolights/world"))


def _new_scene(name: str):
    import bpy

    scene = bpy.data.scenes.new(name)
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = SAMPLES
    scene.cycles.use_adaptive_sampling = False
    scene.cycles.use_denoising = False
    scene.cycles.max_bounces = 0
    scene.cycles.filter_width = 0.01
    scene.cycles.seed = 1
    scene.render.resolution_x = scene.render.resolution_y = SIZE
    scene.render.resolution_percentage = 100
    scene.render.film_transparent = True
    scene.view_settings.view_transform = "Standard"
    scene.view_settings.look = "None"
    scene.view_settings.exposure = 0.0
    scene.view_settings.gamma = 1.0
    settings = scene.render.image_settings
    settings.file_format = "OPEN_EXR"
    settings.color_mode = "RGBA"
    settings.color_depth = "32"
    return scene


def _add_camera(scene):
    import bpy

    cam = bpy.data.cameras.new("relit_test_cam")
    cam.type = "ORTHO"
    cam.ortho_scale = ORTHO_SCALE
    obj = bpy.data.objects.new("relit_test_cam", cam)
    obj.location = (0.0, -5.0, 0.0)
    obj.rotation_euler = (math.pi / 2, 0.0, 0.0)
    scene.collection.objects.link(obj)
    scene.camera = obj


def _add_sphere(scene):
    import bmesh
    import bpy

    mesh = bpy.data.meshes.new("relit_test_sphere")
    bm = bmesh.new()
    bmesh.ops.create_uvsphere(bm, u_segments=96, v_segments=48, radius=1.0)
    bm.to_mesh(mesh)
    bm.free()
    mesh.shade_smooth()
    obj = bpy.data.objects.new("relit_test_sphere", mesh)
    scene.collection.objects.link(obj)
    mat = bpy.data.materials.new("relit_test_mat")
    mesh.materials.append(mat)
    return next(n for n in mat.node_tree.nodes if n.bl_idname == "ShaderNodeBsdfPrincipled")


def _add_world(scene, hdri_path: Path):
    import bpy

    world = bpy.data.worlds.new("relit_test_world")
    scene.world = world
    nodes, links = world.node_tree.nodes, world.node_tree.links
    background = next(n for n in nodes if n.bl_idname == "ShaderNodeBackground")
    env = nodes.new("ShaderNodeTexEnvironment")
    env.image = bpy.data.images.load(str(hdri_path), check_existing=True)
    coords = nodes.new("ShaderNodeTexCoord")
    mapping = nodes.new("ShaderNodeMapping")
    mapping.vector_type = "POINT"
    links.new(coords.outputs["Generated"], mapping.inputs["Vector"])
    links.new(mapping.outputs["Vector"], env.inputs["Vector"])
    links.new(env.outputs["Color"], background.inputs["Color"])
    background.inputs["Strength"].default_value = 1.0
    return mapping


def _render(scene, path: Path) -> np.ndarray:
    import bpy

    scene.render.filepath = str(path)
    bpy.ops.render.render(write_still=True, scene=scene.name)
    return load_image(path)


def _remove(scene):
    import bpy

    collections = {"MESH": bpy.data.meshes, "CAMERA": bpy.data.cameras,
                   "LIGHT": bpy.data.lights}
    materials = set()
    for obj in list(scene.collection.objects):
        data = obj.data
        materials.update(m for m in getattr(data, "materials", ()) if m is not None)
        bpy.data.objects.remove(obj)
        if data is not None and data.users == 0:
            collections[data.id_type].remove(data)
    for mat in materials:
        if mat.users == 0:
            bpy.data.materials.remove(mat)
    if scene.world is not None:
        _remove_world(scene)
    bpy.data.scenes.remove(scene)


def _remove_world(scene):
    import bpy

    world = scene.world
    images = [n.image for n in world.node_tree.nodes if n.bl_idname == "ShaderNodeTexEnvironment"]
    scene.world = None
    bpy.data.worlds.remove(world)
    for image in images:
        if image is not None and image.users == 0:
            bpy.data.images.remove(image)


def sphere_passes(size: int, scale: float):
    """Analytic camera-space normals and coverage of the unit sphere, pixel centres."""
    c = ((np.arange(size) + 0.5) / size - 0.5) * scale
    x, z = np.meshgrid(c, -c)
    r2 = x * x + z * z
    depth = np.sqrt(np.maximum(1.0 - r2, 0.0))
    normal = np.stack([x, z, depth], axis=-1).astype(np.float32)
    return normal, np.sqrt(r2)


def sphere_positions(normal: np.ndarray) -> np.ndarray:
    """World positions of the visible points of the unit sphere at the origin."""
    return lighting.camera_to_world(normal).astype(np.float32)


def masked_psnr(reference: np.ndarray, test: np.ndarray, mask: np.ndarray) -> float:
    """PSNR over ``mask`` with the reference's peak in the mask as the signal."""
    ref, out = reference[mask], test[mask]
    peak = float(ref.max())
    mse = float(np.mean((ref - out) ** 2))
    return 10.0 * math.log10(peak * peak / max(mse, 1e-20))


def render_cases(cases, samples: int = SAMPLES) -> list:
    """Cycles renders (H x W x 4 linear RGBA) of ``(hdri, rotation, colour, rough, F0)`` cases."""
    folder = _studiolights_dir()
    scene = _new_scene("relit_render_vs_cycles")
    scene.cycles.samples = samples
    _add_camera(scene)
    principled = _add_sphere(scene)
    out = []
    with tempfile.TemporaryDirectory(prefix="relit-cycles-") as tmp:
        for i, (name, rotation, colour, rough, f0) in enumerate(cases):
            mapping = _add_world(scene, folder / f"{name}.exr")
            mapping.inputs["Rotation"].default_value = (0.0, 0.0, math.radians(rotation))
            principled.inputs["Base Color"].default_value = (*colour, 1.0)
            principled.inputs["Roughness"].default_value = rough
            principled.inputs["IOR"].default_value = 1.5
            principled.inputs["Specular IOR Level"].default_value = f0 / 0.08
            out.append(_render(scene, Path(tmp) / f"case{i}.exr"))
            _remove_world(scene)
    _remove(scene)
    return out


def sphere_material(colour, rough: float, f0: float) -> tuple[Passes, np.ndarray]:
    """The sphere's passes in one material (its albedo standing in for the source image), and
    its radius map."""
    normal, radius = sphere_passes(SIZE, ORTHO_SCALE)
    albedo = np.broadcast_to(np.float32(colour), normal.shape)
    return Passes(rgb=albedo, alpha=(radius < 1.0).astype(np.float32), normal=normal,
                  albedo=albedo, roughness=np.full(radius.shape, rough, np.float32),
                  reflectivity=np.full(radius.shape, f0, np.float32)), radius


def relit_sphere(case, search_dirs=None, rotation=None) -> render.RelitImage:
    """inference.render's image of a case, for the same pixels as the Cycles render."""
    name, rot, colour, rough, f0 = case
    passes, _ = sphere_material(colour, rough, f0)
    light = render.HdriLight(name, rotation=rot if rotation is None else rotation,
                             search_dirs=search_dirs)
    return render.cook_torrance(passes, light)


LIGHTS = [
    render.PointLight(position=(2.0, -3.0, 2.0), power=400.0, color=(1.0, 0.9, 0.8)),
    render.SunLight(direction=(-0.5, 0.6, -0.4), strength=1.5, color=(0.7, 0.8, 1.0)),
    render.AreaLight(position=(-2.5, -2.0, -1.0), direction=(2.5, 2.0, 1.0), power=300.0,
                     size=0.4),
]
LIGHT_MATERIAL = ((0.7, 0.6, 0.5), 0.4, 0.05)


def _add_light(scene, light):
    import bpy
    from mathutils import Vector

    if isinstance(light, render.PointLight):
        data = bpy.data.lights.new("relit_test_point", "POINT")
        data.energy, data.shadow_soft_size = light.power, 0.0
    elif isinstance(light, render.SunLight):
        data = bpy.data.lights.new("relit_test_sun", "SUN")
        data.energy, data.angle = light.strength, 0.0
    else:
        data = bpy.data.lights.new("relit_test_area", "AREA")
        data.energy, data.size, data.shape = light.power, light.size, "SQUARE"
    data.color = tuple(light.color)
    obj = bpy.data.objects.new(data.name, data)
    if not isinstance(light, render.SunLight):
        obj.location = tuple(light.position)
    if not isinstance(light, render.PointLight):
        obj.rotation_euler = Vector(light.direction).to_track_quat("-Z", "Y").to_euler()
    scene.collection.objects.link(obj)


def render_lights(lights, material, samples: int = SAMPLES) -> np.ndarray:
    """Cycles render (H x W x 4) of the sphere lit by Blender lights only (black world)."""
    scene = _new_scene("relit_render_lights")
    scene.cycles.samples = samples
    _add_camera(scene)
    principled = _add_sphere(scene)
    colour, rough, f0 = material
    principled.inputs["Base Color"].default_value = (*colour, 1.0)
    principled.inputs["Roughness"].default_value = rough
    principled.inputs["Specular IOR Level"].default_value = f0 / 0.08
    for light in lights:
        _add_light(scene, light)
    with tempfile.TemporaryDirectory(prefix="relit-cycles-") as tmp:
        image = _render(scene, Path(tmp) / "lights.exr")
    _remove(scene)
    return image


@pytest.fixture(scope="module")
def cycles_renders():
    return render_cases(CASES)


@pytest.mark.parametrize("case", range(len(CASES)))
def test_sphere_matches_cycles(cycles_renders, case):
    name, rotation, colour, rough, f0 = CASES[case]
    reference = cycles_renders[case]
    _, radius = sphere_passes(SIZE, ORTHO_SCALE)
    ours = relit_sphere(CASES[case], [str(_studiolights_dir())])
    mask = (radius < 1.0 - 1.5 * ORTHO_SCALE / SIZE) & (reference[..., 3] >= 0.999)
    assert mask.sum() > 0.5 * np.pi * (SIZE / ORTHO_SCALE) ** 2
    psnr = masked_psnr(reference[..., :3], ours.rgb, mask)
    ratio = float(ours.rgb[mask].mean() / reference[..., :3][mask].mean())
    print(f"\n{name} rot {rotation:+.0f} colour {colour} roughness {rough} F0 {f0}: "
          f"PSNR {psnr:.2f} dB, mean ours/cycles {ratio:.4f}")
    assert psnr >= 30.0


def test_mapping_rotation_sign_matches_cycles(cycles_renders):
    """The rotated world differs from the unrotated one; only the documented sign fits."""
    reference = cycles_renders[0]
    rotation = CASES[0][1]
    _, radius = sphere_passes(SIZE, ORTHO_SCALE)
    mask = (radius < 0.9) & (reference[..., 3] >= 0.999)
    dirs = [str(_studiolights_dir())]
    good = masked_psnr(reference[..., :3], relit_sphere(CASES[0], dirs).rgb, mask)
    bad = masked_psnr(reference[..., :3], relit_sphere(CASES[0], dirs, -rotation).rgb, mask)
    print(f"\nrotation {rotation:+.0f}: PSNR {good:.2f} dB, opposite sign {bad:.2f} dB")
    assert good > bad + 6.0


def test_sphere_under_blender_lights_matches_cycles():
    """Point (W), sun (W/m^2) and area (W) lights: units, falloff and BRDF against Cycles."""
    reference = render_lights(LIGHTS, LIGHT_MATERIAL)
    passes, radius = sphere_material(*LIGHT_MATERIAL)
    ours = render.cook_torrance(passes, LIGHTS, render.RenderOptions(area_samples=8),
                                position=sphere_positions(passes.normal))
    mask = (radius < 1.0 - 1.5 * ORTHO_SCALE / SIZE) & (reference[..., 3] >= 0.999)
    psnr = masked_psnr(reference[..., :3], ours.rgb, mask)
    ratio = float(ours.rgb[mask].mean() / reference[..., :3][mask].mean())
    print(f"\npoint + sun + area lights: PSNR {psnr:.2f} dB, mean ours/cycles {ratio:.4f}")
    assert psnr >= 30.0

