"""inference.aovs: the relit plate's AOVs."""
import numpy as np

from inference import render
from inference.aovs import aov_layers
from inference.passes import Passes


def test_light_passes_are_the_relit_ones_not_the_sources_estimates():
    shape = (4, 5)
    grey = np.full(shape + (3,), 0.5, np.float32)
    passes = Passes(rgb=grey, alpha=np.ones(shape, np.float32),
                    normal=np.dstack([np.zeros(shape), np.zeros(shape), np.ones(shape)])
                    .astype(np.float32), albedo=grey, diffuse=grey * 0.1, specular=grey * 0.2,
                    diffuse_shading=grey * 0.3)
    relit = render.RelitImage(rgb=grey * 0.9, diffuse=grey * 0.6, specular=grey * 0.3,
                              alpha=np.ones(shape, np.float32))
    layers = aov_layers(passes, relit)
    np.testing.assert_array_equal(layers["Diffuse Direct"][0], relit.diffuse)
    np.testing.assert_array_equal(layers["Glossy Direct"][0], relit.specular)
    np.testing.assert_array_equal(layers["Combined"][0][..., :3], relit.rgb)
    np.testing.assert_array_equal(layers["Plate"][0], passes.rgb)
    np.testing.assert_array_equal(layers["Diffuse Shading"][0], passes.diffuse_shading)
    assert list(layers)[:4] == ["Combined", "Diffuse Direct", "Glossy Direct", "Plate"]
