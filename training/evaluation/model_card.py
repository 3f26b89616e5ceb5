"""The model card's evaluation blocks (``models/MODEL_CARD.md``), written from the results the
measurements give (``models/evaluation.json``, ``models/yale_relight.json``); every number is
named and formatted by ``keys``."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import keys, yale

CARD_BEGIN, CARD_END = "<!-- evaluation:begin -->", "<!-- evaluation:end -->"
YALE_CARD_BEGIN, YALE_CARD_END = "<!-- yale-relight:begin -->", "<!-- yale-relight:end -->"

RELIGHT_TARGETS = {"scene_": "≥ 30 dB, RenderNet +1.5 dB", "": ""}
"""The card's relight rows, in its order (lighting B's own HDRI and lights first), and their
targets."""


def _yale_mean(rows: list, subjects, key: str | None) -> float | None:
    values = [(row[key] if key else row)[keys.MEAN_DEG.key] for row in rows
              if row["subject"] in subjects and (key in row if key else keys.MEAN_DEG.key in row)]
    return float(np.mean(values)) if values else None


def _groups() -> tuple[tuple[str, tuple], ...]:
    return (("development", yale.DEV_SUBJECTS), ("acceptance", yale.ACCEPTANCE_SUBJECTS))


def _tilt(res: dict) -> list[str]:
    """Prior and NormalNet tilt on the face, on held-out synthetic samples and on Yale B."""
    tilt = keys.MEAN_DY
    out = []
    rows = {row["metric"]: row for row in res.get(keys.checkpoint_key("normal"), [])
            if row["region"].startswith("face")}
    if tilt.key in rows.get("face_mesh_prior_synthetic", {}):
        net = rows["normal_net_synthetic"]
        out.append(f"synthetic {tilt.show(rows['face_mesh_prior_synthetic'][tilt.key])} / "
                   f"{tilt.show(net[tilt.key])} (the ablation's NormalNet checkpoint, "
                   f"{net['steps']} steps)")
    for group, subjects in _groups():
        prior = [row[tilt.key] for row in res.get("yale_prior", [])
                 if row["subject"] in subjects and tilt.key in row]
        net = [row["prior_covered"][tilt.key] for row in res.get("yale_net", [])
               if row["subject"] in subjects and tilt.key in row.get("prior_covered", {})]
        if prior and net:
            out.append(f"Yale B {group} {tilt.show(np.mean(prior))} / {tilt.show(np.mean(net))}")
    return out


def _pose(res: dict) -> list[str]:
    """The normals' error split into one rotation and the rest, on the held-out synthetic
    samples and on Yale B's views (``metrics.global_rotation``)."""
    turn, left = keys.ROTATION
    chain = res["chain"]
    out = []
    if keys.rotation_key(turn) in chain:
        out.append(f"synthetic {turn.show(chain[keys.rotation_key(turn)])} / "
                   f"{left.show(chain[keys.rotation_key(left)])}")
    for group, subjects in _groups():
        rows = [row["whole_mask"] for row in res.get("yale_net", [])
                if row["subject"] in subjects and turn.key in row["whole_mask"]]
        if rows:
            out.append(f"Yale B {group} {turn.show(np.mean([r[turn.key] for r in rows]))} / "
                       f"{left.show(np.mean([r[left.key] for r in rows]))}")
    return out


def _relight_rows(chain: dict) -> list[str]:
    """Cook-Torrance and RenderNet, PSNR / SSIM, from the predicted and the true passes."""
    def both(light, renderer, passes):
        return (f"{keys.PSNR.show(chain[keys.relight_key(light, renderer, passes, keys.PSNR)])}"
                f" / {keys.SSIM.show(chain[keys.relight_key(light, renderer, passes, keys.SSIM)])}")

    lines = []
    for light, target in RELIGHT_TARGETS.items():
        for passes in ("predicted", "true"):
            if keys.relight_key(light, "ct", passes, keys.PSNR) not in chain:
                continue  # an evaluation from before the scene-light rows
            refined = (both(light, "rendernet", passes)
                       if keys.relight_key(light, "rendernet", passes, keys.PSNR) in chain
                       else "not installed")
            lines.append(f"| relight vs Cycles `rgb_b` under lighting B's "
                         f"{keys.RELIGHT_LIGHTS[light]}, {passes} passes: "
                         f"{keys.RENDERERS['ct']} / {keys.RENDERERS['rendernet']} "
                         f"({keys.PSNR.name} / {keys.SSIM.name}) | {target} | "
                         f"{both(light, 'ct', passes)} / {refined} |")
    edge = {renderer: chain.get(keys.relight_key("scene_", renderer, "predicted",
                                                 keys.EDGE_PSNR))
            for renderer in keys.RENDERERS}
    if edge["ct"] is not None:
        refined = "not installed" if edge["rendernet"] is None else keys.EDGE_PSNR.show(
            edge["rendernet"])
        lines.append("| the same at the subject's edge, composited over the frame's background "
                     f"(a band {keys.EDGE_BAND} px either side of the true outline), predicted passes: "
                     f"{keys.RENDERERS['ct']} / {keys.RENDERERS['rendernet']} "
                     f"({keys.EDGE_PSNR.name}) | | {keys.EDGE_PSNR.show(edge['ct'])} / "
                     f"{refined} |")
    return lines


