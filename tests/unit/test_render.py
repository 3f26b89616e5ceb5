"""inference.render: BRDF pieces, energy conservation, Blender light units, the relight entry."""
from dataclasses import replace

import numpy as np
import pytest

from inference import lighting as lt
from inference import render
from inference.errors import Cancelled, InputError
from inference.passes import Passes

N = 12


def flat_passes(normal=(0.0, 0.0, 1.0), albedo=0.5, roughness=0.5, f0=0.04, size=N):
    shape = (size, size)
    colour = np.full(shape + (3,), albedo, np.float32)
    return Passes(rgb=colour, alpha=np.ones(shape, np.float32),
                  normal=np.broadcast_to(np.float32(normal), shape + (3,)), albedo=colour,
                  roughness=np.full(shape, roughness, np.float32),
                  reflectivity=np.full(shape, f0, np.float32))


def hemisphere_normals(size=N):
    c = (np.arange(size) + 0.5) / size * 1.6 - 0.8
    x, y = np.meshgrid(c, -c)
    z = np.sqrt(np.maximum(1.0 - x * x - y * y, 0.05))
    n = np.stack([x, y, z], -1)
    return (n / np.linalg.norm(n, axis=-1, keepdims=True)).astype(np.float32)


# ------------------------------------------------------------------ BRDF pieces

@pytest.mark.parametrize("alpha", [0.05, 0.2, 0.5, 1.0])
def test_ggx_ndf_integrates_to_one_over_projected_hemisphere(alpha):
    theta = np.linspace(0.0, np.pi / 2, 200001)
    integrand = lt.ggx_ndf(np.cos(theta), alpha) * np.cos(theta) * np.sin(theta) * 2 * np.pi
    assert abs(np.trapz(integrand, theta) - 1.0) < 1e-3


def test_fresnel_dielectric_limits():
    f0 = np.array([0.02, 0.04, 0.08])
    np.testing.assert_allclose(render.fresnel_dielectric(np.ones(3), f0), f0, rtol=1e-6)
    assert np.all(render.fresnel_dielectric(np.full(3, 1e-4), f0) > 0.99)
    # IOR 1.5 at 60 degrees incidence: 0.0892 (textbook value)
    assert abs(render.fresnel_dielectric(np.array(0.5), 0.04) - 0.0892) < 1e-3


def test_tables_mirror_limit_and_energy():
    tables = render.brdf_tables()
    mu = (np.arange(tables.e.shape[0]) + 0.5) / tables.e.shape[0]
    for k, f0 in enumerate(tables.f0):
        np.testing.assert_allclose(tables.albedo[:, 0, k], render.fresnel_dielectric(mu, f0),
                                   atol=1e-6)
    assert np.all(tables.e <= 1.0) and np.all(tables.albedo[..., -1] <= tables.e + 1e-6)
    assert tables.e_avg[0] > 0.999 and 0.3 < tables.e_avg[-1] < 0.6


def test_specular_albedo_matches_direct_integration_of_the_brdf():
    mu, rough, f0 = 0.6, 0.45, 0.05
    alpha = rough ** 2
    v = np.array([np.sqrt(1 - mu * mu), 0.0, mu])
    t = (np.arange(400) + 0.5) / 400 * (np.pi / 2)
    p = (np.arange(800) + 0.5) / 800 * (2 * np.pi)
    tt, pp = np.meshgrid(t, p, indexing="ij")
    light = np.stack([np.sin(tt) * np.cos(pp), np.sin(tt) * np.sin(pp), np.cos(tt)], -1)
    half = light + v
    half /= np.linalg.norm(half, axis=-1, keepdims=True)
    f = render.specular_brdf(light[..., 2], mu, half[..., 2], half @ v, alpha, f0)
    direct = (f * light[..., 2] * np.sin(tt)).sum() * (t[1] - t[0]) * (p[1] - p[0])
    table = render.specular_albedo(np.array([mu]), np.array([rough]), np.array([f0]))[0]
    assert abs(table - direct) / direct < 0.02


# ------------------------------------------------------------------ energy and furnaces

@pytest.mark.parametrize("roughness,f0", [(0.2, 0.04), (0.5, 0.08), (0.9, 0.02)])
def test_white_furnace_dielectric(roughness, f0):
    passes = flat_passes(albedo=1.0, roughness=roughness, f0=f0)
    passes.normal = hemisphere_normals()
    out = render.cook_torrance(passes, render.HdriLight(np.ones((16, 32, 3), np.float32)))
    np.testing.assert_allclose(out.rgb, 1.0, atol=0.02)
    assert out.specular.min() > 0.0 and out.diffuse.min() > 0.5


