"""``python -m training.evaluate``: honest measurements on data the networks never saw.

- ``relight DIR [--count N]``: the Cook-Torrance relight of factory samples' ground-truth
  passes under their lighting B (``sh_b``) against the Cycles render ``rgb_b``, masked PSNR and
  SSIM. This is the baseline RenderNet must beat.
- ``yale [--subjects …]``: photometric-stereo agreement with each Yale B subject's reference (a
  check of the measuring tool itself, not of a network).
- ``yale-prior [--subjects …]``: the face-mesh normal prior alone on the frontal and two side-lit
  images (A ±50°) of each subject: the baseline NormalNet must beat. Scored inside the reference
  mask where the prior covers the face; the coverage is reported too.
- ``yale-faces [--subjects …]``: how often Face Mesh finds the face under each subject's 64
  lights at the pipeline's 512 px, the plate as shot against with the exposure retries.

- ``yale-relight [--subjects …] [--acceptance] [--card …]``: the real-face relight protocol
  (``training.yale_relight``): each subject's frontal photo through ``python -m inference
  decompose``, relit to ten real captures of the same face and scored against them, every
  variant of the model card's table. Writes ``models/yale_relight.json``.

- ``report [--test | --val DIR] [--count N] [--card models/MODEL_CARD.md] [--acceptance]``: all
  of the model card's numbers: NormalNet checkpoints with and without landmark channels (the ablation),
  DiffuseNet against the direct-albedo net, SpecularNet, the shipped chain end to end on held-out
  samples (every pass, relight with Cook-Torrance and with RenderNet), and NormalNet on Yale B
  against the prior. Writes ``models/evaluation.json`` and the card's evaluation block.

Yale B05 and B07 are acceptance subjects: the defaults score the development subjects only.
Likewise the synthetic development set (``v1-val``) is where choices are made; the test set
(``v1-test``, ``--test``) is scored once per release.

Results print as JSON lines, so they can be pasted into the model card as they are.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import data, yale_relight
from .evaluation import flicker, model_card, report, synthetic, yale


SCALARS = (bool, int, float, str)


def _decompose_option(text: str) -> tuple[str, object]:
    """``NAME=VALUE`` for a scalar ``DecomposeOptions`` field, the value in its field's type."""
    from dataclasses import fields

    from inference import pipeline

    name, sep, value = text.partition("=")
    defaults = pipeline.DecomposeOptions()
    kinds = {field.name: type(getattr(defaults, field.name))
             for field in fields(pipeline.DecomposeOptions)}
    kind = kinds.get(name)
    if not sep or kind not in SCALARS:
        raise argparse.ArgumentTypeError(
            f"expected NAME=VALUE with NAME one of "
            f"{sorted(option for option, option_kind in kinds.items() if option_kind in SCALARS)}")
    if kind is bool:
        if value.lower() not in ("true", "false", "1", "0"):
            raise argparse.ArgumentTypeError(f"{name} takes true or false, not {value!r}")
        return name, value.lower() in ("true", "1")
    try:
        return name, kind(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{name} takes a {kind.__name__}, not {value!r}")


def _command(argv) -> str:
    return "python -m training.evaluate " + " ".join(argv if argv is not None else sys.argv[1:])


def _yale_relight(args, argv) -> int:
    subjects = list(dict.fromkeys([*args.subjects,
                                   *(yale.ACCEPTANCE_SUBJECTS if args.acceptance else ())]))
    refining = {} if args.refine_strength is None else {"refine_strength": args.refine_strength}
    rows = yale_relight.evaluate(subjects, args.decompose_arg, encoding=args.encoding,
                                 refine_options=refining)
    known = yale.DEV_SUBJECTS + yale.ACCEPTANCE_SUBJECTS
    groups = {"development": [name for name in yale.DEV_SUBJECTS if name in subjects],
              "acceptance": [name for name in yale.ACCEPTANCE_SUBJECTS if name in subjects],
              "other": [name for name in subjects if name not in known]}
    groups = {group: members for group, members in groups.items() if members}
    command = _command(argv)
    res = {"command": command, "encoding": args.encoding, "subjects": subjects,
           "groups": {group: yale_relight.group_means(rows, members)
                      for group, members in groups.items()},
           "rows": rows}
    model_card.write_atomic(Path(args.json), json.dumps(res, indent=1) + "\n")
    table = yale_relight.card_table(rows, groups)
    if args.card:
        model_card.write_yale_relight_card(Path(args.card), command, table)
    for row in rows:
        print(json.dumps({key: value for key, value in row.items() if key != "per_view"}))
    print(table)
    return 0


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__)
    sub = cli.add_subparsers(dest="command", required=True)
    relight = sub.add_parser("relight")
    relight.add_argument("folder")
    relight.add_argument("--count", type=int, default=100)
    frame = sub.add_parser("prior-frame", help="the face-mesh prior in the ray frame and in "
                           "camera space, against a factory folder's true normals")
    frame.add_argument("folder")
    frame.add_argument("--count", type=int, default=300)
    for name in ROW_COMMANDS:
        if name not in ("relight", "prior-frame"):
            sub.add_parser(name).add_argument("--subjects", nargs="+",
                                              default=["yaleB01", "yaleB02"])
    every = sub.add_parser("report", help="every model-card measurement, as JSON and markdown")
    every.add_argument("--val", help="held-out samples (default: v1-val, or v1-test with --test)")
    every.add_argument("--test", action="store_true",
                       help="score the test set: once per release, nothing is chosen on it "
                            "(choices are made on the development set, v1-val)")
    every.add_argument("--count", type=int, default=200)
    every.add_argument("--ckpt-root", default=str(data.CACHE / "ckpt"))
    every.add_argument("--models", help="models folder (default: the shipped one)")
    every.add_argument("--acceptance", action="store_true",
                       help="also score the acceptance subjects (yaleB05, yaleB07): once, at "
                            "the end")
    every.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                       type=_decompose_option,
                       help="a pipeline.DecomposeOptions field for the chain and Yale B runs, "
                            "e.g. mirror_normals=false or albedo_headroom=0 (to measure what "
                            "one adds)")
    every.add_argument("--json", default="models/evaluation.json",
                       help="where to write the results")
    every.add_argument("--card", help="model card whose evaluation block to rewrite")
    real = sub.add_parser("yale-relight", help="the real-face relight protocol (Yale B)")
    real.add_argument("--subjects", nargs="+", default=list(yale.DEV_SUBJECTS))
    real.add_argument("--acceptance", action="store_true",
                      help="also score the acceptance subjects (yaleB05, yaleB07): once per "
                           "release")
    real.add_argument("--encoding", choices=yale_relight.ENCODINGS, default="srgb",
                      help="how the linear capture becomes the PNG that is decomposed")
    real.add_argument("--decompose-arg", action="append", default=[], metavar="ARG",
                      help="an extra argument for python -m inference decompose (repeatable)")
    real.add_argument("--refine-strength", type=float, metavar="S",
                      help="RenderNet's share for the refined variant, as relight "
                           "--refine-strength (default: the pipeline's)")
    real.add_argument("--json", default="models/yale_relight.json")
    real.add_argument("--card", help="model card whose yale-relight block to rewrite")
    turntable = sub.add_parser("flicker", help="temporal stability on a factory turntable")
    turntable.add_argument("folder", help="output of python -m training.synth.turntable")
    turntable.add_argument("--strength", type=float, default=0.7)
    turntable.add_argument("--decompose-arg", action="append", default=[], metavar="ARG",
                           help="an extra argument for both decompose runs (repeatable)")
    return cli


