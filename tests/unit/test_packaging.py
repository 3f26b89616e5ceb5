"""Packaging facts that a build would only reveal late: wheel pins and zip exclusions."""
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_manifest_wheels_match_bundle_pins():
    """Every bundled wheel is pinned in requirements/bundle.txt, for every platform."""
    pins = {}
    for line in (ROOT / "requirements/bundle.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.lower().replace("-", "_")] = version
    manifest = (ROOT / "blender_manifest.toml").read_text()
    wheels = [w.split("/")[-1] for w in manifest.split('"') if w.endswith(".whl")]
    seen = {}
    for wheel in wheels:
        name, version = wheel.split("-")[:2]
        key = name.lower()
        assert pins.get(key) == version, f"{wheel} is not the pinned version"
        seen.setdefault(key, set()).add(wheel)
    assert set(seen) == set(pins), set(pins) ^ set(seen)


def test_manifest_fields():
    manifest = tomllib.loads((ROOT / "blender_manifest.toml").read_text())
    assert manifest["id"] == "relit" and manifest["schema_version"] == "1.0.0"
    assert manifest["blender_version_min"] == "5.0.0"  # the compositor uses 5.0 API
    assert "files" in manifest["permissions"]
    excluded = manifest["build"]["paths_exclude_pattern"]
    for folder in ("/training/", "/bench/", "/tests/"):
        assert folder in excluded


def test_inference_never_imports_bpy():
    for path in (ROOT / "inference").rglob("*.py"):
        for line in path.read_text().splitlines():
            stripped = line.strip()
            assert not stripped.startswith(("import bpy", "from bpy")), f"{path}: {line}"


# OpenCV's contrib modules: opencv-contrib-python has them, the bundled opencv-python-headless
# does not (the venv has contrib, as mediapipe asks, so only the extension would fail).
CONTRIB_MODULES = {
    "alphamat", "bgsegm", "bioinspired", "ccalib", "datasets", "dnn_superres", "dpm", "face",
    "freetype", "fuzzy", "hfs", "img_hash", "intensity_transform", "legacy", "line_descriptor",
    "mcc", "optflow", "phase_unwrapping", "plot", "quality", "rapid", "reg", "rgbd", "saliency",
    "sfm", "signal", "stereo", "structured_light", "surface_matching", "text", "wechat_qrcode",
    "xfeatures2d", "ximgproc", "xobjdetect", "xphoto"}


def test_extension_code_uses_no_opencv_contrib_module():
    import re

    used = set()
    for folder in ("inference", "app", "operators", "datablocks", "panels"):
        for path in (ROOT / folder).rglob("*.py"):
            for attr in re.findall(r"\bcv2\.([A-Za-z_]\w*)", path.read_text()):
                if attr in CONTRIB_MODULES:
                    used.add(f"{path.relative_to(ROOT)}: cv2.{attr}")
    assert not used, sorted(used)


def _fake_mediapipe(path: Path) -> Path:
    import zipfile

    files = {
        "mediapipe/python/solutions/drawing_utils.py":
            b"import cv2\nimport matplotlib.pyplot as plt\nimport numpy as np\n",
        "mediapipe/modules/face_landmark/face_landmark_with_attention.tflite": b"face",
        "mediapipe/modules/face_detection/face_detection_short_range.tflite": b"det",
        "mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite": b"seg",
        "mediapipe/modules/face_landmark/face_landmark_front_cpu.binarypb": b"graph",
        "mediapipe/modules/pose_landmark/pose_landmark_full.tflite": b"pose" * 100,
        "mediapipe/modules/hand_landmark/hand_landmark_full.tflite": b"hand" * 100,
        "mediapipe/modules/pose_landmark/pose_landmark_cpu.binarypb": b"graph",
    }
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        zf.writestr("mediapipe-0.10.21.dist-info/RECORD",
                    "".join(f"{n},sha256=x,{len(d)}\n" for n, d in files.items())
                    + "mediapipe-0.10.21.dist-info/RECORD,,\n")
    return path


def test_slim_mediapipe_wheel(tmp_path):
    """tools/slim_wheel.py keeps every file but the unused solutions' models, makes matplotlib
    optional and writes a RECORD that matches what the wheel holds."""
    import base64
    import hashlib
    import importlib.util
    import zipfile

    spec = importlib.util.spec_from_file_location("slim_wheel", ROOT / "tools/slim_wheel.py")
    slim_wheel = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(slim_wheel)
    src = _fake_mediapipe(tmp_path / "mediapipe-0.10.21-cp311-cp311-linux.whl")
    dst = tmp_path / "mediapipe-0.10.21-1relit-cp311-cp311-linux.whl"
    slim_wheel.slim(src, dst)
    with zipfile.ZipFile(dst) as zf:
        names = set(zf.namelist())
        assert not any(n.endswith(".tflite") and ("/pose_" in n or "/hand_" in n) for n in names)
        assert {"mediapipe/modules/face_landmark/face_landmark_with_attention.tflite",
                "mediapipe/modules/face_detection/face_detection_short_range.tflite",
                "mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite",
                "mediapipe/modules/pose_landmark/pose_landmark_cpu.binarypb"} <= names
        drawing = zf.read("mediapipe/python/solutions/drawing_utils.py").decode()
        assert "except ImportError:\n  plt = None" in drawing
        compile(drawing, "drawing_utils.py", "exec")
        rows = [r.split(",") for r in zf.read("mediapipe-0.10.21.dist-info/RECORD")
                .decode().splitlines()]
        assert {r[0] for r in rows} == names
        for name, digest, size in rows:
            if digest:
                data = zf.read(name)
                expect = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
                assert digest == "sha256=" + expect.decode() and int(size) == len(data)
    # the manifest bundles the slim wheel on every platform, and names the full one nowhere
    manifest = (ROOT / "blender_manifest.toml").read_text()
    mediapipe = [w for w in manifest.split('"') if "/mediapipe-" in w]
    assert len(mediapipe) == 3 and all("-0.10.21-1relit-" in w for w in mediapipe)