@pytest.mark.parametrize("roughness", [0.1, 0.5, 1.0])
def test_white_furnace_perfect_reflector(roughness):
    passes = flat_passes(albedo=0.0, roughness=roughness, f0=1.0)
    passes.normal = hemisphere_normals()
    out = render.cook_torrance(passes, render.HdriLight(np.full((16, 32, 3), 2.0, np.float32)))
    np.testing.assert_allclose(out.specular, 2.0, rtol=0.03)
    np.testing.assert_allclose(out.diffuse, 0.0, atol=1e-6)


def test_sh_lighting_of_constant_environment_matches_hdri():
    img = np.full((16, 32, 3), 0.8, np.float32)
    passes = flat_passes(albedo=0.6, roughness=0.4, f0=0.05)
    passes.normal = hemisphere_normals()
    sh = render.cook_torrance(passes, render.ShLight(lt.project_sh(img)))
    hdri = render.cook_torrance(passes, render.HdriLight(img))
    np.testing.assert_allclose(sh.rgb, hdri.rgb, rtol=5e-3)


def test_arrays_are_accepted_as_sh_or_equirect_lighting():
    img = np.full((16, 32, 3), 0.5, np.float32)
    passes = flat_passes()
    from_sh = render.cook_torrance(passes, lt.project_sh(img)).rgb
    from_map = render.cook_torrance(passes, img).rgb
    np.testing.assert_allclose(from_sh, from_map, rtol=5e-3)
    with pytest.raises(InputError, match="H x W x 3"):
        render.cook_torrance(passes, np.ones(5))


def test_sh_diffuse_is_albedo_over_pi_times_sh_irradiance():
    sh = np.random.default_rng(0).normal(size=(9, 3)) * 0.2
    sh[0] = 3.0
    passes = flat_passes(albedo=0.7, f0=0.0)
    passes.normal = hemisphere_normals()
    out = render.cook_torrance(passes, render.ShLight(sh))
    expected = 0.7 / np.pi * lt.sh_irradiance(sh, passes.normal)
    np.testing.assert_allclose(out.diffuse, expected, rtol=1e-5)


# ------------------------------------------------------------------ analytic lights, units

def test_point_light_lambert_on_plane_facing_it():
    # Plane Y = 0 faces the camera (normal toward -Y = camera +z); light 2 m in front of it.
    light = render.PointLight(position=(0.0, -2.0, 0.0), power=100.0)
    passes = flat_passes(albedo=0.8, f0=0.0, size=1)
    out = render.cook_torrance(passes, light, render.RenderOptions(plane_width=1e-3))
    irradiance = 100.0 / (4 * np.pi * 2.0 ** 2)
    np.testing.assert_allclose(out.rgb[0, 0], 0.8 / np.pi * irradiance, rtol=1e-4)
    np.testing.assert_allclose(out.specular, 0.0, atol=1e-12)


def test_point_light_falls_off_over_the_displaced_relief():
    # A flat relief 0.5 plane widths toward the camera: the plate's surface (height x width x
    # scale) is then 1.5 m from the light, not 2 m; height_scale 0 keeps it on the plane.
    light = render.PointLight(position=(0.0, -2.0, 0.0), power=100.0)
    passes = replace(flat_passes(albedo=0.8, f0=0.0, size=4),
                     height=np.full((4, 4), 0.5, np.float32))
    near = render.cook_torrance(passes, light,
                                render.RenderOptions(plane_width=1.0, shadows=False))
    scaled = render.cook_torrance(passes, light, render.RenderOptions(
        plane_width=1.0, shadows=False, height_scale=0.5))
    flat = render.cook_torrance(passes, light, render.RenderOptions(
        plane_width=1.0, shadows=False, height_scale=0.0))
    centre = np.s_[1:3, 1:3]   # pixel centres 0.125 m off the axis: compare like with like
    np.testing.assert_allclose(near.rgb[centre] / flat.rgb[centre],
                               (2.0 ** 2 + 0.125 ** 2 * 2) / (1.5 ** 2 + 0.125 ** 2 * 2)
                               * ((1.5 / np.sqrt(1.5 ** 2 + 0.03125)) / (2.0 / np.sqrt(4.03125))),
                               rtol=1e-4)
    assert np.all(scaled.rgb[centre] < near.rgb[centre])
    assert np.all(scaled.rgb[centre] > flat.rgb[centre])


def test_sun_light_lambert_with_cosine_and_colour():
    sun = render.SunLight(direction=(0.0, 0.6, -0.8), strength=3.0, color=(1.0, 0.5, 0.25))
    out = render.cook_torrance(flat_passes(albedo=0.5, f0=0.0, size=2), sun)
    cosine = 0.6  # to-light (0, -0.6, 0.8) world = (0, 0.8, 0.6) camera; n = (0, 0, 1)
    np.testing.assert_allclose(out.rgb[0, 0], 0.5 / np.pi * 3.0 * cosine * np.array(
        [1.0, 0.5, 0.25]), rtol=1e-5)


