"""Image I/O and colour: every image in Relit passes through here.

In memory an image is float32 H×W×C, top row first, C in {1, 3, 4}. Colour data is linear
scene-referred RGB. 8- and 16-bit files (PNG, JPEG, TIFF, PGM) are sRGB-encoded unless the caller
says they hold data; EXR, HDR and float TIFF are linear already.

Writing is atomic: each file is written beside its target under a temporary name, then renamed.
"""
from __future__ import annotations

import os
import re
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Mapping, Sequence

os.environ.setdefault("OPENCV_IO_ENABLE_OPENEXR", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from . import native_stderr  # noqa: E402
from .errors import InputError, OutputError, RelitWarning  # noqa: E402

READ_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".exr", ".hdr", ".pgm", ".ppm", ".pnm",
                 ".bmp", ".webp")
_EXIF_SUFFIXES = (".jpg", ".jpeg", ".tif", ".tiff", ".png", ".webp")
_LINEAR_SUFFIXES = (".exr", ".hdr")
_SCALAR_CHANNELS = ("Y", "X", "Z", "V", "A")


# ---------------------------------------------------------------- colour transfer functions

def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 sRGB decoding, elementwise, float32."""
    x = np.asarray(x, dtype=np.float32)
    out = np.array(np.maximum(x, 0.04045))  # in place from here: full-resolution maps
    out += 0.055
    out /= 1.055
    np.power(out, 2.4, out=out)
    np.copyto(out, x / 12.92, where=x <= 0.04045)
    return out


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 sRGB encoding, elementwise, float32 (input clipped to [0, 1])."""
    x = np.clip(np.asarray(x, dtype=np.float32), 0.0, 1.0)
    out = np.array(np.maximum(x, 0.0031308))
    np.power(out, 1.0 / 2.4, out=out)
    out *= 1.055
    out -= 0.055
    np.copyto(out, x * 12.92, where=x <= 0.0031308)
    return out


REC709_LUMA = (0.2126, 0.7152, 0.0722)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Rec. 709 luminance of linear RGB (H×W×C → H×W). Grey input is returned as is."""
    rgb = np.asarray(rgb, dtype=np.float32)
    if rgb.ndim == 2:
        return rgb
    if rgb.shape[-1] < 3:
        return rgb[..., 0]
    if rgb.size == 0:
        return np.zeros(rgb.shape[:-1], np.float32)
    flat = np.ascontiguousarray(rgb[..., :3]).reshape(-1, 1, 3)  # OpenCV's per-pixel product
    return cv2.transform(flat, np.array([REC709_LUMA], np.float32)).reshape(rgb.shape[:-1])


def to_rgb(image: np.ndarray) -> np.ndarray:
    """H×W×{1,2,3,4} (or H×W) → H×W×3: grey is replicated, alpha dropped."""
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 2:
        image = image[..., None]
    if image.shape[-1] in (1, 2):
        return np.repeat(image[..., :1], 3, axis=-1)
    return image[..., :3]


def as_mask(mask, shape: tuple[int, int], what: str = "the image") -> np.ndarray:
    """H×W or H×W×1 matte → bool H×W (values > 0.5 are inside); None → everything inside."""
    if mask is None:
        return np.ones(shape, dtype=bool)
    mask = np.asarray(mask)
    if mask.ndim == 3 and mask.shape[-1] == 1:
        mask = mask[..., 0]
    if mask.shape != tuple(shape):
        raise InputError(f"mask shape {mask.shape} does not match {what} {tuple(shape)}")
    return mask.copy() if mask.dtype == bool else mask > 0.5


def split_alpha(image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Return (RGB, alpha or None); grey+alpha (2 channels) counts as RGBA."""
    image = np.asarray(image, dtype=np.float32)
    alpha = image[..., -1] if image.ndim == 3 and image.shape[-1] in (2, 4) else None
    return to_rgb(image), alpha


# ---------------------------------------------------------------- reading

