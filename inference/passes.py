"""The ``Passes`` container and its files: what every Relit producer writes and consumer reads.

A pass folder holds ``passes.exr`` (multi-layer, Blender naming ``ViewLayer.<Pass>.<channel>``),
one plain EXR per pass (R,G,B or Y channels, readable anywhere), ``lighting.json`` and PNG
previews. ``Passes.load`` reads either form back, so passes made elsewhere can be imported.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from . import images, vectors
from .errors import InputError, OutputError

LAYER = "ViewLayer"

# pass attribute -> (multi-layer pass name, channel names, is colour data, single-file stem)
PASS_TABLE = {
    "rgb": ("Combined", "RGB", True, "source"),
    "normal": ("Normal", "XYZ", False, "normal"),
    "albedo": ("Diffuse Color", "RGB", True, "albedo"),
    "roughness": ("Roughness", "X", False, "roughness"),
    "reflectivity": ("Reflectivity", "X", False, "reflectivity"),
    "alpha": ("Alpha", "X", False, "alpha"),
    "height": ("Height", "X", False, "height"),
    "diffuse_shading": ("Diffuse Shading", "RGB", True, "diffuse_shading"),
    "diffuse": ("Diffuse Direct", "RGB", True, "diffuse"),
    "specular": ("Glossy Direct", "RGB", True, "specular"),
}
# The single-pass EXRs the CLI always writes (others are written when present).
SINGLE_FILES = ("normal", "albedo", "roughness", "reflectivity", "alpha", "height")
SCALAR = {"roughness", "reflectivity", "alpha", "height"}


@dataclass
class Passes:
    """Relit's passes for one image (conventions: docs/ARCHITECTURE.md, *The passes*)."""

    rgb: np.ndarray                       # H×W×3 linear source
    alpha: np.ndarray                     # H×W matte
    normal: np.ndarray                    # H×W×3 camera space, unit
    albedo: Optional[np.ndarray] = None   # H×W×3 linear
    roughness: Optional[np.ndarray] = None  # H×W perceptual
    reflectivity: Optional[np.ndarray] = None  # H×W F0
    height: Optional[np.ndarray] = None   # H×W in image widths
    sh: Optional[np.ndarray] = None       # 9×3 SH of incident radiance, camera space
    diffuse_shading: Optional[np.ndarray] = None
    diffuse: Optional[np.ndarray] = None
    specular: Optional[np.ndarray] = None
    meta: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.rgb.shape[:2])

    def present(self) -> list[str]:
        return [k for k in PASS_TABLE if getattr(self, k) is not None]

    def validate(self) -> "Passes":
        """Check shapes and value ranges; raises InputError naming the bad pass."""
        sizes = {k: np.shape(getattr(self, k))[:2] for k in self.present()}
        if len(set(sizes.values())) > 1:
            listed = ", ".join(f"{k} {s[1]}×{s[0]}" for k, s in sizes.items())
            raise InputError(f"passes differ in size ({listed}); all must match the image")
        h, w = self.shape
        for key in self.present():
            arr = np.asarray(getattr(self, key), np.float32)
            want = (h, w) if key in SCALAR else (h, w, 3)
            if arr.shape != want:
                raise InputError(f"pass '{key}' has shape {arr.shape}, expected {want} "
                                 f"(all passes must match the source image)")
            if not np.isfinite(arr).all():
                raise InputError(f"pass '{key}' contains NaN or Inf")
            setattr(self, key, arr)
        if self.sh is not None and np.asarray(self.sh).shape != (9, 3):
            raise InputError(f"lighting SH must be 9×3, got {np.asarray(self.sh).shape}")
        return self

    # ------------------------------------------------------------------ writing
    def save(self, out_dir: str | Path, *, half: bool = True, previews: bool = True,
             singles: bool = True, multilayer: bool = True,
             overwrite: bool = False) -> list[Path]:
        """Write into ``out_dir``: the multi-layer ``passes.exr`` (``multilayer``), one EXR per
        pass (``singles``), PNG previews (``previews``) and, always, ``lighting.json``. Either
        EXR form alone is a complete pass folder for ``Passes.load``."""
        if not (multilayer or singles):
            raise OutputError("nothing to write: keep passes.exr or the single-pass EXRs")
        out = Path(out_dir)
        targets = self._targets(out, previews, singles, multilayer)
        if not overwrite:
            clash = [p for p in targets if p.exists()]
            if clash:
                raise OutputError(f"{clash[0]} exists; pass --overwrite to replace outputs")
        written = [images.save_multilayer_exr(out / "passes.exr", self.multilayer(), layer=LAYER,
                                              half=half)] if multilayer else []
        for key in self.present():
            if key == "rgb":  # the source is in passes.exr's Combined, or else its own file
                if singles and not multilayer:
                    written.append(images.save_exr(out / "source.exr", self.rgb, half=half))
                continue
            if singles:
                written.append(images.save_exr(out / f"{PASS_TABLE[key][3]}.exr",
                                               getattr(self, key), half=half))
            if previews:
                written.append(self._save_preview(out, key))
        written.append(self._save_lighting(out))
        return written

    def _targets(self, out: Path, previews: bool, singles: bool = True,
                 multilayer: bool = True) -> list[Path]:
        stems = [PASS_TABLE[k][3] for k in self.present() if k != "rgb"]
        paths = [out / "lighting.json"] + ([out / "passes.exr"] if multilayer else [])
        paths += [out / f"{s}.exr" for s in stems] if singles else []
        paths += [out / "source.exr"] if singles and not multilayer else []
        return paths + ([out / f"{s}.png" for s in stems] if previews else [])

    def multilayer(self) -> dict:
        layers = {}
        for key in self.present():
            name, chans, _, _ = PASS_TABLE[key]
            arr = getattr(self, key)
            if key == "rgb":
                arr, chans = np.dstack([arr, self.alpha]), "RGBA"
            layers[name] = (arr, chans)
        return layers

    def _save_preview(self, out: Path, key: str) -> Path:
        arr = getattr(self, key)
        stem = PASS_TABLE[key][3]
        if key == "normal":
            return images.save_png(out / f"{stem}.png", images.normal_to_rgb(arr), data=True)
        if key == "height":
            h = arr - arr.min()
            return images.save_png(out / f"{stem}.png", h / max(float(h.max()), 1e-6), data=True)
        if key == "reflectivity":  # F0 0–0.16 shown as 0–1 (Specular IOR Level × 0.5)
            return images.save_png(out / f"{stem}.png", np.clip(arr / 0.16, 0, 1), data=True)
        return images.save_png(out / f"{stem}.png", arr, data=not PASS_TABLE[key][2])

    def _save_lighting(self, out: Path) -> Path:
        doc = {"format": "relit.lighting/1", "sh_order": 2, "space": "camera",
               "convention": "real SH of incident radiance, 9×3 (RGB columns)",
               "sh": None if self.sh is None else np.asarray(self.sh).round(6).tolist(),
               "meta": self.meta}
        path = out / "lighting.json"
        with images.atomic_path(path) as tmp:
            Path(tmp).write_text(json.dumps(doc, indent=2))
        return path

    # ------------------------------------------------------------------ reading
    @classmethod
    def load(cls, source: str | Path) -> "Passes":
        """Read passes from a folder (passes.exr or single files) or a multi-layer EXR."""
        source = Path(source)
        if source.is_dir():
            multi = source / "passes.exr"
            found = cls._from_multilayer(multi) if multi.exists() else cls._from_files(source)
            lighting = source / "lighting.json"
            if lighting.exists():
                found.update(_read_lighting(lighting))
        elif source.suffix.lower() == ".exr":
            found = cls._from_multilayer(source)
        else:
            raise InputError(f"expected a pass folder or a multi-layer EXR, got {source}")
        missing = [k for k in ("rgb", "normal") if found.get(k) is None]
        if "rgb" in missing and found.get("albedo") is not None:
            found["rgb"], missing = found["albedo"], [m for m in missing if m != "rgb"]
        if missing:
            raise InputError(f"{source}: missing passes: {', '.join(missing)}")
        if found.get("alpha") is None:
            found["alpha"] = np.ones(found["rgb"].shape[:2], np.float32)
        return cls(**found).validate()

    @staticmethod
    def _from_multilayer(path: Path) -> dict:
        layers = images.read_exr_layers(path)
        found = {}
        for key, (name, chans, _, _) in PASS_TABLE.items():
            arr = layers.get(f"{LAYER}.{name}")
            if arr is None:
                continue
            if key == "rgb" and arr.shape[-1] == 4:
                found.setdefault("alpha", arr[..., 3])
                arr = arr[..., :3]
            # Blender's File Output writes every colour pass as RGBA: the passes are RGB
            found[key] = arr[..., 0] if key in SCALAR else arr[..., :3]
        return found

    @staticmethod
    def _from_files(folder: Path) -> dict:
        found = {}
        for key, (_, _, colour, stem) in PASS_TABLE.items():
            for ext in (".exr", ".png", ".tif", ".tiff", ".jpg"):
                path = folder / f"{stem}{ext}"
                if path.exists():
                    found[key] = load_pass(path, key)
                    break
        return found


def load_pass(path: str | Path, key: str) -> np.ndarray:
    """Load one pass file under Relit's conventions (normal PNG is 0.5n+0.5, Non-Color data)."""
    if key not in PASS_TABLE:
        raise InputError(f"unknown pass '{key}'; known: {', '.join(PASS_TABLE)}")
    colour = PASS_TABLE[key][2]
    arr = images.load_image(path, data=not colour)
    if key == "normal":
        is_float_file = Path(path).suffix.lower() == ".exr"
        return images.rgb_to_normal(arr) if not is_float_file else vectors.unit(images.to_rgb(arr))
    if key == "reflectivity" and Path(path).suffix.lower() != ".exr":
        arr = arr * 0.16  # previews store F0 / 0.16
    return arr[..., 0] if key in SCALAR else images.to_rgb(arr)


def _read_lighting(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from None
    sh = doc.get("sh")
    return {"sh": None if sh is None else np.asarray(sh, np.float32),
            "meta": doc.get("meta", {})}