def test_small_area_light_acts_like_a_lambertian_patch():
    light = render.AreaLight(position=(0.0, -3.0, 0.0), direction=(0.0, 1.0, 0.0), power=50.0,
                             size=0.01)
    out = render.cook_torrance(flat_passes(albedo=1.0, f0=0.0, size=1), light,
                         render.RenderOptions(plane_width=1e-3))
    np.testing.assert_allclose(out.rgb[0, 0], 1.0 / np.pi * 50.0 / (np.pi * 9.0), rtol=1e-4)


def test_area_light_faces_away_gives_nothing():
    light = render.AreaLight(position=(0.0, -3.0, 0.0), direction=(0.0, -1.0, 0.0), power=50.0)
    assert render.cook_torrance(flat_passes(size=2), light).rgb.max() == 0.0


def test_point_light_highlight_sits_at_the_mirror_direction():
    light = render.PointLight(position=(0.0, -50.0, 0.0), power=1e5)
    passes = flat_passes(albedo=0.0, roughness=0.2, f0=0.04, size=15)
    passes.normal = hemisphere_normals(15)
    spec = render.cook_torrance(passes, light).specular[..., 0]
    assert np.unravel_index(np.argmax(spec), spec.shape) == (7, 7)


def test_perspective_view_from_camera_position():
    passes = flat_passes(albedo=0.0, roughness=0.3, f0=0.04, size=9)
    light = render.PointLight(position=(0.0, -2.0, 0.0), power=500.0)
    ortho = render.cook_torrance(passes, light, render.RenderOptions(plane_width=2.0))
    persp = render.cook_torrance(passes, light, render.RenderOptions(
        plane_width=2.0, camera_position=(0.0, -2.0, 0.0)))
    # A camera at the light sees the highlight tighter than an orthographic view does.
    assert persp.specular[4, 4, 0] == pytest.approx(ortho.specular[4, 4, 0], rel=1e-5)
    assert persp.specular[0, 0, 0] < ortho.specular[0, 0, 0]


# ------------------------------------------------------------------ entry point

def test_relight_returns_premultiplied_components_and_reports_progress():
    passes = flat_passes()
    passes.alpha = np.zeros((N, N), np.float32)
    passes.alpha[:, : N // 2] = 1.0
    calls = []
    out = render.cook_torrance(passes, [{"type": "sun", "direction": (0, 1, 0), "energy": 2.0},
                                  {"type": "sh", "sh": np.eye(9, 3)}],
                         progress=lambda f, m: calls.append(f))
    np.testing.assert_allclose(out.rgb, out.diffuse + out.specular)
    assert out.rgb[:, N // 2:].max() == 0.0 and out.rgb[:, : N // 2].min() > 0.0
    assert calls[0] == 0.0 and calls[-1] == 1.0 and out.rgb.dtype == np.float32


def test_cancel_stops_rendering():
    with pytest.raises(Cancelled):
        render.cook_torrance(flat_passes(), render.SunLight((0, 1, 0)), cancel=lambda: True)


@pytest.mark.parametrize("arrays,message", [
    ({"albedo": np.ones((4, 4, 3))}, "normal"),
    ({"normal": np.ones((4, 4, 3))}, "albedo"),
    ({"normal": np.ones((4, 4, 3)), "albedo": np.ones((4, 4, 3)),
      "roughness": np.ones((3, 4))}, "roughness"),
    ({"normal": np.full((4, 4, 3), np.nan), "albedo": np.ones((4, 4, 3))}, "NaN"),
])
def test_bad_passes_are_rejected(arrays, message):
    passes = Passes(**{"rgb": np.ones((4, 4, 3)), "alpha": np.ones((4, 4)), "normal": None,
                       **arrays})
    with pytest.raises(InputError, match=message):
        render.cook_torrance(passes, render.SunLight((0, 1, 0)))


@pytest.mark.parametrize("lighting,message", [
    ({"type": "laser"}, "unknown light type"),
    ({"type": "spot"}, "bad spot light"),
    ({"type": "point", "positon": (0, 0, 0)}, "bad point light"),
    (render.SunLight((0, 0, 0)), "must not be zero"),
    ([], "no usable lighting"),
    (render.AreaLight((0, 0, 0), (0, 1, 0), shape="STAR"), "shape"),
    ("beach", "valid names"),
])
def test_bad_lighting_is_rejected(lighting, message):
    with pytest.raises(InputError, match=message):
        render.cook_torrance(flat_passes(size=2), lighting)
