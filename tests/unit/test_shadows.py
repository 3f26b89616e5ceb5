"""inference.render's cast shadows: the height pass marched toward each light."""
import math
from dataclasses import replace

import numpy as np
import pytest

from inference import lighting as lt
from inference import render
from inference.errors import InputError
from inference.passes import Passes

W = 96


def step_height(top_px=12.0, start=60, size=W):
    """Flat ground (0) left of column ``start``, a plateau ``top_px`` pixels high from there on
    (height in image widths, as the height pass)."""
    h = np.zeros((size, size), np.float32)
    h[:, start:] = top_px / size
    return h


def sun_from(azimuth_deg, elevation_deg):
    """Camera-space unit direction toward a light ``elevation`` above the image plane, at
    ``azimuth`` from image right (counter-clockwise, +90 = image up)."""
    a, e = math.radians(azimuth_deg), math.radians(elevation_deg)
    return np.array([math.cos(a) * math.cos(e), math.sin(a) * math.cos(e), math.sin(e)])


def shadow_length(mask, row, start):
    """Shadowed pixels (visibility < 0.5) on ``row`` left of the step, contiguous from it."""
    hidden = mask[row, :start] < 0.5
    return int(np.argmin(hidden[::-1])) if not hidden.all() else start


@pytest.mark.parametrize("elevation", [15.0, 30.0, 45.0, 60.0])
def test_a_step_casts_a_shadow_of_the_right_length(elevation):
    top = 12.0
    mask = render.shadow_mask(step_height(top), sun_from(0.0, elevation))
    expected = top / math.tan(math.radians(elevation))
    spacing = expected / render.SHADOW_STEPS      # a sample every 1.4 px at 15 degrees
    for row in (10, 48, 80):
        assert abs(shadow_length(mask, row, 60) - expected) <= 1.0 + spacing, (row, expected)
    assert np.all(mask[:, 61:] > 0.99)          # the plateau's top is lit


def test_the_shadow_falls_away_from_the_light():
    h = step_height()
    from_left = render.shadow_mask(h, sun_from(180.0, 20.0))
    assert np.all(from_left[:, :59] > 0.99) and np.all(from_left[:, 61:] > 0.99)
    # a light from image up (+Y) shadows the rows below a horizontal ridge
    ridge = np.zeros((W, W), np.float32)
    ridge[40:44, :] = 10.0 / W
    mask = render.shadow_mask(ridge, sun_from(90.0, 45.0))
    assert np.all(mask[45:53, :] < 0.5) and np.all(mask[56:, :] > 0.99)
    assert np.all(mask[:40, :] > 0.99)


def test_flat_height_and_a_frontal_light_cast_none():
    flat = np.zeros((W, W), np.float32)
    assert np.all(render.shadow_mask(flat, sun_from(0.0, 10.0)) == 1.0)
    y, x = np.mgrid[0:W, 0:W] / W - 0.5
    bumps = (0.1 * np.exp(-(x ** 2 + y ** 2) / 0.01) + 0.05 * np.sin(20 * x)).astype(np.float32)
    assert np.all(render.shadow_mask(bumps, [0.0, 0.0, 1.0]) == 1.0)
    # a light 80 degrees up barely shadows the bumps' steepest flanks
    assert (render.shadow_mask(bumps, sun_from(0.0, 80.0)) < 0.5).mean() < 0.02


def test_relief_scale_and_matte():
    h = step_height(8.0)
    light = sun_from(0.0, 30.0)
    short = shadow_length(render.shadow_mask(h, light), 48, 60)
    long = shadow_length(render.shadow_mask(h, light, scale=2.0), 48, 60)
    assert abs(long - 2 * short) <= 2
    # outside the matte nothing occludes (the plate is trimmed there)
    alpha = np.ones((W, W), np.float32)
    alpha[:, 60:] = 0.0
    assert np.all(render.shadow_mask(h, light, alpha=alpha)[:, :58] > 0.99)


