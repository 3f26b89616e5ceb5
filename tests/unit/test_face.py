"""Face landmarks, landmark channels, face-mesh normal prior and matte (inference/face.py)."""
import sys
import threading

import cv2
import numpy as np
import pytest
from matplotlib import cbook

from inference import face
from inference.errors import Cancelled, InputError, RelitWarning
from inference.images import load_image

NOSE_TIP, NOSE_BRIDGE_TIP = 1, 4
RIGHT_CHEEK, LEFT_CHEEK = 50, 280  # the subject's: right cheek is on the image left
FOREHEAD, CHIN = 151, 175


@pytest.fixture(scope="module")
def hopper():
    return load_image(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))


@pytest.fixture(scope="module")
def result(hopper):
    return face.analyse(hopper)


def sample(image, point, radius=2):
    """Mean of ``image`` over a (2r+1)² window centred on a landmark (x, y)."""
    x, y = int(point[0]), int(point[1])
    return image[y - radius:y + radius + 1, x - radius:x + radius + 1].reshape(
        -1, *image.shape[2:]).mean(axis=0)


def test_one_face_with_478_landmarks_inside_the_image(hopper, result):
    h, w = hopper.shape[:2]
    assert result.warnings == []
    assert len(result.landmarks.faces) == 1
    points = result.landmarks.primary.points
    assert points.shape == (face.NUM_LANDMARKS, 3) and points.dtype == np.float32
    assert (points[:, 0] >= 0).all() and (points[:, 0] < w).all()
    assert (points[:, 1] >= 0).all() and (points[:, 1] < h).all()
    # the nose is nearer the camera than the cheeks (MediaPipe z: negative = nearer)
    assert points[NOSE_TIP, 2] < points[RIGHT_CHEEK, 2] - 20


def test_prior_normals_point_the_expected_ways(result):
    normal, points = result.prior_normal, result.landmarks.primary.points
    assert sample(normal, points[NOSE_BRIDGE_TIP])[2] > 0.8
    assert sample(normal, points[NOSE_TIP])[2] > 0.8
    assert points[RIGHT_CHEEK, 0] < points[LEFT_CHEEK, 0]
    assert sample(normal, points[RIGHT_CHEEK])[0] < -0.3
    assert sample(normal, points[LEFT_CHEEK])[0] > 0.3
    assert sample(normal, points[FOREHEAD])[1] > 0.1
    assert sample(normal, points[CHIN])[1] < -0.3


def test_prior_is_unit_inside_its_mask_and_zero_outside(result):
    normal, mask = result.prior_normal, result.prior_mask
    assert normal.dtype == np.float32 and mask.dtype == np.float32
    assert set(np.unique(mask)) == {0.0, 1.0}
    inside = mask > 0
    np.testing.assert_allclose(np.linalg.norm(normal[inside], axis=1), 1.0, atol=1e-5)
    assert not normal[~inside].any()
    # the mask closes the eye and mouth openings and matches the face oval channel
    oval = result.landmark_channels[..., face.LANDMARK_CHANNELS.index("face_oval")] > 0.5
    assert (inside & oval).sum() / (inside | oval).sum() > 0.95
    for landmark in (468, 473):  # iris centres
        x, y = result.landmarks.primary.points[landmark, :2].astype(int)
        assert mask[y, x] == 1.0


def test_prior_at_a_vertex_is_that_vertex_normal(result, hopper):
    """The barycentric sample is taken at the pixel's centre: a pixel whose centre lies on a
    mesh vertex gets exactly that vertex's normal (not its neighbour's, a pixel off)."""
    points = result.landmarks.faces[0].points.astype(np.float64)
    triangles, holes = face._mesh_topology()
    for v in (NOSE_TIP, NOSE_BRIDGE_TIP, RIGHT_CHEEK, LEFT_CHEEK, FOREHEAD):
        p = points.copy()
        p[:, :2] += np.floor(p[v, :2]) + 0.5 - p[v, :2]  # vertex v on a pixel centre
        p = p.astype(np.float32)
        normal, mask = face.face_prior(face.Face(p), hopper.shape[:2])
        expected = face._vertex_normals(face._mesh_vertices(p, holes, 1.0), triangles)[v]
        col, row = np.floor(p[v, :2]).astype(int)
        assert mask[row, col] == 1
        assert np.abs(normal[row, col] - expected).max() < 1e-5


