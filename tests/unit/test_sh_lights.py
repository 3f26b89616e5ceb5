"""SH lighting turned into an equirect world map and a key light plus ambient."""
import math

import numpy as np

from inference import lighting, sh_lights


def test_a_constant_sh_is_a_uniform_map_and_a_pure_ambient():
    sh = np.zeros((9, 3))
    sh[0] = np.array([0.5, 1.0, 2.0]) * math.sqrt(4 * math.pi)   # radiance 0.5, 1, 2
    pixels = sh_lights.sh_equirect(sh, height=8)
    assert pixels.shape == (8, 16, 3) and pixels.dtype == np.float32
    np.testing.assert_allclose(pixels, np.broadcast_to([0.5, 1.0, 2.0], pixels.shape),
                               rtol=1e-4)
    d, irradiance, ambient = sh_lights.sh_key_and_ambient(sh)
    np.testing.assert_allclose(d, [0.0, 0.0, 1.0])
    np.testing.assert_allclose(irradiance, 0.0)
    np.testing.assert_allclose(ambient, [0.5, 1.0, 2.0], rtol=1e-4)


def test_the_equirect_is_brightest_toward_the_sun_and_never_negative():
    toward = np.array([0.0, 0.0, 1.0])                 # camera space: toward the camera
    sh = np.outer(lighting.sh_basis(toward), [1.0, 1.0, 1.0])
    pixels = sh_lights.sh_equirect(sh, height=32)
    assert pixels.min() >= 0.0                         # ringing clamped: a world emits >= 0
    brightest = np.unravel_index(np.argmax(pixels[..., 0]), pixels.shape[:2])
    d_world = lighting.equirect_directions(32, 64)[brightest]
    assert np.dot(lighting.world_to_camera(d_world), toward) > 0.99
