"""``python tools/slim_wheel.py SRC.whl DST.whl``: the MediaPipe wheel that the extension bundles.

MediaPipe 0.10.21 ships the models of every legacy solution (pose, hands, holistic, iris…) and
imports matplotlib at ``import mediapipe`` for ``drawing_utils.plot_landmarks`` alone. Relit runs
two solutions, Face Mesh (``refine_landmarks`` on or off) and Selfie Segmentation, and draws
nothing. The slim wheel is the PyPI wheel with:

- the ``.tflite`` models of the solutions Relit never runs left out (about 20 MB per platform);
  every model under ``face_detection``, ``face_landmark`` and ``selfie_segmentation`` is kept,
  and every graph, Python file and library;
- ``import matplotlib.pyplot`` in ``drawing_utils`` made optional, so that matplotlib and its
  dependencies (17 MB) need not be bundled. ``plot_landmarks`` still works where matplotlib is
  installed.

The file name carries the build tag ``1relit`` (``mediapipe-0.10.21-1relit-cp311-…``): where
another extension bundles the full ``mediapipe-0.10.21`` wheel, Blender's de-duplication (same
version, then the greater file name) installs the full one, which serves Relit as well. Change
what this script does and the build tag must grow (``2relit``), since ``make wheels`` keeps a
wheel it already built.

The output is reproducible: entries keep their order and time stamps, and RECORD is rewritten
with the hashes of what the wheel now holds.
"""
from __future__ import annotations

import base64
import hashlib
import sys
import zipfile
from pathlib import Path

KEEP_MODELS = ("mediapipe/modules/face_detection/", "mediapipe/modules/face_landmark/",
               "mediapipe/modules/selfie_segmentation/")
DRAWING = "mediapipe/python/solutions/drawing_utils.py"
PLT_IMPORT = b"import matplotlib.pyplot as plt\n"
PLT_OPTIONAL = (b"try:  # Relit's slim wheel: only plot_landmarks needs matplotlib\n"
                b"  import matplotlib.pyplot as plt\n"
                b"except ImportError:\n"
                b"  plt = None\n")


def keep(name: str) -> bool:
    return not name.endswith(".tflite") or name.startswith(KEEP_MODELS)


def patch(name: str, data: bytes) -> bytes:
    if name == DRAWING:
        if data.count(PLT_IMPORT) != 1:
            raise SystemExit(f"{name}: the matplotlib import is not where it was expected")
        data = data.replace(PLT_IMPORT, PLT_OPTIONAL)
    return data


def record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def slim(src: Path, dst: Path) -> None:
    with zipfile.ZipFile(src) as zin:
        infos = zin.infolist()
        record = next(i for i in infos if i.filename.endswith(".dist-info/RECORD"))
        kept, lines = [], []
        for info in infos:
            if info is record or not keep(info.filename):
                continue
            data = patch(info.filename, zin.read(info))
            kept.append((info, data))
            lines.append(record_line(info.filename, data))
        lines.append(f"{record.filename},,")
        with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zout:
            for info, data in kept + [(record, ("\n".join(lines) + "\n").encode())]:
                out = zipfile.ZipInfo(info.filename, info.date_time)
                out.external_attr = info.external_attr
                out.compress_type = zipfile.ZIP_DEFLATED
                zout.writestr(out, data, compresslevel=9)
    dropped = [i.filename for i in infos if not keep(i.filename)]
    print(f"{dst.name}: {len(dropped)} unused models left out, "
          f"{src.stat().st_size / 1e6:.1f} -> {dst.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    slim(Path(sys.argv[1]), Path(sys.argv[2]))