@pytest.mark.parametrize("degrees", [30.0, -30.0])
def test_prior_of_a_turned_face(result, hopper, degrees):
    """Turning the landmarks about the vertical axis toward image right gives nx > 0."""
    points = result.landmarks.primary.points.astype(np.float64)
    centre = points.mean(axis=0)
    x, depth = points[:, 0] - centre[0], -(points[:, 2] - centre[2])  # depth toward the viewer
    a = np.radians(degrees)
    turned = points.copy()
    turned[:, 0] = centre[0] + x * np.cos(a) + depth * np.sin(a)
    turned[:, 2] = centre[2] - (-x * np.sin(a) + depth * np.cos(a))
    normal, mask = face.face_prior(face.Face(turned.astype(np.float32)), hopper.shape[:2])
    for landmark in (NOSE_BRIDGE_TIP, FOREHEAD, CHIN):  # rotated with the face, not occluded
        before = sample(result.prior_normal, points[landmark])
        expected_nx = before[0] * np.cos(a) + before[2] * np.sin(a)
        after = sample(normal, turned[landmark])
        assert abs(after[0] - expected_nx) < 0.15, landmark
        assert np.sign(after[0]) == np.sign(degrees) and abs(after[0]) > 0.2
    assert sample(mask, turned[NOSE_BRIDGE_TIP]) == 1.0


def test_landmark_channels(hopper, result):
    channels, points = result.landmark_channels, result.landmarks.primary.points
    assert channels.shape == (*hopper.shape[:2], len(face.LANDMARK_CHANNELS))
    assert channels.dtype == np.float32
    assert channels.min() >= 0.0 and channels.max() <= 1.0
    assert (channels.reshape(-1, channels.shape[-1]).max(axis=0) > 0.99).all()
    assert not channels[:20, :20].any()
    splats = channels[..., face.LANDMARK_CHANNELS.index("landmarks")]
    x, y = np.round(points[NOSE_TIP, :2] - 0.5).astype(int)
    assert splats[y, x] > 0.5
    upper_lip = (points[0, :2] + points[13, :2]) / 2  # between the outer and inner lip lines
    inner_brow = (points[105, :2] + points[66, :2]) / 2  # between the upper and lower brow lines
    for name, xy in (("lips", upper_lip), ("nose", points[NOSE_BRIDGE_TIP, :2]),
                     ("eyes", points[468, :2]), ("brows", inner_brow)):
        x, y = xy.astype(int)
        assert channels[y, x, face.LANDMARK_CHANNELS.index(name)] > 0.9, name

    # open the mouth: move the lower lip (outer and inner lines) 6 px down; the gap is not lips
    lower_lip = [146, 91, 181, 84, 17, 314, 405, 321, 375, 95, 88, 178, 87, 14, 317, 402, 318, 324]
    opened = points.copy()
    opened[lower_lip, 1] += 6
    x, y = ((opened[13, :2] + opened[14, :2]) / 2).astype(int)
    open_channels = face.landmark_channels(face.Face(opened), hopper.shape[:2])
    assert open_channels[y, x, face.LANDMARK_CHANNELS.index("lips")] < 0.1
    assert open_channels[y, x, face.LANDMARK_CHANNELS.index("face_oval")] > 0.9
    lips = channels[..., face.LANDMARK_CHANNELS.index("lips")]
    assert (lips > 0.5).sum() > 200


def test_matte_high_on_the_person_low_in_the_background(result):
    alpha, points = result.matte, result.landmarks.primary.points
    assert alpha.dtype == np.float32 and alpha.shape == result.prior_mask.shape
    assert alpha.min() >= 0.0 and alpha.max() <= 1.0
    assert sample(alpha, points[NOSE_TIP]) > 0.9
    assert alpha[:10, :10].max() < 0.1


def test_matte_alone_and_model_choice(hopper):
    for model in (0, 1):
        alpha = face.matte(hopper, model_selection=model)
        assert alpha.shape == hopper.shape[:2] and alpha[:10, :10].max() < 0.1


def test_blank_image_warns_and_gives_empty_outputs():
    grey = np.full((240, 320, 3), 0.18, np.float32)
    with pytest.warns(RelitWarning, match="no face"):
        out = face.analyse(grey)
    assert out.landmarks.faces == [] and out.landmarks.available
    assert any("no face" in w for w in out.warnings)
    assert out.landmark_channels.shape == (240, 320, len(face.LANDMARK_CHANNELS))
    assert not out.landmark_channels.any() and not out.prior_normal.any()
    assert not out.prior_mask.any()
    assert out.matte.shape == (240, 320)