def test_a_point_light_shadow_follows_similar_triangles():
    top = 12.0
    h = step_height(top)
    # a point 3 plateau-heights up, above column 90 (inside the image), light-space pixels
    lamp_col, lamp_h = 90.0, 36.0
    col = np.arange(W, dtype=np.float64)
    to_light = np.stack([np.broadcast_to(lamp_col - col, (W, W)), np.zeros((W, W)),
                         np.broadcast_to(lamp_h - np.where(col >= 60, top, 0.0), (W, W))], -1)
    dist = np.linalg.norm(to_light, axis=-1)
    mask = render.shadow_mask(h, to_light / dist[..., None], distance=dist / W)
    edge = 59.5                                       # the bilinear ramp's middle
    expected = (lamp_col - edge) * top / (lamp_h - top)   # from the step's foot
    assert abs(shadow_length(mask, 48, 60) - expected) <= 1.5
    # a light below the plateau top, at column 30, and the light itself not beyond it
    assert np.all(render.shadow_mask(h, to_light / dist[..., None], distance=dist / W)[:, 61:]
                  > 0.99)


def _step_passes(size=W):
    albedo = np.full((size, size, 3), 0.5, np.float32)
    return Passes(rgb=albedo, alpha=np.ones((size, size), np.float32),
                  normal=np.broadcast_to(np.float32([0, 0, 1]), (size, size, 3)), albedo=albedo,
                  height=step_height(12.0, 60, size))


def test_relight_darkens_the_shadow_only_and_can_be_turned_off():
    passes = _step_passes()
    light = sun_from(0.0, 30.0)
    sun = render.SunLight(direction=-lt.camera_to_world(light), strength=2.0)
    on = render.cook_torrance(passes, sun).rgb
    off = render.cook_torrance(passes, sun, render.RenderOptions(shadows=False)).rgb
    plain = render.cook_torrance(replace(passes, height=None), sun).rgb
    np.testing.assert_array_equal(off, plain)
    length = 12.0 / math.tan(math.radians(30.0))
    shadow = slice(int(60 - length) + 2, 58)
    assert np.all(on[:, shadow] == 0.0)             # a sun alone: black in its shadow
    np.testing.assert_allclose(on[:, :int(60 - length) - 2], off[:, :int(60 - length) - 2])
    np.testing.assert_allclose(on[:, 61:], off[:, 61:])
    with pytest.raises(InputError):
        render.cook_torrance(replace(passes, height=None), sun,
                       render.RenderOptions(shadows=True))


def test_point_and_area_lights_cast_softer_shadows_with_size():
    passes = _step_passes()
    # a lamp to the right of the image at 30 degrees above the plate (world: X right, -Y front)
    pos = np.array([2.0, -2.0 * math.tan(math.radians(30.0)), 0.0])
    point = render.PointLight(position=pos, power=1000.0)
    area = render.AreaLight(position=pos, direction=-pos, power=1000.0, size=1.5)
    lit = {}
    for name, light in (("point", point), ("area", area)):
        on = render.cook_torrance(passes, light).rgb[48, :, 0]
        off = render.cook_torrance(passes, light, render.RenderOptions(shadows=False)).rgb[48, :, 0]
        lit[name] = on / off
    assert lit["point"][45:57].max() < 0.01                  # hard
    penumbra = (lit["area"][30:58] > 0.05) & (lit["area"][30:58] < 0.95)
    assert penumbra.sum() > (((lit["point"][30:58] > 0.05) & (lit["point"][30:58] < 0.95))
                             .sum())                          # the big light is softer


def test_hdri_key_lights_find_a_bright_window_and_shadow_its_share():
    tex_h, tex_w = 32, 64
    image = np.full((tex_h, tex_w, 3), 0.2, np.float32)
    dirs = lt.equirect_directions(tex_h, tex_w)
    window_cam = sun_from(0.0, 30.0)
    rotation = 40.0
    window_tex = lt.camera_to_texture(window_cam, rotation)
    image[dirs @ window_tex > math.cos(math.radians(8.0))] = 30.0
    env = lt.prefilter_environment(image)
    keys = render.hdri_key_lights(env, rotation)
    assert len(keys) == 1
    direction, irradiance = keys[0]
    assert float(direction @ window_cam) > math.cos(math.radians(3.0))
    solid = 2 * math.pi * (1 - math.cos(math.radians(8.0)))
    assert 0.7 * 29.8 * solid < irradiance[0] < 1.3 * 29.8 * solid

    passes = _step_passes()
    light = render.HdriLight(env, rotation=rotation)
    on = render.cook_torrance(passes, light).rgb
    off = render.cook_torrance(passes, light, render.RenderOptions(shadows=False)).rgb
    ratio = on[48, 45:57, 0] / off[48, 45:57, 0]
    assert np.all(ratio < 0.6) and np.all(ratio > 0.02)     # the window's share is gone,
    np.testing.assert_allclose(on[:, 61:], off[:, 61:])      # the sky's remains
    none = render.cook_torrance(passes, light, render.RenderOptions(shadow_hdri_lights=0)).rgb
    np.testing.assert_array_equal(none, off)