def load_image(path: str | os.PathLike, *, data: bool = False,
               sanitize: bool = True) -> np.ndarray:
    """Load an image file to float32 H×W×C (C = 1, 3 or 4), top row first.

    ``data=False`` (default) decodes 8/16-bit files from sRGB to linear; ``data=True`` keeps the
    stored values scaled to [0, 1] (normal maps, roughness, raw camera data). Alpha is never
    decoded. EXIF orientation is honoured. NaN and Inf in float files are replaced by 0 (and the
    largest finite value for +Inf) with a warning.
    """
    stored = _load_stored(Path(path))
    if stored.dtype.kind == "f":
        image = np.ascontiguousarray(stored, dtype=np.float32)
        return sanitize_image(image, source=str(path)) if sanitize else image
    return _integer_to_float(stored, decode=not data)


def _load_stored(path: Path) -> np.ndarray:
    """The stored pixels in display orientation, RGB(A) order: integer files as their integers,
    float files (EXR, HDR, float TIFF: linear by their format) as float32."""
    _check_readable(path)
    if path.suffix.lower() == ".exr":
        return _read_exr_rgba(path)
    buf = np.fromfile(str(path), dtype=np.uint8)
    image = _decode(path, buf)
    if path.suffix.lower() in _EXIF_SUFFIXES:
        image = apply_exif_orientation(image, _exif_orientation_of(path, buf))
    if path.suffix.lower() in _LINEAR_SUFFIXES and image.dtype.kind != "f":
        image = image.astype(np.float32)
    return image


def _integer_to_float(stored: np.ndarray, decode: bool) -> np.ndarray:
    """8/16-bit pixels → float32 through one lookup table per channel: colour sRGB-decoded
    (when ``decode``), alpha and data scaled to [0, 1]."""
    top = float(np.iinfo(stored.dtype).max)
    ramp = np.arange(int(top) + 1, dtype=np.float64) / top
    table = (srgb_to_linear(ramp) if decode else ramp).astype(np.float32)
    plain = ramp.astype(np.float32)
    c = stored.shape[-1]
    colour = 1 if c == 2 else min(c, 3)
    if stored.dtype == np.uint8:  # OpenCV's LUT: one table per channel, threaded
        lut = np.stack([table if i < colour else plain for i in range(c)], -1)
        out = cv2.LUT(np.ascontiguousarray(stored), lut.reshape(256, 1, c))
        return out.reshape(stored.shape)
    out = np.empty(stored.shape, np.float32)
    for i in range(c):
        np.take(table if i < colour else plain, stored[..., i], out=out[..., i])
    return out


def load_capture(path: str | os.PathLike, *, linear: bool = False,
                 saturation: float = 250.0 / 255.0) -> np.ndarray:
    """A photometric capture as linear RGB (H×W×3 float32), top row first, its clipped samples
    NaN (missing). Float files (EXR, HDR, float TIFF) are linear as stored and never clipped;
    8- and 16-bit files are sRGB-decoded unless ``linear`` (raw-converted captures that hold
    linear values), and a pixel whose stored value reaches ``saturation`` (of full scale) in
    any channel is clipped."""
    stored = _load_stored(Path(path))
    if stored.dtype.kind == "f":
        return np.ascontiguousarray(sanitize_image(to_rgb(stored), source=str(path)))
    values = to_rgb(_integer_to_float(stored, decode=not linear))
    top = float(np.iinfo(stored.dtype).max)
    clipped = (to_rgb(stored) >= saturation * top - 1e-3).any(axis=-1, keepdims=True)
    return np.ascontiguousarray(np.where(clipped, np.nan, values), dtype=np.float32)


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise InputError(f"image not found: {path}")
    if path.is_dir():
        raise InputError(f"expected an image file, got a folder: {path}")
    if path.stat().st_size == 0:
        raise InputError(f"image file is empty (0 bytes): {path}")
    if path.suffix.lower() not in READ_SUFFIXES:
        raise InputError(f"unsupported image format '{path.suffix}' for {path}; "
                         f"supported: {', '.join(READ_SUFFIXES)}")


def _decode(path: Path, buf: np.ndarray) -> np.ndarray:
    """OpenCV's decode of the file's bytes, as H×W×C in RGB(A) order."""
    if _looks_truncated(path, buf):  # before the decoder, which would print its own complaint
        raise InputError(f"image file is truncated: {path}")
    with native_stderr.captured() as said:   # libpng/libjpeg/OpenCV complain on fd 2
        image = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
    damage = "; ".join(dict.fromkeys(_decoder_complaint(line) for line in said))
    if image is None or image.size == 0:
        raise InputError(f"cannot decode image (corrupt or truncated?): {path}"
                         + (f" ({damage})" if damage else ""))
    if damage:
        warnings.warn(f"{path}: the decoder found damage, so parts of the image may be wrong "
                      f"({damage})", RelitWarning, stacklevel=4)
    if image.ndim == 2:
        return image[..., None]
    if image.shape[-1] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if image.shape[-1] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)
    return image


