"""inference.lightspec: rigs, LIGHTS.json and the command-line lighting options (checked
before any work); render's spot light against Cycles' definition; ``--rig key`` at +60°
brightens the image's right side in ``python -m inference relight``."""
import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
from side_balance import side_balance

from inference import cli, images, lighting, lightspec, render
from inference.demo import bust
from inference.errors import InputError
from inference.passes import Passes


def flat(normal=(0.0, 0.0, 1.0), albedo=1.0, f0=0.0, size=8):
    shape = (size, size)
    colour = np.full(shape + (3,), albedo, np.float32)
    return Passes(rgb=colour, alpha=np.ones(shape, np.float32),
                  normal=np.broadcast_to(np.float32(normal), shape + (3,)), albedo=colour,
                  roughness=np.full(shape, 1.0, np.float32),
                  reflectivity=np.full(shape, f0, np.float32))


# ------------------------------------------------------------------ rigs

def test_rig_direction_convention():
    """+azimuth is image right (camera +x), +elevation up, 0/0 toward the viewer."""
    np.testing.assert_allclose(lightspec.rig_direction(0, 0), (0, 0, 1), atol=1e-12)
    np.testing.assert_allclose(lightspec.rig_direction(90, 0), (1, 0, 0), atol=1e-12)
    np.testing.assert_allclose(lightspec.rig_direction(0, 90), (0, 1, 0), atol=1e-12)
    d = lightspec.rig_direction(60, 30)
    assert d[0] > 0 and d[1] > 0 and d[2] > 0 and abs(np.linalg.norm(d) - 1) < 1e-12


def test_key_rig_geometry_and_power():
    (role, key), = lightspec.Rig("key", azimuth=60, elevation=30).lights()
    assert role == "key" and isinstance(key, render.AreaLight)
    pos = np.array(key.position)
    cam = lighting.world_to_camera(pos)
    assert np.linalg.norm(pos) == pytest.approx(2.0)          # 2 x the long side (1)
    np.testing.assert_allclose(cam / 2.0, lightspec.rig_direction(60, 30), atol=1e-12)
    assert pos[0] > 0 and pos[1] < 0                          # image right, in front
    np.testing.assert_allclose(np.array(key.direction), -pos / 2.0, atol=1e-12)  # aimed in
    assert key.power == pytest.approx(math.pi ** 2 * 4.0)
    assert key.size == pytest.approx(0.35 * 2.0)
    # a portrait plate (twice as high as wide): the rig stands back to 2 x its height
    (_, tall), = lightspec.Rig("key").lights(aspect=2.0)
    assert np.linalg.norm(tall.position) == pytest.approx(4.0)


def test_key_power_sets_the_other_roles_by_their_ratios():
    default = dict(lightspec.Rig("three_point").lights())
    loud = dict(lightspec.Rig("three-point", power=100.0, size=0.5).lights())
    assert loud["key"].power == pytest.approx(100.0) and loud["key"].size == 0.5
    for role in ("fill", "rim"):
        assert loud[role].power / loud["key"].power == pytest.approx(
            default[role].power / default["key"].power)
        assert loud[role].size == default[role].size


def test_strength_one_key_renders_white_at_one():
    """The rig's units: a white diffuse surface turned toward the key renders at about 1."""
    (_, key), = lightspec.Rig("key", azimuth=60, elevation=30).lights()
    n = lightspec.rig_direction(60, 30)
    out = render.cook_torrance(flat(normal=n, size=1), key, render.RenderOptions(plane_width=1e-3))
    # 0.96: the 0.7 m square at 2 m is not a point; its corners are farther and oblique
    assert out.rgb[0, 0] == pytest.approx(np.ones(3), rel=0.05)


@pytest.mark.parametrize("kwargs,message", [
    ({"preset": "disco"}, "unknown rig"),
    ({"azimuth": float("nan")}, "finite"),
    ({"elevation": 120}, "elevation"),
    ({"size": 0}, "size"),
    ({"power": -1}, ">= 0"),
    ({"power": "bright"}, "number"),
])
def test_bad_rigs_are_rejected(kwargs, message):
    with pytest.raises(InputError, match=message):
        lightspec.Rig(**{"preset": "key", **kwargs})


# ------------------------------------------------------------------ LIGHTS.json

GOOD = [
    {"type": "point", "position": [0.8, -1.5, 0.6], "power": 40, "color": [1, 0.9, 0.8]},
    {"type": "sun", "direction": [-0.5, 0.7, -0.3], "energy": 2.0},
    {"type": "area", "position": [-1, -1.5, 0.5], "direction": [1, 1.5, -0.5], "power": 30,
     "size": 0.5, "size_y": 0.3, "shape": "rectangle"},
    {"type": "spot", "position": [0, -2, 1], "direction": [0, 2, -1], "power": 60,
     "spot_size": 40, "spot_blend": 0.2},
]


