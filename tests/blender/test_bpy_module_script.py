"""Issue 18, item 8: a plain Python script that imports bpy, installs and enables the extension
from its zip (the conftest's recipe) and calls ``app.batch.stage_source`` on a portrait runs
to the end, in a fresh process each time, whichever of bpy and MediaPipe/OpenCV it imports first.

It once aborted the process ("Check failed: !IsGoogleLoggingInitialized() You called
InitGoogleLogging() twice!"). In bpy 5.0.1 with mediapipe 0.10.21 the only glog initialisation in
such a process is Blender's own: libmv_initLogging, called once by main_python_enter when
``import bpy`` first initialises the module. MediaPipe's bindings carry a separate, static glog
that never calls InitGoogleLogging and exports nothing, so neither import order can start glog
twice; these runs keep it so.
"""
import json
import os
import subprocess
import sys

import pytest


_SCRIPT = r'''
import importlib, json, os, sys, tempfile, warnings
first, zip_path, image, report = sys.argv[1:5]
if first == "mediapipe":  # the order `make batch` does not use: MediaPipe and OpenCV first
    import cv2  # noqa: F401
    from mediapipe.python.solutions import face_mesh  # noqa: F401
import bpy

prefs = bpy.context.preferences
repo = prefs.extensions.repos.new(name="Relit script", module="relit_script",
                                  custom_directory=tempfile.mkdtemp(dir=os.path.dirname(report)),
                                  source="USER")
assert bpy.ops.extensions.package_install_files(
    filepath=zip_path, repo=repo.module, enable_on_install=True) == {"FINISHED"}
batch = importlib.import_module("bl_ext.relit_script.relit.app.batch")
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    name, passes, made = batch.stage_source(bpy.context.scene, image, hdri="studio", samples=1)
json.dump({"name": name, "shape": list(passes.shape), "plane": made.plane.name,
           "in_scene": made.plane.name in bpy.context.scene.objects,
           "warnings": [str(w.message) for w in caught] + list(passes.meta.get("warnings", []))},
          open(report, "w"))
'''


@pytest.fixture(scope="module")
def portrait(tmp_path_factory):
    """grace_hopper.jpg at 256×300, so that each run's decompose is short."""
    import cv2
    from inference.demo import portrait_path

    path = tmp_path_factory.mktemp("portrait") / "hopper.png"
    image = cv2.imread(str(portrait_path()))
    cv2.imwrite(str(path), cv2.resize(image, (256, 300), interpolation=cv2.INTER_AREA))
    return path


@pytest.mark.parametrize("first", ["bpy", "mediapipe", "bpy", "mediapipe"])
def test_a_bpy_module_script_stages_a_portrait(tmp_path, portrait, first, extension_zip_file):
    zip_path = extension_zip_file
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(tmp_path / "user"))
    report = tmp_path / "report.json"
    run = subprocess.run([sys.executable, "-c", _SCRIPT, first, str(zip_path), str(portrait),
                          str(report)], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert "InitGoogleLogging" not in run.stderr, run.stderr[-3000:]
    assert run.returncode == 0, run.stderr[-3000:]
    got = json.loads(report.read_text())
    assert got["name"] == "hopper" and got["shape"] == [300, 256] and got["in_scene"], got
    assert not any("no face" in w for w in got["warnings"]), got["warnings"]
