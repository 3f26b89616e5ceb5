"""The bad-input matrix: files and options a careless or hostile user gives Relit, each with the
outcome it must get. Shared by the ``python -m inference`` matrix (tests/unit) and the
``make batch`` one (tests/blender), so both front ends are held to the same cases.

Each case is an argument list (``{dir}`` is the folder the files were written to, ``{out}`` a
fresh output path for the case) with the exit code it must end with and a regular expression its
stderr must match. Failing cases also print nothing but their one ``relit: error:`` line
(besides warnings), and no case prints a traceback.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from inference import images
from inference.demo import portrait_path


@dataclass(frozen=True)
class Case:
    name: str
    argv: tuple[str, ...]
    code: int
    stderr: str = ""                 # a regular expression stderr must match
    outputs: tuple[str, ...] = ()    # paths (formatted like argv) that must exist afterwards
    models: str = "chain"            # chain (the wiring stand-ins), corrupt, bad_manifest, none
    stale: tuple[str, ...] = ()      # temporaries a killed run left, made before the case
    batch_stale: tuple[str, ...] = ()  # the same for its make batch form
    cli: bool = True                 # through python -m inference
    batch: bool = True               # also through make batch (relight in Cycles)
    tags: frozenset = field(default_factory=frozenset)

    def format(self, folder: Path, out: Path) -> list[str]:
        return [a.format(dir=folder, out=out) for a in self.argv]


def prepare(case: Case, folder: Path, out: Path) -> list[Path]:
    """Leave the case's stale temporaries (ten minutes old and more) where a run killed with
    ``kill -9`` would have; returns them."""
    import os

    left = [Path(p.format(dir=folder, out=out)) for p in case.stale]
    for path in left:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half a file")
        os.utime(path, (1_000_000_000, 1_000_000_000))
    return left


def portrait(size: int = 160) -> np.ndarray:
    """The bundled portrait (linear RGB), its long side ``size`` pixels."""
    face = images.load_image(portrait_path())[..., :3]
    h, w = face.shape[:2]
    return images.resize(face, (max(1, round(w * size / max(h, w))),
                                max(1, round(h * size / max(h, w)))))


def _png_bytes(folder: Path, image: np.ndarray) -> bytes:
    path = folder / ".tmp.png"
    images.save_png(path, image)
    data = path.read_bytes()
    path.unlink()
    return data


def write_files(folder: Path) -> Path:
    """Every file the matrix reads, in ``folder`` (made if missing)."""
    folder.mkdir(parents=True, exist_ok=True)
    face = portrait()
    rng = np.random.default_rng(7)
    images.save_png(folder / "face.png", face)
    images.save_jpeg(folder / "face.jpg", face)
    (folder / "empty.png").write_bytes(b"")
    png = (folder / "face.png").read_bytes()
    jpg = (folder / "face.jpg").read_bytes()
    (folder / "cut.png").write_bytes(png[: len(png) // 2])
    (folder / "cut.jpg").write_bytes(jpg[: len(jpg) // 2])
    (folder / "text.png").write_text("this is not an image\n")
    (folder / "png_named.exr").write_bytes(png)
    images.save_png(folder / "sixteen.png", face, bits=16)
    bad = face.copy()
    bad[5, 5], bad[6, 6], bad[7, 7] = np.nan, np.inf, -np.inf
    images.save_exr(folder / "nan.exr", bad, half=False)
    images.save_png(folder / "one.png", np.full((1, 1, 3), 0.4, np.float32))
    images.save_png(folder / "two.png", np.full((2, 2, 3), 0.4, np.float32))
    images.save_png(folder / "thin.png", rng.random((3000, 7, 3)).astype(np.float32))
    images.save_png(folder / "grey.png", face.mean(axis=2, keepdims=True))
    images.save_png(folder / "rgba.png", np.dstack([face, np.ones(face.shape[:2], np.float32)]))
    from PIL import Image
    Image.fromarray((images.linear_to_srgb(face) * 255 + 0.5).astype(np.uint8)).convert(
        "CMYK").save(folder / "cmyk.jpg")
    images.save_png(folder / "noise.png", rng.random((80, 80, 3)).astype(np.float32))
    images.save_png(folder / "flat.png", np.full((64, 64, 3), [0.6, 0.3, 0.2], np.float32))
    images.save_png(folder / "two_faces.png", np.concatenate([face, face[:, ::-1]], axis=1))
    images.save_png(folder / "dark.png", face * 0.004)
    images.save_png(folder / "blown.png", np.clip(face * 12.0, 0, 1))
    h, w = face.shape[:2]
    images.save_png(folder / "tight.png", face[h // 5: h * 3 // 5, w // 4: w * 3 // 4])
    images.save_png(folder / "upside_down.png", face[::-1, ::-1])
    spaced = folder / "dossier été" / "visage à l'envers.png"
    spaced.parent.mkdir(exist_ok=True)
    images.save_png(spaced, face)
    (folder / "no_images").mkdir(exist_ok=True)
    (folder / "a_file").write_text("a file where a folder should be")
    images.save_jpeg(folder / "sky.jpg", np.full((16, 32, 3), 0.8, np.float32))
    for f in (1, 2, 4, 5):                    # frame 3 is missing
        images.save_png(folder / f"gap.{f:04d}.png", face * (0.9 + 0.02 * f))
    images.save_png(folder / "wide.png", face[:48])
    (folder / "lights.json").write_text("[[0, 0, 1], [1, 0, 1]")   # not JSON
    return folder


def models_folder(kind: str, chain: Path, folder: Path) -> Path:
    """A models folder: the chain as given, or a copy broken as ``kind`` says."""
    if kind == "chain":
        return chain
    target = folder / f"models_{kind}"
    if target.exists():
        return target
    if kind == "none":
        target.mkdir()
        return target
    shutil.copytree(chain, target)
    if kind == "corrupt":
        (target / "normal_net.onnx").write_bytes(b"\x08\x07garbage, not a protobuf" * 8)
    elif kind == "bad_manifest":
        (target / "manifest.json").write_text('{"schema": 1, "models": {"normal_net": ')
    elif kind == "missing":
        (target / "illum_net.onnx").unlink()
    return target


def _decompose(name, image, code=0, stderr="", **kw):
    outputs = ("{out}/" + Path(image).stem + "/passes.exr",) if code == 0 else ()
    return Case(name, ("decompose", "{dir}/" + image, "--out", "{out}"), code, stderr,
                outputs=outputs, **kw)



CASES: list[Case] = [
    # files that are not images, or not whole ones: a one-line error, exit 2
    _decompose("empty file", "empty.png", 2, r"image file is empty \(0 bytes\): .*empty\.png"),
    _decompose("truncated png", "cut.png", 2, r"image file is truncated: .*cut\.png"),
    _decompose("truncated jpeg", "cut.jpg", 2, r"image file is truncated: .*cut\.jpg"),
    _decompose("text named png", "text.png", 2, r"cannot decode image \(corrupt or truncated\?\): .*text\.png"),
    _decompose("png named exr", "png_named.exr", 2, r"cannot read EXR \(corrupt or truncated\?\): .*png_named\.exr"),
    _decompose("missing file", "missing.png", 2, r"image not found: .*missing\.png"),
    _decompose("empty folder", "no_images", 2, r"no images in folder .*no_images"),
    # odd images that are images: decomposed, with a warning where something was given up
    _decompose("sixteen bit", "sixteen.png"),
    _decompose("nan and inf exr", "nan.exr", 0, r"warning: .*NaN/Inf"),
    _decompose("one pixel", "one.png"),
    _decompose("two pixels", "two.png"),
    _decompose("seven by three thousand", "thin.png"),
    _decompose("grey", "grey.png"),
    _decompose("rgba", "rgba.png"),
    _decompose("cmyk jpeg", "cmyk.jpg"),
    _decompose("noise", "noise.png", 0, r"warning: .*no face"),
    _decompose("flat colour", "flat.png", 0, r"warning: .*no face"),
    _decompose("two faces", "two_faces.png"),
    _decompose("very dark", "dark.png"),
    _decompose("blown out", "blown.png"),
    _decompose("tight crop", "tight.png"),
    _decompose("upside down", "upside_down.png", 0, r"warning: the face is not upright: found with the image turned 180°"),
    Case("unicode path with spaces", ("decompose", "{dir}/dossier été/visage à l'envers.png",
                                      "--out", "{out}"), 0,
         outputs=("{out}/visage à l'envers/passes.exr",)),
    # models
    _decompose("corrupt model", "face.png", 3, r"normal_net", models="corrupt"),
    _decompose("bad manifest", "face.png", 3, r"cannot read model manifest .*manifest\.json",
               models="bad_manifest"),
    _decompose("missing model", "face.png", 3, r"model not installed: illum_net",
               models="missing"),
    _decompose("no models", "face.png", 3, r"model not installed: normal_net", models="none"),
    # options, all refused before any work
    Case("unknown hdri", ("relight", "{dir}/face.png", "--hdri", "beach", "--out",
                          "{out}.png"), 2, r"unknown HDRI name 'beach'"),
    Case("stabilise out of range", ("decompose", "{dir}/face.png", "--out", "{out}",
                                    "--stabilise", "5"), 2, r"strength", batch=False),
    Case("rotation nan", ("relight", "{dir}/face.png", "--hdri", "studio", "--rotation",
                          "nan", "--out", "{out}.png"), 2,
         r"--rotation must be a finite number; got nan"),
    Case("absurd samples", ("relight", "{dir}/face.png", "--hdri", "studio", "--samples",
                            "100000000", "--out", "{out}.png"), 2, r"--samples must be 1 to 16384; got 100000000",
         cli=False),
    Case("output folder is a file", ("decompose", "{dir}/face.png", "--out",
                                     "{dir}/a_file"), 4, r"not a folder"),
    Case("output under /proc", ("relight", "{dir}/face.png", "--hdri", "studio", "--out",
                                "/proc/relit.png"), 4, r"/proc"),
    Case("output exists", ("relight", "{dir}/face.png", "--hdri", "studio", "--out",
                           "{dir}/face.jpg"), 4, r"exists; pass --overwrite"),
    Case("unwritable output format", ("relight", "{dir}/face.png", "--hdri", "studio",
                                      "--out", "{out}.tga"), 2, r"unsupported output format"),
    Case("ldr hdri", ("relight", "{dir}/face.png", "--hdri", "{dir}/sky.jpg", "--out",
                      "{out}.png"), 0, r"warning: --hdri sky\.jpg is a low-dynamic-range",
         outputs=("{out}.png",)),
    Case("lights not json", ("relight", "{dir}/face.png", "--lights", "{dir}/lights.json",
                             "--out", "{out}.png"), 2, r"lights\.json"),
    Case("models folder missing", ("relight", "{dir}/face.png", "--hdri", "studio",
                                   "--models", "{dir}/nowhere", "--out", "{out}.png"), 2,
         r"models folder not found"),
    # sequences
    Case("sequence gap", ("decompose", "{dir}/gap.####.png", "--out", "{out}"), 2,
         r"has no frame 3 \(it holds 1-2,4-5\)"),
    Case("sequence gap skipped", ("decompose", "{dir}/gap.####.png", "--out", "{out}",
                                  "--on-error", "skip"), 0, r"warning: gap\.####\.png has no "
         r"frame 3", outputs=("{out}/gap.0005/passes.exr",), batch=False),
    Case("unrelated sizes", ("decompose", "{dir}/face.png", "{dir}/wide.png", "--out",
                             "{out}"), 0, r"^(?![\s\S]*stabilis)",
         outputs=("{out}/face/passes.exr", "{out}/wide/passes.exr"), batch=False),
    Case("leftovers of a killed run", ("decompose", "{dir}/face.png", "--out", "{out}",
                                       "--overwrite"), 0,
         r"removed 1 stale temporary left by an interrupted run: .*\.passes\.k3j5h7g9\.tmp\.exr",
         outputs=("{out}/face/passes.exr",), stale=("{out}/face/.passes.k3j5h7g9.tmp.exr",),
         batch_stale=("{out}/.face.q1w2e3r4.tmp.png",)),
    Case("two inputs one name", ("decompose", "{dir}/face.png", "{dir}/face.jpg", "--out",
                                 "{out}"), 2, r"would both write"),
]


def by_name(name: str) -> Case:
    return next(c for c in CASES if c.name == name)


def as_batch(case: Case) -> Case | None:
    """The same case through ``make batch``: a decompose becomes a Cycles relight of the image
    (the batch's own command, which decomposes it inside Blender first); the others as given."""
    if not case.batch:
        return None
    argv = list(case.argv)
    if argv[0] != "decompose":
        return case
    sources = argv[1:argv.index("--out")]
    rest = [a for a in argv[argv.index("--out") + 2:]]
    out = argv[argv.index("--out") + 1]
    if out == "{out}" and len(sources) == 1:
        out = "{out}.png"
    outputs = (out,) if case.code == 0 and len(sources) == 1 else ()
    if case.batch_stale:   # one image, relit to a file in a folder of the killed run's
        out = "{out}/face.png"
        outputs = (out,)
    stderr = case.stderr.replace(r"\.passes\.k3j5h7g9\.tmp\.exr", r"\.face\.q1w2e3r4\.tmp\.png")
    return Case(case.name, ("relight", *sources, "--hdri", "studio", "--samples", "1",
                            "--out", out, *rest), case.code, stderr, outputs=outputs,
                models=case.models, stale=case.batch_stale, tags=case.tags)


def check(case: Case, code: int, err: str, folder: Path, out: Path) -> None:
    """What every case must show: its exit code, its message, no traceback, a failure's one
    error line, and its outputs."""
    import re

    what = f"{case.name}: exit {code}\n{err}"
    assert "Traceback" not in err, what
    assert code == case.code, what
    assert re.search(case.stderr, err), what
    ours = [line for line in err.splitlines() if line.startswith("relit: error:")]
    if case.code != 0:
        assert len(ours) == 1, what
        others = [line for line in err.splitlines()
                  if line.strip() and not line.startswith(("relit: error:", "relit: warning:"))
                  and not _blender_log(line)]
        assert others == [], what
    for path in case.outputs:
        assert Path(path.format(dir=folder, out=out)).is_file(), (what, path)
    for path in case.stale:
        assert not Path(path.format(dir=folder, out=out)).exists(), (what, path)


def _blender_log(line: str) -> bool:
    """Blender's own log lines (``00:00.327  cycles  | WARNING …``), which Relit does not own."""
    import re

    return re.match(r"^\d\d:\d\d\.\d{3}\s+\S+\s+\|", line) is not None