def test_lights_file_reads_every_blender_light(tmp_path):
    path = tmp_path / "lights.json"
    path.write_text(json.dumps(GOOD))
    lights = lightspec.load_lights(path)
    assert [type(light) for light in lights] == [render.PointLight, render.SunLight,
                                                 render.AreaLight, render.SpotLight]
    assert lights[1].strength == 2.0 and lights[2].shape == "RECTANGLE"
    path.write_text(json.dumps({"lights": GOOD[:1]}))
    assert len(lightspec.load_lights(path)) == 1


@pytest.mark.parametrize("text,message", [
    ("[{\"type\": \"point\", \"position\": [0, 0, 0],}]", "not valid JSON.*line 1"),
    ("[{\"type\": \"point\", \"position\": [0, NaN, 0]}]", "non-finite number NaN"),
    ("[{\"type\": \"sun\", \"direction\": [0, 1, 0], \"strength\": Infinity}]", "non-finite"),
    ("[{\"type\": \"point\", \"position\": [0, 0, 0], \"power\": 1e999}]", "finite"),
    ("[{\"type\": \"laser\"}]", "light 1: unknown light type 'laser'"),
    ("[{\"type\": \"hdri\", \"source\": \"forest\"}]", "--hdri"),
    ("[]", "empty list"),
    ("{\"type\": 3}", "unknown light type"),
    ("\"sun\"", "expected a list"),
    ("[{\"type\": \"point\", \"position\": [0, 0]}]", "3 numbers"),
    ("[{\"type\": \"point\", \"position\": [0, \"a\", 0]}]", "must be a number"),
    ("[{\"type\": \"point\", \"position\": [0, 0, 0], \"power\": -5}]", "power must be >= 0"),
    ("[{\"type\": \"point\", \"position\": [0, 0, 0], \"radius\": 1}]", "bad point light"),
    ("[{\"type\": \"sun\", \"direction\": [0, 0, 0]}]", "must not be zero"),
    ("[{\"type\": \"spot\", \"position\": [0, 0, 0], \"direction\": [0, 1, 0], "
     "\"spot_size\": 270}]", "spot_size"),
    ("[{\"type\": \"spot\", \"position\": [0, 0, 0], \"direction\": [0, 1, 0], "
     "\"spot_size\": 0.5}]", "Blender's range"),
    ("[{\"type\": \"spot\", \"position\": [0, 0, 0], \"direction\": [0, 1, 0], "
     "\"spot_blend\": 2}]", "spot_blend"),
    ("[{\"type\": \"area\", \"position\": [0, 0, 0], \"direction\": [0, 1, 0], "
     "\"shape\": \"STAR\"}]", "shape"),
    ("[{\"type\": \"area\", \"position\": [0, 0, 0], \"direction\": [0, 1, 0], "
     "\"size\": 0}]", "size"),
    ("[{\"type\": \"area\", \"position\": [0, 0, 0], \"direction\": [0, 1, 0], "
     "\"tangent\": [0, 2, 0]}]", "parallel"),
    ("[{\"type\": \"point\", \"position\": [0, 0, 0], \"color\": [1, -1, 0]}]", "color"),
])
def test_bad_lights_files_name_the_problem(tmp_path, text, message):
    path = tmp_path / "lights.json"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        lightspec.load_lights(path)


def test_missing_lights_file(tmp_path):
    with pytest.raises(InputError, match="lights file not found"):
        lightspec.load_lights(tmp_path / "nope.json")


def test_area_axes_are_the_renderers_axes():
    light = render.AreaLight((0.2, -1.0, 0.4), (-0.2, 1.0, -0.4), size=0.6, size_y=0.2,
                             shape="RECTANGLE", samples=3)
    tangent, bitangent, normal = lightspec.area_axes(light)
    offsets = render.area_light_points(light) - np.array(light.position)
    np.testing.assert_allclose(offsets @ normal, 0.0, atol=1e-12)
    assert np.ptp(offsets @ tangent) == pytest.approx(0.6 * 2 / 3)      # size along X
    assert np.ptp(offsets @ bitangent) == pytest.approx(0.2 * 2 / 3)    # size_y along Y
    light.tangent = (0.0, 0.0, 1.0)
    assert lightspec.area_axes(light)[0] @ np.array([0.0, 0.0, 1.0]) > 0.9