def _decoder_complaint(line: str) -> str:
    """A decoder's line without its log decoration (``libpng error: ``, OpenCV's
    ``[ WARN:0@0.1] global loadsave.cpp:515 imdecode_ ``)."""
    line = re.sub(r"^\[\s*[A-Z]+:[^\]]*\]\s*(global\s+\S+\s+\S+\s+)?", "", line)
    return re.sub(r"^libpng (error|warning):\s*", "", line).strip()


def _looks_truncated(path: Path, buf: np.ndarray) -> bool:
    """libpng/libjpeg decode a cut file with a warning only; check the end markers ourselves."""
    suffix = path.suffix.lower()
    tail = buf[-64:].tobytes()
    head = buf[:8].tobytes()
    if suffix == ".png" and head == b"\x89PNG\r\n\x1a\n":
        return b"IEND" not in tail
    if suffix in (".jpg", ".jpeg") and head[:2] == b"\xff\xd8":
        return b"\xff\xd9" not in buf[-4096:].tobytes()
    return False


def sanitize_image(image: np.ndarray, source: str = "image") -> np.ndarray:
    """Replace NaN by 0, +Inf by the largest finite value, -Inf by 0; warn when anything changed."""
    finite = np.isfinite(image)
    if finite.all():
        return image
    bad = int((~finite).sum())
    top = float(image[finite].max()) if finite.any() else 0.0
    warnings.warn(f"{source}: {bad} NaN/Inf values replaced", RelitWarning, stacklevel=3)
    image = np.nan_to_num(image, nan=0.0, posinf=top, neginf=0.0)
    return image


# EXIF orientation ------------------------------------------------------------------------

def exif_orientation(path: str | os.PathLike) -> int:
    """The EXIF Orientation tag (1–8) of a file, 1 when absent or unreadable."""
    path = Path(path)
    try:
        buf = np.fromfile(str(path), dtype=np.uint8)
    except OSError:
        return 1
    return _exif_orientation_of(path, buf)


def _exif_orientation_of(path: Path, buf: np.ndarray) -> int:
    """The orientation tag from the file's bytes, without decoding its pixels: a PNG's eXIf
    chunk is found by walking the chunk list (Pillow would decode the image to look for it)."""
    import io
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - pillow ships with the runtime set
        return 1
    try:
        if path.suffix.lower() == ".png":
            raw = _png_chunk(buf.tobytes(), b"eXIf")
            if raw is None:
                return 1
            exif = Image.Exif()
            exif.load(raw)
            value = exif.get(0x0112, 1)
        else:
            with Image.open(io.BytesIO(buf.tobytes())) as im:
                value = im.getexif().get(0x0112, 1)
    except Exception:  # noqa: BLE001 - a file PIL cannot parse simply has no orientation
        return 1
    return int(value) if value in range(1, 9) else 1


def _png_chunk(data: bytes, kind: bytes) -> bytes | None:
    """The payload of a PNG's first chunk of ``kind``, or None."""
    at = 8  # past the signature
    while at + 8 <= len(data):
        length = int.from_bytes(data[at:at + 4], "big")
        name = data[at + 4:at + 8]
        if name == kind:
            return data[at + 8:at + 8 + length]
        if name == b"IEND":
            return None
        at += 12 + length
    return None


def apply_exif_orientation(image: np.ndarray, orientation: int) -> np.ndarray:
    """Turn stored pixels into display orientation (EXIF tag values 1–8)."""
    ops = {
        1: lambda a: a,
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: np.swapaxes(a, 0, 1),
        6: lambda a: np.swapaxes(a, 0, 1)[:, ::-1],
        7: lambda a: np.swapaxes(a, 0, 1)[::-1, ::-1],
        8: lambda a: np.swapaxes(a, 0, 1)[::-1],
    }
    return ops.get(orientation, ops[1])(image)


# EXR -------------------------------------------------------------------------------------

