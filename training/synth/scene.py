"""The factory's Blender scene, built with the data API: head, hair, garment, accessories,
backdrop, camera, world and lights, plus the render passes and shader AOVs of the ground truth.

One ``SynthScene`` lives in a worker process and is re-dressed for every sample (``dress``),
then lit and rendered twice (``light`` + ``render``): lighting A, then lighting B with the same
geometry, so Cycles' persistent data keeps the BVH and textures between the two renders.

Ground truth written per pixel by every subject material (shader AOVs, first camera hit,
pixel-filtered like the image, so they are premultiplied by coverage):
``albedo`` (the Base Color fed to the BSDF), ``roughness``, ``reflectivity`` (F0; the BSDF gets
``Specular IOR Level = F0 / 0.08`` at IOR 1.5), ``normal`` (world-space shading normal) and
``alpha`` (1 on the subject). ``face`` is 1 on the head's skin and 0.5 on its eyes, mouth
interior, brows and lashes (so ``face > 0.99`` is skin, ``face >= 0.5`` the whole face). The
backdrop writes none of them, so it is background. Subject materials are opaque: Cycles writes
AOVs on every surface a camera ray meets until an opaque one, so transparency would double them.
"""
from __future__ import annotations

import math
from pathlib import Path

import bpy
import numpy as np
from mathutils import Matrix, Vector

from . import body, hair, ict, lights, params as P, textures

AOVS = (("albedo", "COLOR"), ("normal", "COLOR"), ("roughness", "VALUE"),
        ("reflectivity", "VALUE"), ("alpha", "VALUE"), ("face", "VALUE"))
SENSOR_MM = 36.0
SSS_RADIUS = (1.0, 0.35, 0.2)
# mesh slots of the head: model material -> Blender material slot (None: not rendered)
HEAD_SLOTS = {ict.M_FACE: 0, ict.M_BACKHEAD: 1, ict.M_GUMS: 2, ict.M_TEETH: 3,
              ict.M_IRIS_L: 4, ict.M_IRIS_R: 4}


def studiolights_dir() -> Path:
    return Path(bpy.utils.system_resource("DATAFILES", path="studiolights/world"))


# --------------------------------------------------------------------- node helpers

class Tree:
    """Small helper around a material's node tree."""

    def __init__(self, material):
        self.mat = material
        self.nodes = material.node_tree.nodes
        self.links = material.node_tree.links
        self.bsdf = next(n for n in self.nodes if n.bl_idname == "ShaderNodeBsdfPrincipled")

    def node(self, kind: str, **props):
        n = self.nodes.new(kind)
        for k, v in props.items():
            setattr(n, k, v)
        return n

    def link(self, a, b):
        self.links.new(a, b)

    def rgb(self, value=(0.5, 0.5, 0.5)):
        n = self.node("ShaderNodeRGB")
        n.outputs[0].default_value = (*value, 1.0)
        return n

    def value(self, v=0.5):
        n = self.node("ShaderNodeValue")
        n.outputs[0].default_value = v
        return n

    def math(self, op: str, a, b):
        n = self.node("ShaderNodeMath", operation=op)
        for i, x in enumerate((a, b)):
            if isinstance(x, (int, float)):
                n.inputs[i].default_value = x
            else:
                self.link(x, n.inputs[i])
        return n.outputs[0]

    def aov(self, name: str, socket=None, value=None):
        n = self.node("ShaderNodeOutputAOV", aov_name=name)
        key = "Color" if dict(AOVS)[name] == "COLOR" else "Value"
        if socket is not None:
            self.link(socket, n.inputs[key])
        elif key == "Color":
            n.inputs[key].default_value = (*value, 1.0)
        else:
            n.inputs[key].default_value = value
        return n


def _subject_material(name: str, face: float = 0.0):
    """Principled material whose inputs come from Base/Roughness/F0 sockets, with the AOVs.

    Returns (tree, base_socket_target, rough_socket_target, f0_socket_target) builders:
    callers link their sources through ``wire``.
    """
    mat = bpy.data.materials.new(name)
    tree = Tree(mat)
    tree.bsdf.inputs["IOR"].default_value = 1.5
    geometry = tree.node("ShaderNodeNewGeometry")
    tree.aov("normal", geometry.outputs["Normal"])
    tree.aov("alpha", value=1.0)
    tree.aov("face", value=float(face))
    return tree


