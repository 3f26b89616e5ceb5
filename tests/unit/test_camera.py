"""inference.camera: the photo's pinhole and the face prior turned from the ray frame into
camera space; and the pipeline's prior_camera channels that a NormalNet can ask for."""
import numpy as np
import pytest
from matplotlib import cbook

from inference import camera, pipeline
from inference.images import load_image
from inference.models import Registry
from inference.vectors import unit

from onnx_graphs import channel_slice, install, install_chain


def test_pinhole_of_an_image_follows_blenders_camera():
    lens = camera.Pinhole.of_image((400, 600), 50.0)
    assert lens.focal_px == pytest.approx(50.0 / 36.0 * 600)
    assert (lens.cx, lens.cy) == (300.0, 200.0)
    # Blender's shift_x > 0 moves the frame right: the optical axis lands left of the centre;
    # shift_y > 0 moves it up: the axis lands below the centre (image y points down)
    shifted = camera.Pinhole.of_image((400, 600), 50.0, (0.1, 0.1))
    assert shifted.cx == pytest.approx(240.0) and shifted.cy == pytest.approx(260.0)
    assert lens.scaled(0.5).focal_px == pytest.approx(lens.focal_px / 2)
    assert lens.padded(10).cx == 310.0 and lens.padded(10).focal_px == lens.focal_px
    for bad in (0.0, -5.0, float("nan")):
        with pytest.raises(ValueError, match="focal length"):
            camera.Pinhole.of_image((10, 10), bad)


def test_toward_camera_from_a_point_above_the_centre_points_down():
    lens = camera.Pinhole.of_image((200, 200), 36.0)  # focal = the long side, 200 px
    assert np.allclose(lens.toward_camera(100, 100), [0, 0, 1])
    up = lens.toward_camera(100, 0)  # 100 px above the axis: 26.6° off it
    assert up[1] < 0 and up[0] == pytest.approx(0)
    assert np.degrees(np.arccos(up[2])) == pytest.approx(np.degrees(np.arctan(0.5)))
    right = lens.toward_camera(200, 100)
    assert right[0] < 0 and right[1] == pytest.approx(0)


@pytest.mark.parametrize("direction", [(0, 0, 1), (0.3, -0.2, 0.9), (1, 0, 0), (0, 0, -1)])
def test_rotation_from_z_is_a_rotation_onto_the_direction(direction):
    d = unit(np.array(direction, float))
    rot = camera.rotation_from_z(d)
    assert np.allclose(rot @ [0, 0, 1], d)
    assert np.allclose(rot @ rot.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(rot) == pytest.approx(1.0)


def _disc(shape, centre, radius):
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]] + 0.5
    return ((xx - centre[0]) ** 2 + (yy - centre[1]) ** 2 < radius ** 2).astype(np.float32)


def test_a_face_seen_off_axis_gets_its_camera_space_normals_back():
    """A plate facing the camera's axis (+Z in camera space), above the frame's centre, is seen
    from below: in the ray frame it faces +Z turned away from the ray. prior_to_camera turns
    that view back into camera space."""
    shape, lens = (240, 240), camera.Pinhole.of_image((240, 240), 50.0)
    mask = _disc(shape, (120, 50), 20)
    rows, cols = np.nonzero(mask)
    ray = lens.toward_camera(cols.mean() + 0.5, rows.mean() + 0.5)
    seen = camera.rotation_from_z(ray).T @ [0, 0, 1]  # +Z as the weak-perspective view has it
    assert seen[1] > 0.1  # the mesh seems to face up
    prior = np.zeros((*shape, 3), np.float32)
    prior[mask > 0] = seen
    turned = camera.prior_to_camera(prior, mask, lens)
    assert np.allclose(turned[mask > 0], [0, 0, 1], atol=1e-5)
    assert not turned[mask == 0].any()  # nothing appears outside the prior


def test_a_face_at_the_centre_or_no_face_is_left_as_it_is():
    shape, lens = (240, 320), camera.Pinhole.of_image((240, 320), 50.0)
    prior = np.zeros((*shape, 3), np.float32)
    centred = _disc(shape, (160, 120), 30)
    prior[centred > 0] = unit(np.array([0.2, -0.3, 0.9]))
    assert np.allclose(camera.prior_to_camera(prior, centred, lens), prior, atol=1e-6)
    empty = np.zeros(shape, np.float32)
    assert camera.prior_to_camera(np.zeros_like(prior), empty, lens).shape == prior.shape


@pytest.fixture(scope="module")
def hopper():
    return load_image(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))


def _prior_camera_net(folder):
    """A chain whose NormalNet 'predicts' the camera-space prior (the prior_camera channels)."""
    install_chain(folder)
    feats = pipeline.FEATURES
    normal_in = [*feats["rgb"], *feats["landmarks"], *feats["prior_camera"], "prior_mask",
                 *feats["alpha"]]
    at = normal_in.index("prior_camera_x")
    install(folder, "normal_net", channel_slice(len(normal_in), at, at + 3), normal_in,
            feats["normal"], stride=16)
    return Registry(folder, threads=1)


def test_the_pipeline_turns_the_prior_by_the_photos_lens(hopper, tmp_path):
    """The portrait's face sits high in a frame padded below it: through a wide lens the ray to
    it climbs steeply, and the camera-space prior faces further down than through a long one."""
    h, w = hopper.shape[:2]
    plate = np.concatenate([hopper, np.repeat(hopper[-1:], h, axis=0)])  # the face up top
    registry = _prior_camera_net(tmp_path)
    base = {"registry": registry, "max_side": 256, "mirror_normals": False, "face_frame": False}
    wide, long = (pipeline.decompose(plate, {**base, "focal_mm": mm}).normal
                  for mm in (24.0, 200.0))
    face = (wide * long).sum(-1) < np.cos(np.radians(1.0))  # where the prior is (and turns)
    assert 0.02 < face.mean() < 0.5
    # the face's centre is 0.31 of the long side above the axis: 25° off it through 24 mm,
    # 3° at 200 mm; turning normals that face the camera (Z ≈ 0.8) down by the 22° between
    # lowers their Y by about 0.3
    assert -0.45 < (wide[..., 1] - long[..., 1])[face].mean() < -0.15
    with pytest.raises(Exception, match="focal_mm"):
        pipeline.decompose(plate, {**base, "focal_mm": 0.0})


def test_only_a_normal_net_that_reads_the_camera_prior_is_given_it(chain_dir, tmp_path):
    assert not pipeline.reads_camera_prior(Registry(chain_dir))  # reads prior_x..z
    assert pipeline.reads_camera_prior(_prior_camera_net(tmp_path))


def test_cli_focal_length_warns_when_the_normal_net_ignores_it(with_chain, tmp_path, capsys):
    from inference import cli, images

    photo = tmp_path / "photo.png"
    images.save_png(photo, np.full((48, 64, 3), 0.4, np.float32))
    assert cli.main(["--quiet", "decompose", str(photo), "--out", str(tmp_path / "out"),
                     "--focal-mm", "85", "--max-side", "64"]) == 0
    assert "relit: warning: --focal-mm changes nothing here" in capsys.readouterr().err
    assert cli.main(["--quiet", "decompose", str(photo), "--out", str(tmp_path / "bad"),
                     "--focal-mm", "-1"]) != 0
    assert "focal_mm must be" in capsys.readouterr().err