def _open_exr(path: Path):
    import OpenEXR

    try:
        return OpenEXR.File(str(path), separate_channels=True)
    except Exception as exc:  # noqa: BLE001 - OpenEXR raises bare RuntimeError
        raise InputError(f"cannot read EXR (corrupt or truncated?): {path}: {exc}") from None


def read_exr_channels(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """All channels of an EXR, by full name, as float32 H×W arrays.

    Multi-part files (Blender 5.0's File Output writes one part per layer) are merged; a
    channel named without its layer inside a named part gets the part name as its prefix.
    """
    path = Path(path)
    _check_readable(path)
    with _open_exr(path) as exr:
        try:
            out = {}
            for part in exr.parts:
                prefix = part.name() if len(exr.parts) > 1 else ""
                for name, ch in part.channels.items():
                    if prefix and not name.startswith(prefix + "."):
                        name = f"{prefix}.{name}"
                    out[name] = np.asarray(ch.pixels, dtype=np.float32)
            return out
        except Exception as exc:  # noqa: BLE001
            raise InputError(f"cannot read EXR pixels: {path}: {exc}") from None


def read_exr_layers(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """A multi-layer EXR as ``{"layer.pass": H×W×C}`` (channels in R,G,B,A / X,Y,Z order).

    Channels without a dot-separated prefix are grouped under the key ``""``.
    """
    groups: dict[str, dict[str, np.ndarray]] = {}
    for name, pixels in read_exr_channels(path).items():
        prefix, _, chan = name.rpartition(".")
        groups.setdefault(prefix, {})[chan] = pixels
    return {prefix: _stack_channels(chans) for prefix, chans in groups.items()}


def _channel_rank(chan: str) -> tuple[int, str]:
    order = "RGBXYZWUVA"
    return (order.index(chan) if chan in order else len(order), chan)


def _stack_channels(chans: Mapping[str, np.ndarray]) -> np.ndarray:
    names = sorted(chans, key=_channel_rank)
    return np.stack([chans[n] for n in names], axis=-1)


def _read_exr_rgba(path: Path) -> np.ndarray:
    chans = read_exr_channels(path)
    plain = {k: v for k, v in chans.items() if "." not in k}
    if {"R", "G", "B"} <= plain.keys():
        keys = ["R", "G", "B"] + (["A"] if "A" in plain else [])
        return np.stack([plain[k] for k in keys], axis=-1)
    for scalar in _SCALAR_CHANNELS:
        if scalar in plain:
            return plain[scalar][..., None]
    # A multi-layer file: take the first RGB(A) pass, e.g. "ViewLayer.Combined".
    layers = read_exr_layers(path)
    for key in sorted(layers, key=lambda k: (not k.endswith("Combined"), k)):
        if layers[key].shape[-1] in (1, 3, 4):
            return layers[key]
    raise InputError(f"EXR has no R,G,B or single channel to read: {path}; "
                     f"channels: {', '.join(sorted(chans))}")


# ---------------------------------------------------------------- writing

@contextmanager
def temporary_beside(target: Path, overwrite: bool, exists_message: str) -> Iterator[Path]:
    """The folder that holds ``target``, created, for a temporary made inside the block: an
    OutputError (``exists_message``) when ``target`` exists and ``overwrite`` is off, and an
    OutputError naming the folder when it, or the temporary, cannot be made."""
    if target.exists() and not overwrite:
        raise OutputError(exists_message)
    parent = target.parent if str(target.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        yield parent
    except OSError as exc:
        raise OutputError(f"cannot write to {parent}: {exc.strerror or exc}") from None


@contextmanager
def atomic_path(path: str | os.PathLike, overwrite: bool = True) -> Iterator[str]:
    """Yield a temporary file name beside ``path``; rename it onto ``path`` on success only."""
    path = Path(path)
    with temporary_beside(path, overwrite,
                          f"output exists (use overwrite to replace it): {path}") as parent:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}",
                                   dir=parent)
        os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


TEMPORARY_PATTERN = ".*.tmp.*"  # what atomic_path names its temporaries: .<stem>.<random>.tmp<suffix>
STALE_AFTER_S = 600.0


def sweep_temporaries(folder: str | os.PathLike, older_than_s: float = STALE_AFTER_S) -> list[Path]:
    """Remove the temporaries that an interrupted writer left in ``folder``; return them.

    Only files named as :func:`atomic_path` names them and untouched for ``older_than_s`` go:
    a writer that is still running (another farm task on the same folder) keeps its file.
    """
    import re
    import time
    folder = Path(folder)
    if not folder.is_dir():
        return []
    named = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp\.[A-Za-z0-9]+$")
    now, swept = time.time(), []
    for path in folder.glob(TEMPORARY_PATTERN):
        try:
            if (named.match(path.name) and path.is_file()
                    and now - path.stat().st_mtime >= older_than_s):
                path.unlink()
                swept.append(path)
        except OSError:
            continue
    return sorted(swept)


def _as_hwc(array: np.ndarray) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] not in (1, 2, 3, 4):
        raise InputError(f"expected an H×W×C image with 1–4 channels, got shape {array.shape}")
    return array