def _wire(tree: Tree, base, rough, f0):
    """Feed base colour, roughness and F0 sockets to the BSDF and to the AOVs."""
    tree.link(base, tree.bsdf.inputs["Base Color"])
    tree.link(rough, tree.bsdf.inputs["Roughness"])
    tree.link(tree.math("DIVIDE", f0, 0.08), tree.bsdf.inputs["Specular IOR Level"])
    tree.aov("albedo", base)
    tree.aov("roughness", rough)
    tree.aov("reflectivity", f0)


class ConstantMaterial:
    """A subject material of uniform albedo, roughness and F0."""

    def __init__(self, name: str, face: float = 0.0):
        self.tree = _subject_material(name, face)
        self.base, self.rough, self.f0 = self.tree.rgb(), self.tree.value(), self.tree.value()
        _wire(self.tree, self.base.outputs[0], self.rough.outputs[0], self.f0.outputs[0])

    @property
    def material(self):
        return self.tree.mat

    def set(self, albedo, roughness, f0):
        self.base.outputs[0].default_value = (*albedo, 1.0)
        self.rough.outputs[0].default_value = float(roughness)
        self.f0.outputs[0].default_value = float(f0)


def _float_image(name: str, size: int, data: bool):
    img = bpy.data.images.new(name, size, size, alpha=False, float_buffer=True)
    img.colorspace_settings.name = "Non-Color" if data else "Linear Rec.709"
    return img


def set_pixels(image, rgb: np.ndarray):
    """Write an (S, S, 3) top-row-first float image into a Blender image (bottom-up RGBA)."""
    h, w = rgb.shape[:2]
    rgba = np.ones((h, w, 4), np.float32)
    rgba[..., :3] = rgb[::-1]
    image.pixels.foreach_set(rgba.ravel())
    image.update()


class TexturedMaterial:
    """A subject material whose albedo and (roughness, F0) come from two UV images."""

    def __init__(self, name: str, size: int, face: float, sss: bool, repeat: bool = False):
        self.tree = t = _subject_material(name, face)
        self.albedo_img = _float_image(f"{name}_albedo", size, data=False)
        self.spec_img = _float_image(f"{name}_spec", size, data=True)
        uv = t.node("ShaderNodeUVMap", uv_map="UVMap")
        ext = "REPEAT" if repeat else "EXTEND"
        a = t.node("ShaderNodeTexImage", image=self.albedo_img, interpolation="Linear",
                   extension=ext)
        s = t.node("ShaderNodeTexImage", image=self.spec_img, interpolation="Linear",
                   extension=ext)
        t.link(uv.outputs["UV"], a.inputs["Vector"])
        t.link(uv.outputs["UV"], s.inputs["Vector"])
        sep = t.node("ShaderNodeSeparateColor")
        t.link(s.outputs["Color"], sep.inputs["Color"])
        _wire(t, a.outputs["Color"], sep.outputs[0], sep.outputs[1])
        if sss:
            t.bsdf.subsurface_method = "BURLEY"
            t.bsdf.inputs["Subsurface Weight"].default_value = 1.0
            t.bsdf.inputs["Subsurface Radius"].default_value = SSS_RADIUS

    @property
    def material(self):
        return self.tree.mat

    def set(self, albedo: np.ndarray, spec: np.ndarray, sss_scale: float | None = None):
        set_pixels(self.albedo_img, albedo)
        set_pixels(self.spec_img, spec)
        if sss_scale is not None:
            self.tree.bsdf.inputs["Subsurface Scale"].default_value = float(sss_scale)