def _args(**kw):
    base = dict(hdri=None, rotation=0.0, strength=1.0, rig=None, key_azimuth=None,
                key_elevation=None, key_size=None, key_power=None, lights=None)
    return SimpleNamespace(**{**base, **kw})


def test_lighting_from_args_combines_sources(tmp_path):
    path = tmp_path / "lights.json"
    path.write_text(json.dumps(GOOD[:2]))
    made = lightspec.from_args(_args(hdri="forest", rotation=30, rig="three-point",
                                     key_azimuth=60, lights=str(path)))
    named = made.named_lights((64, 64))
    assert [n for n, _ in named] == ["key", "fill", "rim", "light 1", "light 2"]
    every = made.for_render((64, 64))
    assert isinstance(every[0], render.HdriLight) and every[0].rotation == 30
    assert len(every) == 6
    assert lightspec.from_args(_args(), allow_none=True).empty


@pytest.mark.parametrize("kw,message", [
    ({}, "no lighting: give --hdri"),
    ({"key_azimuth": 60.0}, "--key-azimuth sets the rig's key: give --rig"),
    ({"hdri": "beach"}, "valid names"),
    ({"hdri": "/no/such.exr"}, "HDRI file not found"),
    ({"hdri": "forest", "rotation": float("inf")}, "--rotation must be a finite"),
    ({"hdri": "forest", "strength": -1.0}, "--strength must be >= 0"),
    ({"rotation": 90.0, "rig": "key"}, "--rotation sets the HDRI: give --hdri too"),
    ({"strength": 2.0, "rig": "key"}, "--strength sets the HDRI"),
    ({"rig": "key", "key_elevation": float("nan")}, "finite"),
])
def test_bad_lighting_options(kw, message):
    with pytest.raises(InputError, match=message):
        lightspec.from_args(_args(**kw))


# ------------------------------------------------------------------ spot light

def test_spot_cone_is_cycles_smoothstep():
    size, blend = 40.0, 0.2
    cos_half = math.cos(math.radians(size) / 2)
    cos = np.array([1.0, cos_half + 1e-9, cos_half - 1e-6, -1.0])
    out = render.spot_attenuation(cos, size, blend)
    assert out[0] == 1.0 and out[2] == 0.0 and out[3] == 0.0 and 0 <= out[1] < 1e-6
    mid = cos_half + 0.5 * (1 - cos_half) * blend      # half way up the soft edge
    assert render.spot_attenuation(np.array([mid]), size, blend)[0] == pytest.approx(0.5)
    hard = render.spot_attenuation(np.array([cos_half + 1e-6, cos_half - 1e-6]), size, 0.0)
    np.testing.assert_array_equal(hard, [1.0, 0.0])


def test_spot_inside_its_cone_is_a_point_light():
    passes = flat(albedo=0.8, size=1)
    options = render.RenderOptions(plane_width=1e-3)
    spot = render.SpotLight((0.0, -2.0, 0.0), (0.0, 1.0, 0.0), power=100.0, spot_size=30)
    point = render.PointLight((0.0, -2.0, 0.0), power=100.0)
    np.testing.assert_allclose(render.cook_torrance(passes, spot, options).rgb,
                               render.cook_torrance(passes, point, options).rgb, rtol=1e-12)
    away = render.SpotLight((0.0, -2.0, 0.0), (1.0, 0.0, 0.0), power=100.0, spot_size=30)
    assert render.cook_torrance(passes, away, options).rgb.max() == 0.0
    assert isinstance(render.light_from_dict({"type": "spot", "position": (0, -1, 0),
                                              "direction": (0, 1, 0), "energy": 5}),
                      render.SpotLight)


def test_spot_lights_a_disc_of_its_cone_angle():
    """A spot 2 m in front of a wide plate, 40° cone, hard edge: a lit disc of radius
    2 tan 20° (at the plate's centre) and darkness outside it."""
    size = 65
    spot = render.SpotLight((0.0, -2.0, 0.0), (0.0, 1.0, 0.0), power=100.0, spot_size=40,
                            spot_blend=0.0)
    out = render.cook_torrance(flat(size=size), spot, render.RenderOptions(plane_width=4.0))
    lit = out.rgb[..., 0] > 0
    radius = math.sqrt(lit.sum() / math.pi) * 4.0 / size
    assert radius == pytest.approx(2.0 * math.tan(math.radians(20.0)), rel=0.03)


# ------------------------------------------------------------------ the CLI