def test_lambertian_shadowed_for_the_yale_protocol():
    h = step_height(12.0)
    normal = np.broadcast_to(np.float32([0, 0, 1]), (W, W, 3))
    albedo = np.full((W, W, 3), 0.7, np.float32)
    light = sun_from(0.0, 30.0)
    out = render.lambertian_shadowed(normal, albedo, h, light)
    assert out.shape == (W, W, 3)
    np.testing.assert_allclose(out[:, 70:], 0.7 * light[2], rtol=1e-5)
    assert np.all(out[:, 45:57] == 0.0)
    np.testing.assert_allclose(render.lambertian_shadowed(normal, albedo[..., 0], h * 0, light),
                               0.7 * light[2], rtol=1e-5)


def test_shadow_mask_validates_its_height():
    with pytest.raises(InputError):
        render.shadow_mask(np.full((4, 4), np.nan, np.float32), [1.0, 0.0, 1.0])


def test_no_shadows_in_the_cli_and_relight_passes():
    from inference.cli import build_parser
    from inference.relighting import relight_passes

    parser = build_parser()
    for command in ("relight", "export"):
        base = [command, "passes", "--hdri", "studio", "--out", "out.exr"]
        assert parser.parse_args(base).shadows is True
        assert parser.parse_args(base + ["--no-shadows"]).shadows is False
    passes = _step_passes()
    sun = render.SunLight(direction=-lt.camera_to_world(sun_from(0.0, 30.0)), strength=2.0)
    off = render.cook_torrance(passes, sun, render.RenderOptions(shadows=False)).rgb
    np.testing.assert_array_equal(relight_passes(passes, sun, shadows=False).rgb, off)
    assert not np.array_equal(relight_passes(passes, sun).rgb, off)


def _bust(size=192, radius=70.0):
    """A hemisphere's normals inside an anti-aliased disc matte (the background faces the
    camera): a head's silhouette, whose normals graze the image plane at the matte's edge."""
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    x, y = (xx - size / 2) / radius, (size / 2 - yy) / radius          # +Y up
    r2 = x ** 2 + y ** 2
    inside = r2 < 1.0
    z = np.sqrt(np.clip(1.0 - r2, 0.0, 1.0))
    normal = np.where(inside[..., None], np.stack([x, y, z], -1), [0.0, 0.0, 1.0])
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
    alpha = np.clip(radius - np.sqrt(r2) * radius + 0.5, 0.0, 1.0)     # one pixel of ramp
    return normal.astype(np.float32), alpha.astype(np.float32)


def test_a_side_light_leaves_the_lit_silhouette_unshadowed():
    """Decompose integrates the height at a bounded size and upsamples it: the 0 outside the
    small matte must not blend into its edge, where it would raise a lip along the silhouette
    that casts streaks across the lit side (numpy march and displaced plate alike)."""
    import cv2

    from inference import pipeline

    normal, alpha = _bust()
    height = pipeline.integrate_height(normal, alpha, max_side=64)   # upsampled 3x
    inside = alpha > 0.5
    # no lip: toward the rim the height only falls (the rim's pixels lie below their inner ring)
    dist = cv2.distanceTransform(inside.astype(np.uint8), cv2.DIST_L2, 5)
    rim, ring = inside & (dist <= 2.0), inside & (dist > 4.0) & (dist <= 6.0)
    assert height[rim].mean() < height[ring].mean()
    assert height[rim].max() < height[ring].max()
    # a low side light from image right (the portrait's sun): its side of the rim stays lit
    light = sun_from(10.0, 30.0)
    visible = render.shadow_mask(height, light, alpha=alpha)
    facing = inside & (dist <= 8.0) & (normal @ light > 0.3)
    assert facing.sum() > 300
    assert (visible[facing] < 0.5).mean() < 0.02