class PatternMaterial:
    """Procedural two-colour pattern (cloth or backdrop) in object coordinates."""

    def __init__(self, name: str, subject: bool):
        mat = bpy.data.materials.new(name)
        self.tree = t = Tree(mat) if not subject else _subject_material(name)
        t.bsdf.inputs["IOR"].default_value = 1.5
        coords = t.node("ShaderNodeTexCoord")
        self.mapping = t.node("ShaderNodeMapping", vector_type="POINT")
        t.link(coords.outputs["Object"], self.mapping.inputs["Vector"])
        vec = self.mapping.outputs["Vector"]
        self.a, self.b = t.rgb(), t.rgb()
        self.rough, self.f0 = t.value(), t.value()
        self.factors = {}
        noise = t.node("ShaderNodeTexNoise")
        noise.inputs["Detail"].default_value = 4.0
        t.link(vec, noise.inputs["Vector"])
        self.factors["noise"] = noise.outputs["Fac"]
        vor = t.node("ShaderNodeTexVoronoi")
        t.link(vec, vor.inputs["Vector"])
        self.factors["voronoi"] = vor.outputs["Distance"]
        wave = t.node("ShaderNodeTexWave", wave_profile="SIN")
        wave.inputs["Distortion"].default_value = 0.5
        t.link(vec, wave.inputs["Vector"])
        self.factors["waves"] = wave.outputs["Fac"]
        self.factors["stripes"] = wave.outputs["Fac"]
        checker = t.node("ShaderNodeTexChecker")
        t.link(vec, checker.inputs["Vector"])
        self.factors["checker"] = checker.outputs["Fac"]
        self.factors["checks"] = checker.outputs["Fac"]
        brick = t.node("ShaderNodeTexBrick")
        t.link(vec, brick.inputs["Vector"])
        self.factors["bricks"] = brick.outputs["Fac"]
        grad = t.node("ShaderNodeTexGradient")
        t.link(vec, grad.inputs["Vector"])
        self.factors["gradient"] = grad.outputs["Fac"]
        knit = t.node("ShaderNodeTexWave", wave_type="BANDS", bands_direction="Z")
        knit.inputs["Distortion"].default_value = 2.0
        knit.inputs["Detail"].default_value = 3.0
        t.link(vec, knit.inputs["Vector"])
        self.factors["knit"] = knit.outputs["Fac"]
        self.mix = t.node("ShaderNodeMix", data_type="RGBA")
        t.link(self.a.outputs[0], self.mix.inputs["A"])
        t.link(self.b.outputs[0], self.mix.inputs["B"])
        self.subject = subject
        if subject:
            _wire(t, self.mix.outputs["Result"], self.rough.outputs[0], self.f0.outputs[0])
        else:
            t.link(self.mix.outputs["Result"], t.bsdf.inputs["Base Color"])
            t.link(self.rough.outputs[0], t.bsdf.inputs["Roughness"])
            t.link(t.math("DIVIDE", self.f0.outputs[0], 0.08),
                   t.bsdf.inputs["Specular IOR Level"])

    @property
    def material(self):
        return self.tree.mat

    def set(self, pattern: str, albedo_a, albedo_b, scale: float, roughness: float,
            f0: float, rotation=(0.0, 0.0, 0.0)):
        self.a.outputs[0].default_value = (*albedo_a, 1.0)
        self.b.outputs[0].default_value = (*albedo_b, 1.0)
        self.rough.outputs[0].default_value = float(roughness)
        self.f0.outputs[0].default_value = float(f0)
        self.mapping.inputs["Scale"].default_value = (scale, scale, scale)
        self.mapping.inputs["Rotation"].default_value = rotation
        for link in list(self.mix.inputs["Factor"].links):
            self.tree.links.remove(link)
        if pattern == "solid":
            self.mix.inputs["Factor"].default_value = 0.0
        else:
            self.tree.link(self.factors[pattern], self.mix.inputs["Factor"])


# --------------------------------------------------------------------- geometry helpers

def _mesh_from(name: str, verts: np.ndarray, faces: np.ndarray, uvs=None, smooth=True):
    mesh = bpy.data.meshes.new(name)
    mesh.vertices.add(len(verts))
    mesh.vertices.foreach_set("co", np.asarray(verts, np.float32).ravel())
    n = faces.shape[1]
    mesh.loops.add(faces.size)
    mesh.loops.foreach_set("vertex_index", faces.astype(np.int32).ravel())
    mesh.polygons.add(len(faces))
    mesh.polygons.foreach_set("loop_start", (np.arange(len(faces)) * n).astype(np.int32))
    if uvs is not None:
        layer = mesh.uv_layers.new(name="UVMap")
        layer.data.foreach_set("uv", np.asarray(uvs, np.float32).ravel())
    mesh.update()
    if smooth:
        mesh.shade_smooth()
    return mesh


def _curves_from(name: str, strands: np.ndarray, root_radius: float, tip_ratio: float = 0.3):
    """Hair-curves datablock of (N, K, 3) world points with radius tapering to the tip."""
    n, k = strands.shape[:2]
    curves = bpy.data.hair_curves.new(name)
    curves.add_curves([k] * n)
    curves.position_data.foreach_set("vector", strands.astype(np.float32).ravel())
    radius = root_radius * np.linspace(1.0, tip_ratio, k, dtype=np.float32)
    attr = curves.attributes.new("radius", "FLOAT", "POINT")
    attr.data.foreach_set("value", np.tile(radius, n))
    return curves


def _rotation_y(deg: float) -> np.ndarray:
    return ict.rotation_matrix((0, 1, 0), deg)


# --------------------------------------------------------------------- the scene