def card_markdown(res: dict) -> str:
    """The evaluation section of MODEL_CARD.md, from ``report``'s result."""
    chain = res["chain"]
    normals = chain["normals"]
    changed = ", ".join(f"`{name}={value}`" for name, value in res.get("options", {}).items())
    held_out = ("the test set: scored once for this release, nothing was chosen on it"
                if res.get("set") == "test" else
                "the development set: the choices this card reports were made on it")
    shares = " / ".join(share.show(normals.get(share.key)) for share in keys.WITHIN)
    lines = [f"Held-out synthetic samples: {chain['samples']} from `{res['val']}`, {held_out} "
             "(identity anchors never trained on). The chain runs with the pipeline's "
             + (f"defaults except {changed}." if changed else "defaults."), "",
             "| metric | target | result |", "|---|---|---|",
             f"| synthetic normals, {keys.MEAN_DEG.name} / {keys.MEDIAN_DEG.name} (whole "
             f"subject) | ≤ 8° | {keys.MEAN_DEG.show(normals.get(keys.MEAN_DEG.key))} / "
             f"{keys.MEDIAN_DEG.show(normals.get(keys.MEDIAN_DEG.key))} |",
             "| synthetic normals within "
             + " / ".join(share.name.lstrip("≤") for share in keys.WITHIN)
             + f" | | {shares} ({keys.MEAN_COS.name} "
             f"{keys.MEAN_COS.show(normals.get(keys.MEAN_COS.key))}) |"]
    lines += ["|" + "|".join(f" {cell} " if cell else " " for cell in
                             (metric.name, metric.target, metric.show(chain.get(metric.key))))
              + "|" for metric in keys.CHAIN_PASSES]
    lines += _relight_rows(chain)
    sh_level, albedo_level = keys.level_key("sh"), keys.level_key("albedo")
    if sh_level in chain:
        median, size = keys.LEVEL_MEDIAN, keys.LEVEL_MEAN_ABS
        sh, albedo = chain[sh_level], chain[albedo_level]
        lines.append(f"| level, stops brighter than the truth ({median.name}; {size.name}): "
                     f"lighting (SH irradiance) / albedo | 0 | {median.show(sh[median.key])} "
                     f"({size.show(sh[size.key])}) / {median.show(albedo[median.key])} "
                     f"({size.show(albedo[size.key])}) |")
    oracle = chain.get(keys.relight_key("", "ct", "predicted_albedo_level_oracle", keys.PSNR))
    if oracle is not None:
        true_albedo = chain[keys.relight_key("", "ct", "predicted_true_albedo", keys.PSNR)]
        lines.append("| relight, predicted passes, Cook-Torrance, diagnostic: albedo brought to "
                     "the truth's overall level (oracle) / true albedo | | "
                     f"{keys.PSNR.show(oracle)} / {keys.PSNR.show(true_albedo)} |")
    degrees = keys.MEAN_DEG
    for group, subjects in _groups():
        net = _yale_mean(res["yale_net"], subjects, "whole_mask")
        if net is None:
            continue
        face = _yale_mean(res["yale_net"], subjects, "prior_covered")
        prior = _yale_mean(res["yale_prior"], subjects, None)
        lines.append(f"| Yale B normals, mean, {group} ({', '.join(subjects)}) | ≤ 12° | "
                     f"{degrees.show(net)} whole mask; {degrees.show(face)} where the prior "
                     f"covers, prior alone {degrees.show(prior)} |")
    pose = _pose(res)
    if pose:
        turn, left = keys.ROTATION
        lines.append(f"| normals' error split: {turn.name}, its angle / the {left.name}, mean "
                     "per image | | " + "; ".join(pose) + " |")
    tilt = _tilt(res)
    if tilt:
        lines.append(f"| normal tilt on the face, {keys.MEAN_DY.name} (+ = tilted up): "
                     "face-mesh prior / NormalNet | 0 | " + "; ".join(tilt) + " |")
    for row in res.get("yale_faces", []):
        lines.append(f"| Face Mesh finds the face, {row['subject']}, all {row['images']} lights: "
                     f"as shot / with exposure retries | | {row['as_shot']} / "
                     f"{row['with_exposure_retries']} |")
    carried = res.get("carried_from", {})
    if carried:
        lines += ["", "The ablation and albedo-route tables below measure training checkpoints "
                  "that are not on this machine; they are carried from `"
                  + sorted(set(carried.values()))[0] + "`."]
    lines += _checkpoint_tables(res)
    return "\n".join(lines)