ROW_COMMANDS = {
    "relight": lambda args: [synthetic.relight_baseline(Path(args.folder).expanduser(),
                                                        args.count)],
    "prior-frame": lambda args: [synthetic.prior_frame(Path(args.folder).expanduser(),
                                                      args.count)],
    "yale": lambda args: yale.yale_photometric(args.subjects),
    "yale-prior": lambda args: yale.yale_prior(args.subjects),
    "yale-faces": lambda args: yale.yale_faces(args.subjects),
}
"""The commands that print their rows as JSON lines, and what each measures."""


def _report(args, argv) -> int:
    val = Path(args.val or data.CACHE / "synth" / ("v1-test" if args.test else "v1-val"))
    res = report.report(val.expanduser(), args.count, Path(args.ckpt_root).expanduser(),
                        Path(args.models) if args.models else None, args.acceptance,
                        dict(args.option), Path(args.json))
    res["set"] = "test" if args.test else "development"
    res["command"] = _command(argv)
    model_card.write_atomic(Path(args.json), json.dumps(res, indent=1) + "\n")
    if args.card:
        model_card.write_card(Path(args.card), res)
    print(model_card.card_markdown(res))
    return 0


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    if args.command == "flicker":
        print(json.dumps(flicker.flicker_turntable(Path(args.folder).expanduser(),
                                                   args.strength, extra=args.decompose_arg),
                         indent=1))
        return 0
    if args.command == "yale-relight":
        return _yale_relight(args, argv)
    if args.command == "report":
        return _report(args, argv)
    for row in ROW_COMMANDS[args.command](args):
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