def test_several_faces_warn_and_use_the_largest(hopper, result):
    h, w = hopper.shape[:2]
    small = np.zeros_like(hopper)
    small[h // 8:h // 8 + h * 3 // 4, w // 8:w // 8 + w * 3 // 4] = cv2.resize(
        hopper, (w * 3 // 4, h * 3 // 4), interpolation=cv2.INTER_AREA)
    pair = np.concatenate([small, hopper], axis=1)
    with pytest.warns(RelitWarning, match="2 faces found; using the largest"):
        out = face.analyse(pair)
    assert len(out.landmarks.faces) == 2
    big, other = out.landmarks.faces
    assert big.size > other.size * 1.2
    assert (big.points[:, 0] > w).all() and (other.points[:, 0] < w).all()
    moved = np.abs(big.points[:, :2] - [w, 0] - result.landmarks.primary.points[:, :2])
    assert np.median(moved) < 3.0
    assert not out.landmark_channels[:, :w].any() and not out.prior_mask[:, :w].any()
    assert out.prior_mask[:, w:].sum() > 0.9 * result.prior_mask.sum()


def test_without_mediapipe_outputs_degrade(hopper, monkeypatch):
    face.close()
    monkeypatch.setitem(sys.modules, "mediapipe", None)
    with pytest.warns(RelitWarning, match="mediapipe is unavailable"):
        out = face.analyse(hopper)
    assert not out.landmarks.available and out.landmarks.primary is None
    assert len(out.warnings) == 2 and len(out.landmarks.warnings) == 1
    assert out.landmark_channels.shape == (*hopper.shape[:2], len(face.LANDMARK_CHANNELS))
    assert not out.landmark_channels.any() and not out.prior_mask.any()
    assert (out.matte == 1.0).all()
    monkeypatch.undo()
    assert len(face.detect_landmarks(hopper).faces) == 1


@pytest.mark.parametrize("shape", [(1, 1, 3), (1, 1), (3, 2, 4), (2, 5, 1)])
def test_tiny_images_do_not_crash(shape):
    with pytest.warns(RelitWarning, match="no face"):
        out = face.analyse(np.full(shape, 0.5, np.float32))
    assert out.landmark_channels.shape == (*shape[:2], len(face.LANDMARK_CHANNELS))
    assert out.prior_normal.shape == (*shape[:2], 3) and out.matte.shape == shape[:2]


def test_grey_and_rgba_inputs(hopper, result):
    rgba = np.concatenate([hopper, np.full_like(hopper[..., :1], 0.5)], axis=-1)
    np.testing.assert_array_equal(face.detect_landmarks(rgba).primary.points,
                                  result.landmarks.primary.points)
    grey = hopper.mean(axis=-1)
    found = face.detect_landmarks(grey)
    assert len(found.faces) == 1
    assert np.abs(found.primary.points[:, :2] - result.landmarks.primary.points[:, :2]).max() < 10


def test_bad_inputs_and_options_raise_input_error(hopper):
    with pytest.raises(InputError):
        face.analyse(np.zeros((0, 4, 3), np.float32))
    with pytest.raises(InputError):
        face.analyse(np.zeros((4, 4, 6), np.float32))
    with pytest.raises(InputError, match="unknown face options: colour"):
        face.analyse(hopper, options={"colour": 1})
    with pytest.raises(InputError, match="max_faces"):
        face.analyse(hopper, options=face.FaceOptions(max_faces=0))


def test_options_mapping_and_shrunk_analysis(hopper, result):
    out = face.analyse(hopper, options={"max_side": 256, "splat_sigma": 4.0})
    assert out.landmark_channels.shape[:2] == hopper.shape[:2]
    moved = np.abs(out.landmarks.primary.points[:, :2] - result.landmarks.primary.points[:, :2])
    assert np.median(moved) < 3.0
    assert (out.matte[result.prior_mask > 0] > 0.9).mean() > 0.95


def test_progress_and_cancel(hopper):
    seen = []
    face.analyse(hopper, progress=lambda f, m: seen.append(f))
    assert seen == sorted(seen) and seen[-1] == 1.0
    with pytest.raises(Cancelled):
        face.analyse(hopper, cancel=lambda: True)


def test_threads_share_the_cached_graph(hopper, result):
    outputs = [None] * 4

    def work(i):
        outputs[i] = face.detect_landmarks(hopper).primary.points

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for points in outputs:
        np.testing.assert_array_equal(points, result.landmarks.primary.points)


def test_close_then_detect_again(hopper):
    face.close()
    assert face._GRAPHS == {}
    assert len(face.detect_landmarks(hopper).faces) == 1
    face.close()


def test_a_face_in_an_underexposed_plate_is_found_by_exposing_it(hopper):
    dark = hopper * 0.001  # a few 8-bit codes deep: Face Mesh alone sees nothing
    assert face._srgb8(dark).max() <= 12
    found = face.detect_landmarks(dark)
    assert len(found.faces) == 1 and found.warnings == []
    # the same landmarks as in the plate as shot, to within a few pixels
    plain = face.detect_landmarks(hopper).primary.points
    err = np.abs(found.primary.points[:, :2] - plain[:, :2]).mean()
    assert err < 0.01 * hopper.shape[1]


def test_exposures_try_the_plate_as_shot_first():
    rgb = np.full((8, 8, 3), 0.2, np.float32)
    tries = list(face._exposures(rgb))
    assert np.array_equal(tries[0], face._srgb8(rgb))
    assert len(tries) == 3 and tries[1].min() == 255   # 99th percentile to white
    assert list(face._exposures(np.zeros((8, 8, 3), np.float32)))[1:] == []


def test_matte_covers_the_face_on_a_tight_crop(hopper, result):
    """Selfie Segmentation alone fails on a tight face crop (no background to tell the person
    from); the face-mesh hull keeps the matte at 1 over the face, soft at its edge."""
    x0, y0, x1, y1 = (int(v) for v in result.landmarks.primary.bbox)
    crop = np.ascontiguousarray(hopper[y0 + 10:y1 - 10, x0 + 10:x1 - 10])
    out = face.analyse(crop)
    inside = out.prior_mask > 0
    assert inside.mean() > 0.5
    assert (out.matte[inside] > 0.99).mean() > 0.99
    bare = face.analyse(crop, options={"matte_face_hull": False})
    assert (bare.matte[inside] > 0.99).mean() < (out.matte[inside] > 0.99).mean()


def test_face_hull_is_one_inside_and_soft_outside(result):
    f = result.landmarks.primary
    shape = result.prior_mask.shape
    hull = face.face_hull(f, shape)
    assert hull.dtype == np.float32 and hull.shape == shape
    assert (hull[result.prior_mask > 0] > 0.99).all()
    assert hull[:10, :10].max() == 0.0
    edge = (hull > 0.0) & (hull < 1.0)
    assert edge.any()
    assert not face.face_hull(None, shape).any()


@pytest.mark.parametrize("turn", [90, 180, 270])
def test_a_turned_plate_finds_the_face_and_maps_it_back(hopper, result, turn):
    """A portrait shot turned (no EXIF orientation): the face is found with the image turned
    upright again, the turn is reported, and every output is in the plate's own orientation."""
    plate = face.turned(hopper, 360 - turn)  # needs ``turn``° clockwise to stand upright
    with pytest.warns(RelitWarning, match=f"turned {turn}° clockwise"):
        out = face.analyse(plate)
    assert out.turn == turn and out.landmarks.turn == turn
    assert any(f"turned {turn}°" in w for w in out.warnings)
    points = out.landmarks.primary.points
    assert (points[:, 0] >= 0).all() and (points[:, 0] < plate.shape[1]).all()
    assert (points[:, 1] >= 0).all() and (points[:, 1] < plate.shape[0]).all()
    # the plate's landmarks, turned with the plate, land on the upright portrait's
    upright = face.unturn_points(points, 360 - turn, hopper.shape[:2])
    moved = np.abs(upright[:, :2] - result.landmarks.primary.points[:, :2])
    assert moved.max() < 2.0
    np.testing.assert_allclose(upright[:, 2], result.landmarks.primary.points[:, 2], atol=0.5)
    # the channels, the prior's mask and the matte are the upright ones turned with the plate
    for name in ("landmark_channels", "prior_mask", "matte"):
        back = face.turned(getattr(out, name), turn)
        assert back.shape == getattr(result, name).shape
        assert np.abs(back - getattr(result, name)).mean() < 0.01, name


def test_an_upside_down_face_is_found_only_by_turning(hopper):
    plate = face.turned(hopper, 180)
    with pytest.warns(RelitWarning, match="no face"):
        assert face.detect_landmarks(plate, turns=False).faces == []
    found = face.detect_landmarks(plate)
    assert found.turn == 180 and len(found.faces) == 1


def test_turned_points_follow_their_pixel():
    """unturn_points maps a pixel centre of the turned image onto that pixel's centre in the
    image as given, for every turn (continuous coordinates, x right, y down)."""
    image = np.zeros((5, 7), np.float32)
    image[1, 5] = 1.0  # row 1, column 5: centre (5.5, 1.5)
    for turn in (0, 90, 180, 270):
        view = face.turned(image, turn)
        row, col = np.argwhere(view == 1.0)[0]
        xyz = np.array([[col + 0.5, row + 0.5, -3.0]], np.float32)
        np.testing.assert_array_equal(face.unturn_points(xyz, turn, image.shape),
                                      [[5.5, 1.5, -3.0]])
        np.testing.assert_array_equal(face.unturned(view, turn), image)
    with pytest.raises(InputError):
        face.unturn_points(xyz, 45, image.shape)
