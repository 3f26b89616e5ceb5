"""Measurements on Extended Yale B (``../shared/eval/yaleb``), never trained on: photometric
stereo against each subject's reference, the face-mesh prior and NormalNet on the frontal and
two side-lit views, and how often Face Mesh finds the face under each of the 64 lights.

yaleB01 and yaleB02 are the development subjects; yaleB05 and yaleB07, the acceptance ones, are
scored once per release.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from inference import images, metrics, photometric

from ..yale_relight import SHARED

DEV_SUBJECTS = ("yaleB01", "yaleB02")
ACCEPTANCE_SUBJECTS = ("yaleB05", "yaleB07")
YALE_VIEWS = ("P00A+000E+00", "P00A+050E+00", "P00A-050E+00")


def subject_folder(subject: str) -> Path:
    return SHARED / "eval" / "yaleb" / subject


def yale_photometric(subjects) -> list[dict]:
    """Photometric stereo from each subject's 64 captures against its reference: a check of the
    measuring tool itself, not of a network."""
    out = []
    for subject in subjects:
        folder = subject_folder(subject)
        captures = photometric.load_yale_subject(folder)
        ref = np.load(folder / "reference.npz")
        fit = photometric.photometric_stereo(captures["images"], captures["lights"])
        out.append({"metric": "photometric_vs_reference", "subject": subject,
                    **metrics.normal_metrics(fit["normal"], ref["normal"], ref["mask"])})
    return out


def yale_image(folder: Path, view: str) -> np.ndarray:
    """A Yale B capture as linear RGB (the PGMs hold linear camera values), ambient removed."""
    raw = images.load_image(next(folder.glob(f"*_{view}.pgm")), data=True)[..., 0]
    ambient = next(folder.glob("*_Ambient.pgm"), None)
    if ambient is not None:
        raw = np.maximum(raw - images.load_image(ambient, data=True)[..., 0], 0.0)
    return np.repeat(raw[..., None], 3, axis=-1)


def yale_prior(subjects) -> list[dict]:
    """The face-mesh normal prior alone on ``YALE_VIEWS``, inside the reference mask where the
    prior covers the face (the baseline NormalNet must beat); the coverage too."""
    from inference import face

    out = []
    for subject in subjects:
        folder = subject_folder(subject)
        ref = np.load(folder / "reference.npz")
        for view in YALE_VIEWS:
            analysis = face.analyse(yale_image(folder, view))
            scored = ref["mask"] & (analysis.prior_mask > 0.5)
            row = {"metric": "face_mesh_prior_vs_reference", "subject": subject, "view": view,
                   "coverage": float(scored.sum() / max(ref["mask"].sum(), 1))}
            if scored.any():
                row.update(metrics.normal_metrics(analysis.prior_normal, ref["normal"], scored))
            out.append(row)
    return out


def yale_faces(subjects, max_side: int = 512) -> list[dict]:
    """Face Mesh on every lit capture of each subject (hard side light included), at the
    pipeline's default internal size: found as shot, and found with the exposure retries."""
    import warnings

    from inference import face, pipeline
    from inference.errors import RelitWarning

    out = []
    for subject in subjects:
        folder = subject_folder(subject)
        views = sorted(path.stem.split("_", 1)[1] for path in folder.glob("*_P00A*.pgm"))
        found = {False: 0, True: 0}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RelitWarning)
            for view in views:
                small = pipeline.shrink(yale_image(folder, view), max_side)
                for expose in found:
                    found[expose] += bool(face.detect_landmarks(small, expose=expose).faces)
        out.append({"metric": "face_mesh_found", "subject": subject, "images": len(views),
                    "as_shot": found[False], "with_exposure_retries": found[True]})
    return out


def yale_net(subjects, models_dir: Path | None = None, options: dict | None = None
             ) -> list[dict]:
    """The chain's normal pass (the shipped models, or those in ``models_dir``: NormalNet, then
    the shading's correction, ``shading_normals``) on the same Yale B views and pixels as
    ``yale_prior``, plus the whole reference mask, where the error is also split into one
    rotation of the whole map and what is left (``metrics.global_rotation``)."""
    from inference import face, models, pipeline

    registry = models.Registry(models_dir) if models_dir else models.default_registry()
    opts = pipeline.DecomposeOptions(**{**(options or {}), "registry": registry})
    out = []
    for subject in subjects:
        folder = subject_folder(subject)
        ref = np.load(folder / "reference.npz")
        for view in YALE_VIEWS:
            image = yale_image(folder, view)
            normal = pipeline.decompose(image, opts).normal
            face_px = ref["mask"] & (face.analyse(image).prior_mask > 0.5)
            row = {"metric": "normal_net_vs_reference", "subject": subject, "view": view,
                   "model": registry.spec("normal_net").version,
                   "whole_mask": {**metrics.normal_metrics(normal, ref["normal"], ref["mask"]),
                                  **metrics.global_rotation(normal, ref["normal"], ref["mask"])}}
            if face_px.any():
                row["prior_covered"] = metrics.normal_metrics(normal, ref["normal"], face_px)
            out.append(row)
    return out