class SynthScene:
    """A factory scene in its own ``bpy`` scene; ``close()`` removes everything it made."""

    def __init__(self, res: int = 256, samples: int = 32, threads: int = 1,
                 ict_dir: str | None = None, name: str = "relit_synth",
                 denoise: bool = True, adaptive_threshold: float = 0.03):
        self.res, self.ict_dir = res, (str(ict_dir) if ict_dir else None)
        self.model = ict.load_ict(self.ict_dir)
        self._made: list = []
        self.scene = s = bpy.data.scenes.new(name)
        self._settings(samples, threads, denoise, adaptive_threshold)
        self._passes()
        self._camera()
        self._world()
        self._materials()
        self._head()
        self._compositor()
        self.objects: dict[str, object] = {}
        self.light_objects: list = []
        self.view_layer = s.view_layers[0]

    # ---------------------------------------------------------------- setup
    def _settings(self, samples, threads, denoise, adaptive_threshold):
        s = self.scene
        r = s.render
        r.engine = "CYCLES"
        r.resolution_x = r.resolution_y = self.res
        r.resolution_percentage = 100
        r.film_transparent = False
        r.threads_mode = "FIXED"
        r.threads = int(threads)
        r.use_persistent_data = True
        r.use_compositing = False
        r.use_sequencer = False
        c = s.cycles
        c.device = "CPU"
        c.samples = int(samples)
        c.use_adaptive_sampling = adaptive_threshold > 0
        c.adaptive_threshold = max(adaptive_threshold, 0.0)
        c.adaptive_min_samples = 0
        c.use_denoising = bool(denoise)
        c.denoiser = "OPENIMAGEDENOISE"
        c.denoising_input_passes = "RGB_ALBEDO_NORMAL"
        c.denoising_prefilter = "ACCURATE"
        c.denoising_quality = "HIGH"
        c.max_bounces = 6
        c.diffuse_bounces = 2
        c.glossy_bounces = 2
        c.transmission_bounces = 2
        c.transparent_max_bounces = 4
        c.volume_bounces = 0
        c.caustics_reflective = False
        c.caustics_refractive = False
        c.sample_clamp_indirect = 10.0
        c.use_animated_seed = False
        c.use_auto_tile = False
        s.cycles_curves.shape = "THICK"
        s.cycles_curves.subdivisions = 2
        vs = s.view_settings
        vs.view_transform = "Standard"
        vs.look = "None"
        vs.exposure = 0.0
        vs.gamma = 1.0
        s.display_settings.display_device = "sRGB"
        im = r.image_settings
        im.media_type = "MULTI_LAYER_IMAGE"
        im.file_format = "OPEN_EXR_MULTILAYER"
        im.color_depth = "32"
        im.exr_codec = "ZIP"
        im.color_mode = "RGBA"

    def _passes(self):
        vl = self.scene.view_layers[0]
        for flag in ("use_pass_combined", "use_pass_z", "use_pass_normal",
                     "use_pass_diffuse_direct", "use_pass_diffuse_indirect",
                     "use_pass_diffuse_color", "use_pass_glossy_direct",
                     "use_pass_glossy_indirect", "use_pass_glossy_color"):
            setattr(vl, flag, True)
        for name, kind in AOVS:
            aov = vl.aovs.add()
            aov.name, aov.type = name, kind

    def _compositor(self):
        """Denoise the ground-truth light passes (OIDN, guided by the Normal pass) and write
        them to their own EXR: ``shading`` = Diffuse Direct + Indirect, ``specular`` = (Glossy
        Direct + Indirect) * Glossy Color. Runs for render A only (``render(gt_dir=...)``)."""
        tree = bpy.data.node_groups.new("relit_synth_compositor", "CompositorNodeTree")
        self.scene.compositing_node_group = tree
        self._made.append(tree)
        rl = tree.nodes.new("CompositorNodeRLayers")
        rl.scene = self.scene

        def mix(blend, a, b):
            node = tree.nodes.new("ShaderNodeMix")
            node.data_type, node.blend_type = "RGBA", blend
            node.inputs["Factor"].default_value = 1.0
            tree.links.new(a, node.inputs["A"])
            tree.links.new(b, node.inputs["B"])
            return node.outputs["Result"]

        def denoise(image):
            node = tree.nodes.new("CompositorNodeDenoise")
            node.inputs["Prefilter"].default_value = "Fast"
            tree.links.new(image, node.inputs["Image"])
            tree.links.new(rl.outputs["Normal"], node.inputs["Normal"])
            return node.outputs["Image"]

        out = tree.nodes.new("CompositorNodeOutputFile")
        out.file_name = "gt"
        fmt = out.format
        fmt.media_type = "MULTI_LAYER_IMAGE"
        fmt.file_format = "OPEN_EXR_MULTILAYER"
        fmt.color_depth = "32"
        fmt.exr_codec = "ZIP"
        shading = mix("ADD", rl.outputs["Diffuse Direct"], rl.outputs["Diffuse Indirect"])
        glossy = mix("MULTIPLY", mix("ADD", rl.outputs["Glossy Direct"],
                                     rl.outputs["Glossy Indirect"]), rl.outputs["Glossy Color"])
        for name, socket in (("shading", denoise(shading)), ("specular", denoise(glossy))):
            out.file_output_items.new("RGBA", name)
            tree.links.new(socket, out.inputs[name])
        self.gt_output = out

    def _camera(self):
        cam = bpy.data.cameras.new("relit_synth_cam")
        cam.sensor_fit = "AUTO"
        cam.sensor_width = SENSOR_MM
        cam.clip_start, cam.clip_end = 0.02, 200.0
        obj = bpy.data.objects.new("relit_synth_cam", cam)
        obj.rotation_euler = (math.pi / 2, 0.0, 0.0)   # relight scene: looking along +Y, Z up
        self.scene.collection.objects.link(obj)
        self.scene.camera = obj
        self.camera = obj
        self._made += [obj, cam]

    def _world(self):
        world = bpy.data.worlds.new("relit_synth_world")
        self.scene.world = world
        nodes, links = world.node_tree.nodes, world.node_tree.links
        # a fixed, small importance map: the automatic one (the HDRI's own 1024 x 512) costs
        # shader evaluation every time the world changes, i.e. twice per sample
        world.cycles.sampling_method = "MANUAL"
        world.cycles.sample_map_resolution = 256
        self.background = next(n for n in nodes if n.bl_idname == "ShaderNodeBackground")
        self.env = nodes.new("ShaderNodeTexEnvironment")
        coords = nodes.new("ShaderNodeTexCoord")
        self.env_mapping = nodes.new("ShaderNodeMapping")
        self.env_mapping.vector_type = "POINT"
        links.new(coords.outputs["Generated"], self.env_mapping.inputs["Vector"])
        links.new(self.env_mapping.outputs["Vector"], self.env.inputs["Vector"])
        links.new(self.env.outputs["Color"], self.background.inputs["Color"])
        self.hdri_images = {}
        self._made.append(world)

    def _hdri(self, name: str):
        if name not in self.hdri_images:
            self.hdri_images[name] = bpy.data.images.load(str(studiolights_dir() / f"{name}.exr"))
            self._made.append(self.hdri_images[name])
        return self.hdri_images[name]

    def _materials(self):
        size = textures.TEX_SIZE
        self.m_face = TexturedMaterial("relit_synth_skin_face", size, face=1.0, sss=True)
        self.m_back = TexturedMaterial("relit_synth_skin_head", size, face=1.0, sss=True,
                                       repeat=True)
        self.m_gums = ConstantMaterial("relit_synth_gums", face=0.5)
        self.m_teeth = ConstantMaterial("relit_synth_teeth", face=0.5)
        self.m_eye = TexturedMaterial("relit_synth_eye", textures.EYE_TEX_SIZE, face=0.5,
                                      sss=False)
        self.m_hair = ConstantMaterial("relit_synth_hair")
        self.m_brows = ConstantMaterial("relit_synth_brows", face=0.5)
        self.m_lashes = ConstantMaterial("relit_synth_lashes", face=0.5)
        self.m_cloth = PatternMaterial("relit_synth_cloth", subject=True)
        self.m_glasses = ConstantMaterial("relit_synth_glasses")
        self.m_lens = ConstantMaterial("relit_synth_lens")
        self.m_occluder = ConstantMaterial("relit_synth_occluder")
        self.m_backdrop = PatternMaterial("relit_synth_backdrop", subject=False)
        for m in (self.m_face, self.m_back, self.m_gums, self.m_teeth, self.m_eye, self.m_hair,
                  self.m_brows, self.m_lashes, self.m_cloth, self.m_glasses, self.m_lens,
                  self.m_occluder, self.m_backdrop):
            self._made.append(m.material)
        for m in (self.m_face, self.m_back, self.m_eye):
            self._made += [m.albedo_img, m.spec_img]

    def _head(self):
        m = self.model
        sizes = np.diff(m.poly_offsets)
        keep = np.isin(m.poly_material, list(HEAD_SLOTS))
        corner_keep = np.repeat(keep, sizes)
        mesh = bpy.data.meshes.new("relit_synth_head")
        mesh.vertices.add(m.n_vertices)
        mesh.vertices.foreach_set("co", ict.to_blender(m.vertices).ravel())
        corners = m.poly_vertices[corner_keep]
        mesh.loops.add(len(corners))
        mesh.loops.foreach_set("vertex_index", corners.astype(np.int32))
        kept = sizes[keep]
        mesh.polygons.add(len(kept))
        mesh.polygons.foreach_set("loop_start",
                                  np.concatenate([[0], np.cumsum(kept)[:-1]]).astype(np.int32))
        slots = np.array([HEAD_SLOTS[int(x)] for x in m.poly_material[keep]], np.int32)
        mesh.polygons.foreach_set("material_index", slots)
        layer = mesh.uv_layers.new(name="UVMap")
        layer.data.foreach_set("uv", m.poly_uvs[corner_keep].ravel())
        mesh.update()
        mesh.shade_smooth()
        for mat in (self.m_face, self.m_back, self.m_gums, self.m_teeth, self.m_eye):
            mesh.materials.append(mat.material)
        obj = bpy.data.objects.new("relit_synth_head", mesh)
        self.scene.collection.objects.link(obj)
        self.head = obj
        self._made += [obj, mesh]

    # ---------------------------------------------------------------- per sample
    def _replace(self, key: str, data, material, visible_rays: bool = True):
        """Swap in a new object (mesh or curves) for ``key``; None removes it."""
        old = self.objects.pop(key, None)
        if old is not None:
            old_data = old.data
            bpy.data.objects.remove(old)
            if old_data is not None and old_data.users == 0:
                (bpy.data.meshes if old_data.id_type == "MESH"
                 else bpy.data.hair_curves).remove(old_data)
        if data is None:
            return None
        data.materials.append(material)
        obj = bpy.data.objects.new(f"relit_synth_{key}", data)
        if not visible_rays:
            for ray in ("visible_diffuse", "visible_glossy", "visible_transmission",
                        "visible_volume_scatter", "visible_shadow"):
                setattr(obj, ray, False)
        self.scene.collection.objects.link(obj)
        self.objects[key] = obj
        return obj

    def dress(self, prm: dict) -> dict:
        """Build the subject, backdrop and camera of a sample. Returns geometry facts (world
        metres): head centre, face landmarks, camera position, in ``info``."""
        m = self.model
        ident = prm["identity"]["coefficients"]
        verts = ict.deform(m, ident, P.expression_vector(prm["expression"]))
        pose = prm["pose"]
        r_body = _rotation_y(pose["body_yaw"])
        r_head = ict.head_rotation(pose["yaw"], pose["pitch"], pose["roll"])
        r_rel = r_body.T @ r_head
        posed = ict.pose(verts, r_rel, ict.neck_weights(verts))

        def world(p):
            return ict.to_blender(np.asarray(p) @ r_body.T)

        self.head.data.vertices.foreach_set("co", world(posed).ravel())
        self.head.data.update()
        # textures
        tex = textures.skin_textures(prm, self.ict_dir)
        skin = prm["skin"]
        self.m_face.set(tex[0]["albedo"], tex[0]["spec"], skin["sss_scale"])
        self.m_back.set(tex[1]["albedo"], tex[1]["spec"], skin["sss_scale"])
        eyes = prm["eyes"]
        eye_alb = textures.eye_texture(prm)
        eye_spec = np.zeros_like(eye_alb)
        eye_spec[..., 0], eye_spec[..., 1] = eyes["roughness"], eyes["f0"]
        self.m_eye.set(eye_alb, eye_spec)
        self.m_teeth.set(eyes["teeth"], eyes["teeth_roughness"], 0.04)
        self.m_gums.set(eyes["gums"], 0.3, 0.03)
        # hair
        hp = prm["hair"]
        shape = hair.head_shape(verts, r_rel)
        garment, shoulders = body.torso(posed, m, prm["clothing"])
        strands = hair.grow_scalp_hair(m, verts, shape, hp, shoulders)
        if len(strands):
            self.m_hair.set(hp["albedo"], hp["roughness"], hp["f0"])
            pts = world(strands.reshape(-1, 3)).reshape(strands.shape)
            self._replace("hair", _curves_from("relit_synth_hair", pts,
                                               hp["strand_radius_mm"] * 1e-3), self.m_hair.material)
        else:
            self._replace("hair", None, None)
        brows = hair.grow_brows(m, verts, shape, hp["brows"], hp["seed"], self.ict_dir)
        self.m_brows.set(hp["brows"]["albedo"], 0.4, 0.045)
        self._replace("brows", _curves_from("relit_synth_brows",
                                            world(brows.reshape(-1, 3)).reshape(brows.shape),
                                            0.075e-3, 0.4), self.m_brows.material)
        lashes = hair.grow_lashes(m, posed, shape, hp["lashes"], hp["seed"])
        self.m_lashes.set(hp["lashes"]["albedo"], 0.35, 0.045)
        self._replace("lashes", _curves_from("relit_synth_lashes",
                                             world(lashes.reshape(-1, 3)).reshape(lashes.shape),
                                             0.05e-3, 0.3), self.m_lashes.material)
        # garment
        cloth = prm["clothing"]
        self.m_cloth.set(cloth["pattern"], cloth["albedo_a"], cloth["albedo_b"], cloth["scale"],
                         cloth["roughness"], cloth["f0"])
        self._replace("garment", _mesh_from("relit_synth_garment", world(garment.vertices),
                                            garment.faces, garment.uvs), self.m_cloth.material)
        # accessories (built on the unposed head, then posed rigidly with it)
        acc = prm["accessories"]
        g = acc["glasses"]
        if g is not None:
            frames, lens = body.glasses(verts, m, g)
            rigid = (frames.vertices - ict.HEAD_PIVOT) @ r_rel.T + ict.HEAD_PIVOT
            self.m_glasses.set(g["albedo"], g["roughness"], g["f0"])
            self._replace("glasses", _mesh_from("relit_synth_glasses", world(rigid),
                                                frames.faces), self.m_glasses.material)
            if lens is not None:
                rl = (lens.vertices - ict.HEAD_PIVOT) @ r_rel.T + ict.HEAD_PIVOT
                self.m_lens.set((0.01, 0.01, 0.012), 0.05, 0.045)
                self._replace("lens", _mesh_from("relit_synth_lens", world(rl), lens.faces),
                              self.m_lens.material)
            else:
                self._replace("lens", None, None)
        else:
            self._replace("glasses", None, None)
            self._replace("lens", None, None)
        lm_body = posed[m.landmarks68]
        face_centre_body = lm_body.mean(axis=0)
        occ = acc["occluder"]
        if occ is not None:
            mesh = body.occluder(occ, face_centre_body)
            self.m_occluder.set(occ["albedo"], occ["roughness"], occ["f0"])
            self._replace("occluder", _mesh_from("relit_synth_occluder", world(mesh.vertices),
                                                 mesh.faces), self.m_occluder.material)
        else:
            self._replace("occluder", None, None)
        # facts in the world
        head_centre_body = (shape.skull_centre - ict.HEAD_PIVOT) @ r_rel.T + ict.HEAD_PIVOT
        info = {
            "head_centre": world(head_centre_body).tolist(),
            "face_centre": world(face_centre_body).tolist(),
            "landmarks68_world": world(lm_body).tolist(),
        }
        info.update(self._place_camera(prm["camera"], np.asarray(info["face_centre"])))
        self._backdrop(prm["background"], info)
        return info

    def _place_camera(self, cam: dict, face_centre: np.ndarray) -> dict:
        data = self.camera.data
        data.lens = cam["focal_mm"]
        extent = cam["extent"]
        distance = cam["focal_mm"] / SENSOR_MM * extent
        target = face_centre.copy()
        target[2] -= 0.55 * max(extent - 0.26, 0.0)
        target[[0, 2]] += np.asarray(cam["aim_jitter"]) * extent
        data.shift_x, data.shift_y = cam["shift"]
        position = target - np.array([0.0, distance, 0.0])
        self.camera.location = Vector(position.tolist())
        return {"camera_position": position.tolist(), "camera_distance": float(distance),
                "camera_target": target.tolist()}

    def _backdrop(self, bg: dict, info: dict):
        if bg["kind"] != "plane":
            self._replace("backdrop", None, None)
            return
        cam_pos = np.asarray(info["camera_position"])
        head = np.asarray(info["head_centre"])
        dist = float(head[1] - cam_pos[1] + bg["distance"])
        half = dist * SENSOR_MM / self.camera.data.lens * 0.5 * 1.6 + 0.3
        verts = np.array([[-half, 0, -half], [half, 0, -half], [half, 0, half], [-half, 0, half]])
        faces = np.array([[0, 1, 2, 3]])
        uvs = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float32)
        mesh = _mesh_from("relit_synth_backdrop", verts, faces, uvs, smooth=False)
        self.m_backdrop.set(bg["pattern"], bg["albedo_a"], bg["albedo_b"], bg["scale"],
                            bg["roughness"], 0.04,
                            rotation=(0.0, 0.0, math.radians(bg["tilt"][0] * 2)))
        obj = self._replace("backdrop", mesh, self.m_backdrop.material, visible_rays=False)
        obj.location = Vector((cam_pos[0], cam_pos[1] + dist, cam_pos[2]))
        obj.rotation_euler = (math.radians(bg["tilt"][1]), 0.0, math.radians(bg["tilt"][0]))

    def light(self, resolved: dict):
        """Set the world and analytic lights of a resolved lighting (``lights.resolve``)."""
        self.env.image = self._hdri(resolved["hdri"])
        self.env_mapping.inputs["Rotation"].default_value = (
            0.0, 0.0, math.radians(resolved["rotation"]))
        self.background.inputs["Strength"].default_value = resolved["world_strength"]
        for obj in self.light_objects:
            data = obj.data
            bpy.data.objects.remove(obj)
            bpy.data.lights.remove(data)
        self.light_objects = []
        for i, spec in enumerate(resolved["lights"]):
            kind = spec["type"].upper()
            data = bpy.data.lights.new(f"relit_synth_light{i}", kind)
            rgb = np.asarray(spec["rgb"], np.float64)
            peak = float(rgb.max())
            data.color = tuple(rgb / peak)
            data.energy = float(spec["power"] * peak)
            if kind == "AREA":
                data.shape = "RECTANGLE"
                data.size, data.size_y = spec["size"], spec["size_y"]
            else:
                data.shadow_soft_size = spec["radius"]
            if kind == "SPOT":
                data.spot_size = math.radians(spec["spot_deg"])
                data.spot_blend = spec["blend"]
            obj = bpy.data.objects.new(data.name, data)
            obj.location = Vector(spec["position"])
            direction = Vector(spec["direction"])
            obj.rotation_euler = direction.to_track_quat("-Z", "Y").to_euler()
            if kind == "AREA":
                # keep the patch layout of lights.area_patches: local X horizontal
                ax, ay = lights._frame(np.asarray(spec["direction"], np.float64))
                rot = Matrix((ax.tolist(), ay.tolist(), (-np.asarray(spec["direction"])).tolist()
                              )).transposed()
                obj.rotation_euler = rot.to_euler()
            obj.visible_camera = False
            self.scene.collection.objects.link(obj)
            self.light_objects.append(obj)

    def render(self, path: str | Path, seed: int, gt_dir: str | Path | None = None,
               keep_data: bool = True):
        """Render to a multi-layer EXR at ``path``; with ``gt_dir``, also write the denoised
        light passes to ``gt_dir/gt.exr``.

        ``keep_data``: keep Cycles' scene (BVH, images) for the next render. The A render of a
        sample keeps it for B; B drops it, so every sample starts from a fresh Cycles scene.
        A BVH updated in place after new geometry gives float results that differ in the
        last bits from a fresh build, and a sample must not depend on the ones before it.
        """
        self.scene.render.use_persistent_data = bool(keep_data)
        self.scene.cycles.seed = int(seed) % (2 ** 31)
        self.scene.render.filepath = str(path)
        self.scene.render.use_compositing = gt_dir is not None
        if gt_dir is not None:
            self.gt_output.directory = str(gt_dir) + "/"
        bpy.ops.render.render(write_still=True, scene=self.scene.name)

    def camera_matrix(self) -> np.ndarray:
        """World-from-camera rotation (3 x 3): columns are the camera's x, y, z axes.

        From ``matrix_basis`` (location/rotation/scale), which is current without a depsgraph
        evaluation; the camera has no parent or constraints."""
        return np.array(self.camera.matrix_basis.to_3x3())

    def close(self):
        """Remove every datablock this scene made."""
        for key in list(self.objects):
            self._replace(key, None, None)
        for obj in self.light_objects:
            data = obj.data
            bpy.data.objects.remove(obj)
            bpy.data.lights.remove(data)
        self.light_objects = []
        for item in self._made:
            try:
                coll = {"OBJECT": bpy.data.objects, "MESH": bpy.data.meshes,
                        "CAMERA": bpy.data.cameras, "WORLD": bpy.data.worlds,
                        "MATERIAL": bpy.data.materials, "IMAGE": bpy.data.images,
                        "NODETREE": bpy.data.node_groups}[item.id_type]
                coll.remove(item)
            except ReferenceError:
                pass
        self._made = []
        bpy.data.scenes.remove(self.scene)
