"""inference.lighting: equirect conventions, SH projection/irradiance/rotation, prefiltering."""
import numpy as np
import pytest

from inference import lighting as lt
from inference.errors import InputError
from inference.images import save_exr

H, W = 32, 64


def env_from(fn, h=H, w=W, rotation=0.0):
    """Equirect map whose world (after ``rotation``) radiance is fn(camera-space direction)."""
    dirs = lt.texture_to_camera(lt.equirect_directions(h, w), rotation)
    return np.repeat(fn(dirs)[..., None], 3, axis=2).astype(np.float32)


def sphere_integral(values, h, w):
    return float((values * lt.equirect_solid_angles(h, w)[:, None]).sum())


def random_dirs(n, seed=0):
    d = np.random.default_rng(seed).normal(size=(n, 3))
    return d / np.linalg.norm(d, axis=1, keepdims=True)


# ------------------------------------------------------------------ conventions

def test_equirect_layout_matches_cycles():
    # Cycles: u = 0.5 - atan2(y, x) / 2pi, v = 1 - acos(z) / pi (v up; rows run top-down).
    x, y = lt.direction_to_pixel(np.array([[1.0, 0, 0], [0, 1.0, 0], [0, -1.0, 0],
                                           [-1.0, 0, 0], [0, 0, 1.0]]), 100, 200)
    np.testing.assert_allclose(x[:4], [99.5, 49.5, 149.5, -0.5], atol=1e-9)
    np.testing.assert_allclose(y, [49.5, 49.5, 49.5, 49.5, -0.5], atol=1e-9)


def test_pixel_directions_round_trip():
    dirs = lt.equirect_directions(8, 16)
    x, y = lt.direction_to_pixel(dirs, 8, 16)
    np.testing.assert_allclose(x, np.arange(16)[None, :].repeat(8, 0), atol=1e-9)
    np.testing.assert_allclose(y, np.arange(8)[:, None].repeat(16, 1), atol=1e-9)