def to_uint(image: np.ndarray, *, data: bool = False, bits: int = 8) -> np.ndarray:
    """Quantise linear float (or data in [0,1] when ``data``) to uint8/uint16, sRGB-encoding colour."""
    image = _as_hwc(np.asarray(image, dtype=np.float32)).copy()
    if not data:
        colour = 1 if image.shape[-1] in (1, 2) else 3
        image[..., :colour] = linear_to_srgb(image[..., :colour])
    top = 255 if bits == 8 else 65535
    return np.round(np.clip(image, 0.0, 1.0) * top).astype(np.uint8 if bits == 8 else np.uint16)


def save_png(path: str | os.PathLike, image: np.ndarray, *, data: bool = False, bits: int = 8,
             overwrite: bool = True) -> Path:
    """Write a PNG preview: linear colour is sRGB-encoded; ``data=True`` stores values as is."""
    if bits not in (8, 16):
        raise InputError(f"PNG bit depth must be 8 or 16, got {bits}")
    pixels = to_uint(image, data=data, bits=bits)
    if pixels.shape[-1] == 3:
        pixels = pixels[..., ::-1]
    elif pixels.shape[-1] == 4:
        pixels = pixels[..., [2, 1, 0, 3]]
    return _imwrite(path, pixels, overwrite)


def save_jpeg(path: str | os.PathLike, image: np.ndarray, *, quality: int = 95,
              overwrite: bool = True) -> Path:
    """Write an sRGB JPEG of linear RGB (alpha dropped)."""
    pixels = to_uint(to_rgb(image))[..., ::-1]
    return _imwrite(path, pixels, overwrite, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])


def _imwrite(path, pixels, overwrite, params=()) -> Path:
    path = Path(path)
    with atomic_path(path, overwrite) as tmp:
        ok, buf = cv2.imencode(path.suffix.lower(), np.ascontiguousarray(pixels), list(params))
        if not ok:
            raise OutputError(f"cannot encode {path}")
        buf.tofile(tmp)
    return path


def _default_channel_names(n: int) -> tuple[str, ...]:
    return {1: ("Y",), 2: ("Y", "A"), 3: ("R", "G", "B"), 4: ("R", "G", "B", "A")}[n]


def save_exr(path: str | os.PathLike, image: np.ndarray, *, half: bool = True,
             channels: Sequence[str] | None = None, overwrite: bool = True) -> Path:
    """Write a single-pass EXR with plain channel names (R,G,B[,A], or Y for a scalar)."""
    image = _as_hwc(image)
    names = tuple(channels) if channels else _default_channel_names(image.shape[-1])
    if len(names) != image.shape[-1]:
        raise InputError(f"{len(names)} channel names for {image.shape[-1]} channels")
    return write_exr_channels(path, {n: image[..., i] for i, n in enumerate(names)},
                              half=half, overwrite=overwrite)