def _face(tmp_path, res=64):
    gt = bust(res)
    folder = tmp_path / "face"
    Passes(rgb=gt["albedo"] * 0.7, alpha=gt["alpha"], normal=gt["normal"],
           albedo=gt["albedo"], roughness=gt["roughness"],
           reflectivity=gt["reflectivity"]).save(folder, previews=False)
    return folder


def run(argv, capsys):
    code = cli.main(["--quiet", *argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def test_key_at_plus_60_brightens_the_right_side(tmp_path, capsys):
    """``relight --rig key --key-azimuth 60``: the right half of the face (image right, the
    side +azimuth names) is several times brighter than the left; -60 mirrors it."""
    face = _face(tmp_path)
    ratios = {}
    for az in (60, -60):
        out = tmp_path / f"key{az}.exr"
        assert run(["relight", str(face), "--rig", "key", "--key-azimuth", str(az),
                    "--out", str(out)], capsys)[0] == 0
        left, right = side_balance(images.load_image(out))
        ratios[az] = right / left
    print(f"\nnumpy relight, key at +60: right/left {ratios[60]:.3f}; at -60: "
          f"{ratios[-60]:.3f}")
    assert ratios[60] > 3.0 and ratios[-60] < 1 / 3.0
    assert ratios[60] * ratios[-60] == pytest.approx(1.0, rel=0.1)  # the bust is symmetric


def test_lights_file_and_hdri_render_together(tmp_path, capsys):
    face = _face(tmp_path, res=32)
    path = tmp_path / "lights.json"
    path.write_text(json.dumps(GOOD))
    outs = {}
    for name, extra in (("lights", ["--lights", str(path)]), ("hdri", ["--hdri", "studio"]),
                        ("both", ["--lights", str(path), "--hdri", "studio"])):
        outs[name] = tmp_path / f"{name}.exr"
        assert run(["relight", str(face), *extra, "--out", str(outs[name])], capsys)[0] == 0
    lit = {k: images.load_image(v)[..., :3] for k, v in outs.items()}
    np.testing.assert_allclose(lit["both"], lit["lights"] + lit["hdri"], atol=2e-3)
    export = tmp_path / "shot.exr"
    assert run(["export", str(face), "--rig", "three-point", "--out", str(export)],
               capsys)[0] == 0
    assert "ViewLayer.Combined" in images.read_exr_layers(export)


@pytest.mark.parametrize("extra,message", [
    ([], "no lighting"),
    (["--lights", "{missing}"], "lights file not found"),
    (["--lights", "{bad}"], "not valid JSON"),
    (["--hdri", "beach"], "valid names"),
    (["--key-power", "10"], "give --rig"),
    (["--rig", "key", "--key-azimuth", "nan"], "finite"),
])
def test_bad_lighting_exits_2_before_decomposing(tmp_path, capsys, extra, message):
    """An image source would be decomposed (and fail on the missing models, exit 3): the
    lighting is checked first."""
    image = tmp_path / "plate.png"
    images.save_image(image, np.full((16, 16, 3), 0.5, np.float32))
    bad = tmp_path / "bad.json"
    bad.write_text("[{")
    extra = [a.format(missing=tmp_path / "none.json", bad=bad) for a in extra]
    for command, out in (("relight", "out.png"), ("export", "out.exr")):
        code, err = run([command, str(image), *extra, "--out", str(tmp_path / out)], capsys)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
        assert not (tmp_path / out).exists()


def test_area_light_samples_are_bounded():
    area = {"type": "area", "position": [0, -1, 0], "direction": [0, 1, 0], "power": 1}
    assert lightspec.parse_lights([{**area, "samples": lightspec.MAX_AREA_SAMPLES}])
    for bad in (0, lightspec.MAX_AREA_SAMPLES + 1, 100_000_000):
        with pytest.raises(InputError, match=f"from 1 to {lightspec.MAX_AREA_SAMPLES}"):
            lightspec.parse_lights([{**area, "samples": bad}])


def test_an_ldr_hdri_is_used_with_a_warning(tmp_path):
    ldr = tmp_path / "sky.jpg"
    images.save_jpeg(ldr, np.full((8, 16, 3), 0.5, np.float32))
    args = SimpleNamespace(hdri=str(ldr), rotation=0.0, strength=1.0, rig=None, lights=None)
    with pytest.warns(UserWarning, match="sky.jpg is a low-dynamic-range image, not HDR"):
        made = lightspec.from_args(args)
    assert made.hdri is not None and made.hdri.source == str(ldr)
    hdr = tmp_path / "sky.exr"
    images.save_exr(hdr, np.full((8, 16, 3), 4.0, np.float32))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lightspec.from_args(SimpleNamespace(**{**vars(args), "hdri": str(hdr)}))