def _checkpoint_tables(res: dict) -> list[str]:
    """The landmark ablation, the albedo route and SpecularNet alone."""
    lines = []
    ablation = [(key, res[key]) for key in map(keys.checkpoint_key, ("normal", "normal_nolm"))
                if key in res]
    columns = (keys.MEAN_DEG, keys.MEDIAN_DEG, *keys.WITHIN)
    if ablation:
        lines += ["", "Landmark ablation (same data, steps and seed; held-out samples):", "",
                  "| NormalNet | steps | region | "
                  + " | ".join(metric.name for metric in columns) + " |",
                  "|---|---|---|" + "---|" * len(columns)]
        for key, rows in ablation:
            for row in rows:
                who = ("face-mesh prior alone" if row["metric"].startswith("face_mesh")
                       else "with landmarks" if row["landmarks"] else "without landmarks")
                if who.startswith("face-mesh") and key.endswith("nolm"):
                    continue
                steps = "—" if who.startswith("face-mesh") else row["steps"]
                lines.append(f"| {who} | {steps} | {row['region']} | "
                             + " | ".join(metric.show(row.get(metric.key)) for metric in columns)
                             + " |")
    diffuse_key, albedo_key = keys.checkpoint_key("diffuse"), keys.checkpoint_key("albedo")
    si_psnr = keys.ALBEDO_SI_PSNR
    if diffuse_key in res and albedo_key in res:
        diffuse, albedo = res[diffuse_key], res[albedo_key]
        lines += ["", "Albedo route (true normals and SH as input; held-out samples):", "",
                  f"| route | steps | {si_psnr.name} |", "|---|---|---|",
                  f"| DiffuseNet render / shading (patent) | {diffuse['steps']} | "
                  f"{si_psnr.show(diffuse.get(si_psnr.key))} |",
                  f"| albedo predicted directly | {albedo['steps']} | "
                  f"{si_psnr.show(albedo.get(si_psnr.key))} |"]
    specular_key = keys.checkpoint_key("specular")
    if specular_key in res:
        specular = res[specular_key]
        roughness, f0 = keys.ROUGHNESS_MAE, keys.F0_MAE
        lines += ["", f"SpecularNet alone ({specular['steps']} steps; true normal and albedo "
                      f"in): {roughness.name} {roughness.show(specular.get(roughness.key))}, "
                      f"{f0.name} {f0.show(specular.get(f0.key))}."]
    return lines


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def replace_block(card: Path, begin: str, end: str, body: str) -> None:
    """Replace the block of the model card between its markers ``begin`` and ``end``,
    atomically."""
    text = card.read_text()
    if begin not in text or end not in text:
        raise SystemExit(f"{card} has no {begin} … {end} block")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    write_atomic(card, f"{head}{begin}\n{body}\n{end}{tail}")


def write_card(card: Path, res: dict) -> None:
    """Rewrite the card's evaluation block from ``report``'s result."""
    replace_block(card, CARD_BEGIN, CARD_END, card_markdown(res))


def write_yale_relight_card(card: Path, command: str, table: str) -> None:
    """Rewrite the card's real-face relight block: the command that measured it, its table."""
    replace_block(card, YALE_CARD_BEGIN, YALE_CARD_END, f"`{command}`\n\n{table}")