def save_multilayer_exr(path: str | os.PathLike,
                        passes: Mapping[str, tuple[np.ndarray, Sequence[str]] | np.ndarray], *,
                        layer: str = "ViewLayer", half: bool = True,
                        overwrite: bool = True) -> Path:
    """Write a multi-layer EXR with Blender's naming, ``<layer>.<pass>.<channel>``.

    ``passes`` maps a pass name (``"Normal"``) to an array, or to ``(array, channel_names)`` such
    as ``(normal, "XYZ")``. Without names, 1 channel is ``X`` (Blender's value AOV), 3 are RGB
    and 4 RGBA.
    """
    chans: dict[str, np.ndarray] = {}
    shape = None
    for name, value in passes.items():
        array, names = value if isinstance(value, tuple) else (value, None)
        array = _as_hwc(array)
        if shape is not None and array.shape[:2] != shape:
            raise InputError(f"pass {name} is {array.shape[:2]}, expected {shape}")
        shape = array.shape[:2]
        names = tuple(names) if names else {1: ("X",), 3: tuple("RGB"),
                                            4: tuple("RGBA")}.get(array.shape[-1])
        if names is None or len(names) != array.shape[-1]:
            raise InputError(f"pass {name}: give channel names for {array.shape[-1]} channels")
        for i, c in enumerate(names):
            chans[f"{layer}.{name}.{c}"] = array[..., i]
    return write_exr_channels(path, chans, half=half, overwrite=overwrite)


