"""Every number of the model card in one result (``models/evaluation.json``)."""
from __future__ import annotations

import json
from pathlib import Path

from . import keys, synthetic, yale


def report(val: Path, count: int, ckpt_root: Path, models_dir: Path | None = None,
           acceptance: bool = False, options: dict | None = None,
           previous: Path | None = None) -> dict:
    """Every measurement of the model card: checkpoints on held-out synthetic samples (the
    landmark ablation and the albedo comparison), the shipped chain end to end, and NormalNet
    on Yale B against the face-mesh prior (development subjects; acceptance ones on request).
    ``options`` override the pipeline's ``DecomposeOptions`` (to measure what one adds)."""
    out: dict = {"val": str(val), "count": count, "options": dict(options or {})}
    for name in keys.CHECKPOINTS:
        path = ckpt_root / name / "last.pt"
        if not path.exists():
            continue
        if name.startswith("normal"):
            out[keys.checkpoint_key(name)] = synthetic.normal_checkpoint(path, val, count)
        else:
            out[keys.checkpoint_key(name)] = synthetic.map_checkpoint(name, path, val, count)
    carry_checkpoint_rows(out, previous)
    out["chain"] = synthetic.chain_synthetic(val, count, models_dir, options)
    subjects = [*yale.DEV_SUBJECTS, *(yale.ACCEPTANCE_SUBJECTS if acceptance else ())]
    out["yale_prior"] = yale.yale_prior(subjects)
    out["yale_net"] = yale.yale_net(subjects, models_dir, options)
    out["yale_faces"] = yale.yale_faces(subjects)
    return out


def carry_checkpoint_rows(out: dict, previous: Path | None) -> None:
    """The ablation and route comparisons measure training checkpoints, not the pipeline: where
    a checkpoint is not on this machine, its rows come from the previous evaluation file, marked
    with where they came from (``carried_from``)."""
    if previous is None or not previous.is_file():
        return
    old = json.loads(previous.read_text())
    for key in map(keys.checkpoint_key, keys.CHECKPOINTS):
        if key not in out and key in old:
            out[key] = old[key]
            # a row the previous file had carried keeps the command that measured it
            source = old.get("carried_from", {}).get(key) or old.get("command", str(previous))
            out.setdefault("carried_from", {})[key] = source