def test_solid_angles_cover_sphere_and_resample_keeps_integral():
    assert abs(lt.equirect_solid_angles(H, W).sum() * W - 4 * np.pi) < 1e-9
    img = np.random.default_rng(1).random((H, W, 3)).astype(np.float32)
    small = lt.resample_equirect(img, H // 4, W // 4)
    for c in range(3):
        assert abs(sphere_integral(img[..., c], H, W)
                   - sphere_integral(small[..., c], H // 4, W // 4)) < 1e-4


def test_world_camera_frames():
    world = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])  # X, up, toward the camera
    np.testing.assert_allclose(lt.world_to_camera(world), np.eye(3))
    v = random_dirs(5)
    np.testing.assert_allclose(lt.camera_to_world(lt.world_to_camera(v)), v)
    np.testing.assert_allclose(lt.texture_to_camera(lt.camera_to_texture(v, 33.0), 33.0), v,
                               atol=1e-12)


def test_mapping_rotation_turns_the_world_by_minus_theta():
    # A texel at texture direction +X shows up at world Rz(-90) X = -Y (toward the camera).
    img = env_from(lambda d: np.maximum(d[..., 0], 0.0) ** 8)  # lobe at camera +x = world +X
    toward_camera = lt.environment_radiance(img, np.array([[0.0, -1.0, 0.0]]), 90.0)
    sideways = lt.environment_radiance(img, np.array([[1.0, 0.0, 0.0]]), 90.0)
    assert toward_camera[0, 0] > 0.9 and sideways[0, 0] < 1e-3


# ------------------------------------------------------------------ spherical harmonics

def test_constant_environment_gives_pi_l():
    img = np.full((H, W, 3), 0.7, np.float32)
    sh = lt.project_sh(img)
    np.testing.assert_allclose(sh[0], 0.7 * np.sqrt(4 * np.pi), rtol=1e-6)
    np.testing.assert_allclose(sh[1:], 0.0, atol=3e-3)  # pixel-centre quadrature of Y20
    e = lt.sh_irradiance(sh, random_dirs(20))
    np.testing.assert_allclose(e, np.pi * 0.7, rtol=2e-3)


def test_band_limited_environment_reconstructs():
    def radiance(d):
        return 1.0 + 0.5 * d[..., 0] - 0.3 * d[..., 2] + 0.4 * d[..., 1] * d[..., 2]

    sh = lt.project_sh(env_from(radiance, 64, 128))
    dirs = random_dirs(50)
    np.testing.assert_allclose(lt.sh_radiance(sh, dirs)[:, 0], radiance(dirs), atol=2e-3)


def test_sh_evaluation_of_a_full_resolution_map_is_the_basis_product_in_every_strip():
    """A map larger than one strip (inference.strips) gives sh_basis(n) @ coeffs everywhere,
    the strips' seams included."""
    from inference.strips import STRIP_PIXELS

    rng = np.random.default_rng(3)
    n = rng.normal(size=(3 * STRIP_PIXELS // 200 + 7, 200, 3))
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    sh = rng.normal(size=(9, 3))
    expected = lt.sh_basis(n) @ sh
    got = lt.sh_radiance(sh, n.astype(np.float32))
    assert got.shape == n.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=2e-5)


def test_sh_irradiance_matches_brute_force_cosine_integration():
    lobe = np.array([0.3, 0.5, 0.81])
    lobe /= np.linalg.norm(lobe)

    def radiance(d):
        return 0.2 + np.maximum(d @ lobe, 0.0)

    h, w = 64, 128
    img = env_from(radiance, h, w, rotation=25.0)
    sh = lt.project_sh(img, rotation_deg=25.0)
    dirs = lt.texture_to_camera(lt.equirect_directions(h, w), 25.0).reshape(-1, 3)
    weights = np.repeat(lt.equirect_solid_angles(h, w), w) * radiance(dirs)
    normals = random_dirs(40, seed=3)
    brute = np.maximum(normals @ dirs.T, 0.0) @ weights
    e = lt.sh_irradiance(sh, normals)[:, 0]
    assert np.max(np.abs(e - brute) / brute) < 0.03


def test_rotate_sh_matches_rotated_projection():
    img = env_from(lambda d: np.maximum(d @ np.array([0.6, 0.0, 0.8]), 0.0) ** 2)
    base = lt.project_sh(img)
    np.testing.assert_allclose(lt.rotate_sh(base, 90.0), lt.project_sh(img, 90.0), atol=1e-3)
    np.testing.assert_allclose(lt.rotate_sh(lt.rotate_sh(base, 40.0), -40.0), base, atol=1e-9)


def test_rotation_by_90_moves_the_lobe_where_expected():
    # Lobe along world +X; a 90 degree Mapping rotation brings it to world -Y = camera +z.
    sh = lt.project_sh(env_from(lambda d: np.maximum(d[..., 0], 0.0) ** 4), 90.0)
    dirs = random_dirs(2000, seed=5)
    brightest = dirs[np.argmax(lt.sh_radiance(sh, dirs)[:, 0])]
    assert brightest[2] > 0.95


def test_sh_to_equirect_round_trip():
    sh = np.random.default_rng(2).normal(size=(9, 3))
    for rotation in (0.0, 70.0):
        img = lt.sh_to_equirect(sh, 64, 128, rotation)
        np.testing.assert_allclose(lt.project_sh(img, rotation), sh, atol=2e-3)


def test_bad_sh_shape_is_rejected():
    with pytest.raises(InputError, match="9 x 3"):
        lt.sh_irradiance(np.zeros((4, 3)), random_dirs(2))


# ------------------------------------------------------------------ prefiltering

def test_irradiance_map_of_constant_and_lobe_environments():
    np.testing.assert_allclose(lt.irradiance_map(np.ones((16, 32, 3), np.float32)), np.pi,
                               rtol=1e-4)
    h, w = 32, 64
    lobe = np.array([0.0, 0.6, 0.8])
    img = env_from(lambda d: np.maximum(d @ lobe, 0.0), h, w)
    normals_tex = lt.equirect_directions(h, w).reshape(-1, 3)
    dirs = lt.texture_to_camera(normals_tex, 0.0)
    solid = np.repeat(lt.equirect_solid_angles(h, w), w)
    cosine = np.maximum(dirs @ dirs.T, 0.0)
    # brute-force sum, with the discrete kernel normalised to pi as irradiance_map does
    brute = cosine @ (solid * np.maximum(dirs @ lobe, 0.0)) * np.pi / (cosine @ solid)
    got = lt.irradiance_map(img, h)[..., 0].reshape(-1)
    np.testing.assert_allclose(got, brute, rtol=1e-4, atol=1e-6)


def test_prefilter_preserves_constant_and_widens_with_roughness():
    env = lt.prefilter_environment(np.full((16, 32, 3), 2.0, np.float32))
    for level in env.radiance:
        np.testing.assert_allclose(level, 2.0, rtol=1e-4)
    img = env_from(lambda d: (d[..., 2] > 0.97).astype(np.float64), 64, 128)
    peaks = [lt.prefilter_ggx(img, r).max() for r in (0.0, 0.25, 0.5, 1.0)]
    assert peaks[0] == 1.0 and all(a > b for a, b in zip(peaks, peaks[1:]))


def test_prefiltered_lookup_interpolates_between_levels():
    levels = (0.0, 0.5, 1.0)
    maps = tuple(np.full((4, 8, 3), v, np.float32) for v in (1.0, 3.0, 5.0))
    env = lt.PrefilteredEnvironment(levels, maps, np.zeros((4, 8, 3), np.float32))
    got = lt.prefiltered_radiance(env, random_dirs(4), np.array([0.0, 0.25, 0.75, 1.0]))
    np.testing.assert_allclose(got[:, 0], [1.0, 2.0, 4.0, 5.0], rtol=1e-6)


def test_ggx_sh_gains_run_from_mirror_to_wide():
    gains = lt.ggx_sh_gains(np.array([0.0, 0.3, 0.6, 1.0]))
    np.testing.assert_allclose(gains[:, 0], 1.0)
    assert gains[0, 2] > 0.99 and np.all(np.diff(gains[:, 2]) < 0) and gains[-1, 2] < 0.5


def test_bad_levels_are_rejected():
    with pytest.raises(InputError, match="roughness levels"):
        lt.prefilter_environment(np.ones((8, 16, 3), np.float32), (0.5, 1.0))


# ------------------------------------------------------------------ finding HDRIs

def test_unknown_name_lists_valid_names():
    with pytest.raises(InputError) as err:
        lt.resolve_hdri("beach")
    for name in lt.STUDIO_LIGHTS:
        assert name in str(err.value)


def test_missing_file_is_reported():
    with pytest.raises(InputError, match="not found"):
        lt.resolve_hdri("/nonexistent/folder/sky.exr")


def test_name_lookup_uses_search_dirs_and_env_var(tmp_path, monkeypatch):
    image = np.full((4, 8, 3), 0.25, np.float32)
    save_exr(tmp_path / "night.exr", image, half=False)
    assert lt.resolve_hdri("Night", [tmp_path]) == tmp_path / "night.exr"
    monkeypatch.setenv(lt.STUDIOLIGHTS_ENV, str(tmp_path))
    loaded = lt.load_hdri("night")
    np.testing.assert_allclose(loaded, 0.25)
    assert lt.load_hdri("night") is loaded and not loaded.flags.writeable


def test_missing_builtin_folder_is_reported(tmp_path, monkeypatch):
    monkeypatch.setattr(lt, "studio_light_dirs", lambda search_dirs=None: [tmp_path])
    with pytest.raises(InputError, match="RELIT_STUDIOLIGHTS"):
        lt.resolve_hdri("forest")


def test_bad_array_is_rejected():
    with pytest.raises(InputError, match="H x W x 3"):
        lt.load_hdri(np.zeros((8, 16)))


def test_sample_equirect_is_bilinear_wrapping_in_u():
    h, w = 16, 32
    img = np.zeros((h, w, 3), np.float32)
    img[:, 0] = 1.0                               # the first column, beside the seam
    theta, phi = lt.equirect_angles(h, w)
    row = h // 2
    def at(col):  # the direction of a (fractional) pixel column on one row
        p = np.pi - 2.0 * np.pi * (col + 0.5) / w
        return np.array([np.sin(theta[row]) * np.cos(p), np.sin(theta[row]) * np.sin(p),
                         np.cos(theta[row])])
    got = lt.sample_equirect(img, np.stack([at(0.0), at(-0.5), at(w - 1.0), at(0.25)]))
    assert np.allclose(got[:, 0], [1.0, 0.5, 0.0, 0.75], atol=1 / 32)  # across the seam too
    assert lt.sample_equirect(img, np.zeros((0, 3))).shape == (0, 3)


def test_only_the_callers_folders_and_the_env_var_are_searched(monkeypatch):
    from inference import datafiles

    folders = datafiles.blender_studio_lights()        # the bpy module's copy, found, not imported
    assert any((folder / "forest.exr").is_file() for folder in folders)
    assert lt.resolve_hdri("forest", folders).name == "forest.exr"
    monkeypatch.delenv(lt.STUDIOLIGHTS_ENV, raising=False)
    with pytest.raises(InputError, match="RELIT_STUDIOLIGHTS"):
        lt.resolve_hdri("forest")                      # lighting itself looks nowhere else