def write_exr_channels(path: str | os.PathLike, channels: Mapping[str, np.ndarray], *,
                       half: bool = True, overwrite: bool = True) -> Path:
    """Write named H×W channels (PIZ compression, half or float) atomically.

    The file is a plain single-part scanline EXR, as Blender writes its own: the multi-part API
    would add a part ``name`` that Blender prepends to every layer (``Part0.ViewLayer``). PIZ is
    lossless and, on grainy plates, both smaller and faster than ZIP.
    """
    import Imath
    import OpenEXR

    if not channels:
        raise InputError("no channels to write")
    shapes = {np.shape(p) for p in channels.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise InputError(f"EXR channels must share one H×W shape, got {sorted(shapes)}")
    h, w = next(iter(shapes))
    kind = Imath.PixelType(Imath.PixelType.HALF if half else Imath.PixelType.FLOAT)
    header = OpenEXR.Header(w, h)
    header["channels"] = {name: Imath.Channel(kind) for name in channels}
    header["compression"] = Imath.Compression(Imath.Compression.PIZ_COMPRESSION)
    data = {name: (_to_half(pixels) if half else
                   np.ascontiguousarray(pixels, dtype=np.float32)).tobytes()
            for name, pixels in channels.items()}
    use_exr_threads()
    path = Path(path)
    with atomic_path(path, overwrite) as tmp:
        out = OpenEXR.OutputFile(tmp, header)
        try:
            out.writePixels(data)
        finally:
            out.close()
    return path


HALF_MAX = 65504.0


def _to_half(pixels: np.ndarray) -> np.ndarray:
    """float32 → float16, clipped to half's finite range: OpenCV's converter (F16C, rounding to
    nearest even as numpy does, and faster than ``astype``)."""
    pixels = np.ascontiguousarray(pixels, dtype=np.float32)
    low, high, _, _ = cv2.minMaxLoc(pixels)
    if low < -HALF_MAX or high > HALF_MAX:
        pixels = np.clip(pixels, -HALF_MAX, HALF_MAX)
    return cv2.convertFp16(pixels).view(np.float16)


_EXR_THREADS: list[int] = []


def use_exr_threads(count: int | None = None) -> int:
    """Give OpenEXR's codec a worker pool (its global thread count: one per core, or
    ``$RELIT_EXR_THREADS``), once per process. The Python binding has no call for it, so the
    library's own ``Imf::setGlobalThreadCount`` is called; where that symbol cannot be found
    (another platform's name mangling) files are still written, by one thread. Returns the
    count in use."""
    if _EXR_THREADS and count is None:
        return _EXR_THREADS[0]
    if count is None:
        count = int(os.environ.get("RELIT_EXR_THREADS", 0) or (os.cpu_count() or 1))
    used = 0
    try:
        import ctypes
        import OpenEXR
        major, minor = OpenEXR.OPENEXR_VERSION.split(".")[:2]
        space = f"Imf_{major}_{minor}"
        lib = ctypes.CDLL(OpenEXR.__file__)
        setter = getattr(lib, f"_ZN{len(space)}{space}20setGlobalThreadCountEi")
        setter.argtypes, setter.restype = [ctypes.c_int], None
        setter(max(0, int(count)))
        used = int(count)
    except (AttributeError, OSError, ValueError):
        pass
    _EXR_THREADS[:] = [used]
    return used


WRITE_SUFFIXES = (".exr", ".png", ".jpg", ".jpeg")


def check_output(path: str | os.PathLike, overwrite: bool = True,
                 suffixes: tuple[str, ...] = WRITE_SUFFIXES) -> Path:
    """Fail early, before any work: ``path`` must have a format we write and, unless
    ``overwrite``, must not exist yet."""
    path = Path(path)
    if path.suffix.lower() not in suffixes:
        raise InputError(f"unsupported output format '{path.suffix}' "
                         f"(use {', '.join(suffixes)})")
    if path.exists() and not overwrite:
        raise OutputError(f"{path} exists; pass --overwrite to replace outputs")
    return path


def save_image(path: str | os.PathLike, image: np.ndarray, *, data: bool = False,
               overwrite: bool = True, half: bool = True) -> Path:
    """Write by extension: .exr (linear), .png or .jpg (sRGB unless ``data``)."""
    suffix = check_output(path, overwrite).suffix.lower()
    if suffix == ".exr":
        return save_exr(path, image, half=half, overwrite=overwrite)
    if suffix == ".png":
        return save_png(path, image, data=data, overwrite=overwrite)
    return save_jpeg(path, image, overwrite=overwrite)


# ---------------------------------------------------------------- previews

def normal_to_rgb(normal: np.ndarray) -> np.ndarray:
    """Camera-space normal → 0.5·n + 0.5 (data, for Non-Color PNGs)."""
    return np.clip(0.5 * np.asarray(normal, np.float32) + 0.5, 0.0, 1.0)


def rgb_to_normal(rgb: np.ndarray) -> np.ndarray:
    """Inverse of ``normal_to_rgb`` followed by normalisation."""
    from .vectors import unit

    return unit(np.asarray(rgb, np.float32)[..., :3] * 2.0 - 1.0)


def resize(image: np.ndarray, size: tuple[int, int], *, nearest: bool = False) -> np.ndarray:
    """Resize H×W×C float32 to (height, width), area-averaging when shrinking."""
    image = _as_hwc(np.asarray(image, np.float32))
    h, w = size
    if image.shape[:2] == (h, w):
        return image
    shrink = h < image.shape[0] and w < image.shape[1]
    interp = cv2.INTER_NEAREST if nearest else (cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    out = cv2.resize(image, (w, h), interpolation=interp)
    return out.reshape(h, w, image.shape[-1])


def weighted_blur(x: np.ndarray, weight: np.ndarray, sigma: float) -> np.ndarray:
    """``x`` (H×W×C) blurred by a Gaussian of ``sigma`` pixels, each pixel counted by
    ``weight`` (H×W): the weighted mean around it, so that pixels of weight 0 neither enter nor
    darken it."""
    num = cv2.GaussianBlur(np.ascontiguousarray(x * weight[..., None], np.float32), (0, 0), sigma)
    den = cv2.GaussianBlur(np.ascontiguousarray(weight, np.float32), (0, 0), sigma)
    return num.reshape(x.shape) / np.maximum(den, 1e-6)[..., None]


def contact_sheet(tiles: Sequence[tuple[str, np.ndarray]], *, tile: int = 256, columns: int = 4,
                  data_labels: Sequence[str] = ()) -> np.ndarray:
    """Arrange labelled linear images into one sRGB-ready linear sheet (H×W×3).

    Tiles whose label is in ``data_labels`` are shown as stored values (normals, masks).
    """
    rows = (len(tiles) + columns - 1) // columns
    sheet = np.zeros((rows * (tile + 20), columns * tile, 3), np.float32)
    for i, (label, image) in enumerate(tiles):
        img = to_rgb(image)
        h, w = img.shape[:2]
        scale = tile / max(h, w)
        img = resize(img, (max(1, round(h * scale)), max(1, round(w * scale))))
        if label in data_labels:
            img = srgb_to_linear(np.clip(img, 0, 1))  # so that the sRGB preview shows raw values
        r, c = divmod(i, columns)
        y0, x0 = r * (tile + 20) + 20, c * tile
        sheet[y0:y0 + img.shape[0], x0:x0 + img.shape[1]] = img
        cv2.putText(sheet, label, (x0 + 4, y0 - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    (1.0, 1.0, 1.0), 1, cv2.LINE_AA)
    return sheet
