"""A factory sample's own lighting and geometry for the Cook-Torrance render (training/scene_light)."""
import numpy as np
import pytest

from inference import lighting as lt, render
from inference.passes import Passes
from training import scene_light
from training.synth import lights as synth_lights, params
from training.synth.sample import project

CENTRE = np.array([0.0, 0.02, 0.03])


@pytest.mark.parametrize("seed", range(6))
def test_the_lights_give_the_irradiance_the_factory_records_as_sh(seed):
    """The factory records lighting B as SH computed from its own HDRI and light units; the same
    lighting rebuilt as render lights must light a white Lambertian head-centre alike (the SH
    only band-limits it)."""
    lb = synth_lights.resolve(params.sample_params(seed)["lighting_b"], CENTRE, 0.3)
    normals = synth_lights._front_normals()[None].astype(np.float32)
    shape = normals.shape[:2]
    white = np.ones(shape + (3,), np.float32)
    passes = Passes(rgb=white, alpha=np.ones(shape, np.float32), normal=normals, albedo=white,
                    roughness=np.ones(shape, np.float32),
                    reflectivity=np.zeros(shape, np.float32))
    position = np.broadcast_to(CENTRE, shape + (3,)).astype(np.float32)
    lights = scene_light.lights({"lighting_b": lb}, "b", area_samples=64)
    assert isinstance(lights[0], render.HdriLight) and len(lights) == 1 + len(lb["lights"])
    assert lights[0].strength == pytest.approx(lb["world_strength"])
    lit = render.cook_torrance(passes, lights, render.RenderOptions(camera_position=(0, -1, 0)),
                               position=position)
    e_render = lit.diffuse[0] * np.pi
    e_sh = np.maximum(lt.sh_irradiance(np.asarray(lb["sh"]), normals[0]), 0.0)
    np.testing.assert_allclose(e_render.mean(axis=0), e_sh.mean(axis=0), rtol=0.02)
    assert np.abs(e_render - e_sh).mean() / e_sh.mean() < 0.15


def test_positions_lie_on_the_rays_of_their_pixels():
    meta = {"params": {"camera": {"focal_mm": 60.0, "shift": [0.02, -0.01]}},
            "geometry": {"camera_position": [0.03, -0.7, 0.1]}}
    rng = np.random.default_rng(0)
    depth = rng.uniform(0.5, 0.8, (16, 16)).astype(np.float32)
    depth[0, 0] = 0.0  # no surface
    pos = scene_light.positions(meta, depth)
    assert pos.shape == (16, 16, 3)
    xy, d = project(pos.reshape(-1, 3), meta["geometry"]["camera_position"], 60.0,
                    [0.02, -0.01], 16)  # the factory's own projection
    cols, rows = np.meshgrid(np.arange(16) + 0.5, np.arange(16) + 0.5)
    np.testing.assert_allclose(xy, np.stack([cols, rows], -1).reshape(-1, 2), atol=1e-3)
    np.testing.assert_allclose(d.reshape(16, 16).ravel()[1:], depth.ravel()[1:], atol=1e-6)
    assert d[0] == pytest.approx(np.median(depth[depth > 0]), abs=1e-6)


def test_unknown_light_types_are_refused():
    lb = {"hdri": "forest", "rotation": 0.0, "world_strength": 1.0,
          "lights": [{"type": "laser", "position": [0, 0, 0]}]}
    with pytest.raises(ValueError, match="laser"):
        scene_light.lights({"lighting_b": lb})
