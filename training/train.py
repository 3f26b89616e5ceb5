"""``python -m training.train normal|illum|diffuse|specular|render --data DIR [DIR…] --steps N``: resumable training.

Checkpoints (model, optimiser, step, data seed) go to ``--ckpt`` (default
``~/.cache/relit/ckpt/<net>``) every ``--every`` steps and at the end, written atomically; a rerun
with the same folder resumes where it stopped. Run it in the background with nohup and a log.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from . import data, nets, onnx_init

CKPT_ROOT = data.CACHE / "ckpt"


NETS = {"normal": nets.NormalNet, "illum": nets.IllumNet, "diffuse": nets.diffuse_net,
        "albedo": nets.albedo_net, "specular": nets.specular_net, "render": nets.RenderNet}
ADVERSARIAL_WEIGHT = 0.05
CALIBRATION_SEED = 7919  # the warm start's batch-norm calibration draws its own batches


def build(net: str, widths=None):
    if net not in NETS:
        raise SystemExit(f"unknown network '{net}' (available: {', '.join(NETS)})")
    return NETS[net](**({"widths": tuple(widths)} if widths else {}))


def stream(args, paths, seed: int):
    if args.net == "normal":
        aug = data.PRIOR_AUG if args.prior_jitter else data.GEOMETRY_AUG
        return data.batches(paths, args.batch, args.size, seed=seed, aug=aug,
                            landmarks=args.landmarks)
    if args.net == "illum":
        return data.illum_batches(paths, args.batch, args.size, seed=seed)
    if args.net == "render":
        return data.render_batches(paths, args.batch, args.size, seed=seed)
    aug = data.Augment(shading_level=args.shading_jitter)
    return data.map_batches(args.net, paths, args.batch, args.size, seed=seed, aug=aug)


def loss_of(net: str, model, batch) -> torch.Tensor:
    tensors = [torch.from_numpy(x) for x in batch]
    if net == "normal":
        a, b, c = tensors
        return nets.angular_loss(model(a[:, :3], a[:, 3:]), b, c)
    if net == "illum":
        a, b, c = tensors
        return nets.sh_irradiance_loss(model(a, b), c)
    *inputs, target, mask = tensors
    return nets.masked_l1(model(*inputs), target, mask)


class Adversary:
    """RenderNet's patch discriminator, its optimiser and the hinge losses of both sides."""

    def __init__(self, lr: float):
        self.disc = nets.PatchDiscriminator()
        self.opt = torch.optim.AdamW(self.disc.parameters(), lr=lr, betas=(0.5, 0.999))

    def generator_loss(self, model, batch) -> torch.Tensor:
        t = [torch.from_numpy(x) for x in batch]
        *inputs, target, weight, mask = t
        pred = model(*inputs)
        m = mask.unsqueeze(1)  # the critic judges the subject, not the frame's background
        terms = nets.render_losses(pred, target, weight, mask, self.disc(pred * m))
        self._last = ((pred * m).detach(), target * m)
        return (terms["l1"] + terms["perceptual"] + terms["specular"]
                + ADVERSARIAL_WEIGHT * terms["adversarial"])

    def step(self) -> None:
        fake, real = self._last
        loss = (torch.relu(1 - self.disc(real)).mean() + torch.relu(1 + self.disc(fake)).mean())
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()


def save_checkpoint(folder: Path, model, opt, step: int, config: dict,
                    extra: dict | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path, tmp = folder / "last.pt", folder / "last.pt.tmp"
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                "config": config, **(extra or {})}, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(folder: Path):
    path = folder / "last.pt"
    return torch.load(path, map_location="cpu", weights_only=False) if path.exists() else None


def model_inputs(net: str, batch) -> list[torch.Tensor]:
    """The net's inputs in one of ``stream``'s batches."""
    tensors = [torch.from_numpy(x) for x in batch]
    if net == "normal":
        return [tensors[0][:, :3], tensors[0][:, 3:]]
    if net == "illum":
        return tensors[:2]
    return tensors[:-3] if net == "render" else tensors[:-2]


def warm_start(model, args, config: dict) -> None:
    """Start from another run's weights (same net, widths and inputs), with a fresh optimiser
    and schedule: a model fine-tuned on more data. Recorded in the config by its resolved path,
    since a link such as ckpt/shipped/<net> moves on."""
    source = Path(args.init).expanduser()
    state = torch.load(source, map_location="cpu", weights_only=False)
    theirs = state.get("config", {})
    for key in ("net", "landmarks", "widths"):
        if key in theirs and theirs[key] != config[key]:
            raise SystemExit(f"--init {source}: {key} is {theirs[key]!r}, this run has "
                             f"{config[key]!r}")
    model.load_state_dict(state["model"])
    config["init"] = {"path": str(source.resolve()), "step": state.get("step"),
                      "data": theirs.get("data")}
    print(f"[train] warm start from {source} (step {state.get('step')})", file=sys.stderr)


def onnx_source(args):
    """(graph, widths) when ``--init`` names an ONNX file or a models folder, else None; the
    widths are the file's, and --widths must agree with them."""
    if not args.init or not onnx_init.is_onnx(args.init):
        return None
    try:
        graph, widths = onnx_init.open_for(args.init, args.net)
    except onnx_init.OnnxInitError as exc:
        raise SystemExit(str(exc)) from None
    if args.widths and list(args.widths) != widths:
        raise SystemExit(f"--init {graph.path}: widths are {widths}, this run has "
                         f"{list(args.widths)}")
    trained = (graph.entry or {}).get("training_data", {})
    if args.net == "normal" and trained.get("landmarks", args.landmarks) != args.landmarks:
        raise SystemExit(f"--init {graph.path}: landmarks is {trained['landmarks']!r}, this run "
                         f"has {args.landmarks!r}")
    return graph, widths


def warm_start_onnx(model, graph, args, config: dict, paths) -> None:
    """Start from a shipped ONNX file (training.onnx_init): its weights read back, the batch
    norms the export fused given the statistics of this run's data, and the result checked
    against ONNX Runtime. Recorded by the file's resolved path and sha256."""
    calibration = itertools.islice(
        (model_inputs(args.net, b) for b in stream(args, paths, args.seed + CALIBRATION_SEED)),
        args.calibrate)
    try:
        report = onnx_init.load(model, graph, args.net, calibration)
    except onnx_init.OnnxInitError as exc:
        raise SystemExit(str(exc)) from None
    config["init"] = onnx_init.record(graph, report)
    version = config["init"]["version"]
    named = f"version {version}" if version else "no manifest entry"
    print(f"[train] warm start from {graph.path} ({named}, sha256 {graph.sha256[:12]}…; "
          f"ONNX Runtime vs torch {report['ort_max_abs']:.1e}; "
          f"{len(report['fused_norms'])} fused batch norms calibrated on "
          f"{report['calibration_batches']} batches)", file=sys.stderr)


def train(args) -> Path:
    try:
        data.require_train_split(args.data)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    folder = Path(args.ckpt or CKPT_ROOT / f"{args.net}{'' if args.landmarks else '_nolm'}")
    config = {"net": args.net, "landmarks": args.landmarks, "prior_jitter": args.prior_jitter,
              "shading_jitter": args.shading_jitter,
              "render_input": data.RENDER_INPUT if args.net == "render" else None,
              "size": args.size,
              "batch": args.batch, "lr": args.lr, "widths": args.widths,
              "data": [str(Path(d).expanduser()) for d in args.data]}
    state = load_checkpoint(folder)
    source = onnx_source(args) if state is None else None
    if source is not None:  # the file's widths, whether or not --widths names them
        config["widths"] = source[1]
    elif state is not None and not args.widths:  # a resumed run keeps its own
        config["widths"] = state["config"].get("widths")
    torch.manual_seed(args.seed)
    model = build(args.net, config["widths"])
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    step = 0
    adversary = Adversary(args.lr) if args.net == "render" else None
    if state is not None:
        before = {"render_input": "sh_b" if args.net == "render" else None}  # older runs
        for key in ("net", "landmarks", "prior_jitter", "shading_jitter", "render_input"):
            if state["config"].get(key, before.get(key, False)) != config[key]:
                raise SystemExit(f"{folder} holds a run with {key}={state['config'].get(key)!r}; "
                                 f"this one has {config[key]!r}: pick another --ckpt")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step = state["step"]
        if "init" in state["config"]:  # a resumed fine-tune still records where it started
            config["init"] = state["config"]["init"]
        if adversary is not None and "disc" in state:
            adversary.disc.load_state_dict(state["disc"])
            adversary.opt.load_state_dict(state["disc_opt"])
        print(f"[train] resumed {folder} at step {step}", file=sys.stderr)
    paths = data.sample_paths(args.data)
    if state is None and source is not None:
        warm_start_onnx(model, source[0], args, config, paths)
    elif state is None and args.init:
        warm_start(model, args, config)
    print(f"[train] {args.net}: {len(paths)} samples, step {step}/{args.steps}",
          file=sys.stderr, flush=True)
    batches = stream(args, paths, args.seed + step)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps,
                                                last_epoch=step - 1 if step else -1)
    model.train()
    t0, losses = time.perf_counter(), []
    while step < args.steps:
        batch = next(batches)
        loss = (adversary.generator_loss(model, batch) if adversary is not None
                else loss_of(args.net, model, batch))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if adversary is not None:
            adversary.step()
        sched.step()
        step += 1
        losses.append(loss.item())
        if step % args.log_every == 0 or step == args.steps:
            rate = args.log_every / max(time.perf_counter() - t0, 1e-9)
            print(json.dumps({"step": step, "loss": float(np.mean(losses)),
                              "steps_per_s": round(rate, 3)}), flush=True)
            t0, losses = time.perf_counter(), []
        if step % args.every == 0 or step == args.steps:
            extra = {} if adversary is None else {"disc": adversary.disc.state_dict(),
                                                  "disc_opt": adversary.opt.state_dict()}
            save_checkpoint(folder, model, opt, step, config, extra)
            if args.rescan:
                grown = data.sample_paths(args.data)
                if len(grown) > len(paths):
                    print(f"[train] step {step}: {len(grown)} samples (was {len(paths)})",
                          file=sys.stderr, flush=True)
                    paths, batches = grown, stream(args, grown, args.seed + step)
    return folder / "last.pt"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training.train", description=__doc__)
    p.add_argument("net", choices=tuple(NETS))
    p.add_argument("--data", nargs="+", required=True, help="factory folders (train split)")
    p.add_argument("--steps", type=int, default=20000)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--widths", type=int, nargs="+")
    p.add_argument("--no-landmarks", dest="landmarks", action="store_false",
                   help="zero the landmark channels (the paper's ablation)")
    p.add_argument("--prior-jitter", action="store_true",
                   help="NormalNet: train on a turned, rescaled or missing face-mesh prior "
                        "(training.data.PRIOR_AUG)")
    p.add_argument("--shading-jitter", type=float, default=0.0, metavar="STOPS",
                   help="DiffuseNet / albedo net: scale the shading input by 2 ** ±STOPS, as "
                        "IllumNet's level errs at run time")
    p.add_argument("--ckpt", help="checkpoint folder")
    p.add_argument("--every", type=int, default=200)
    p.add_argument("--log-every", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rescan", action="store_true",
                   help="pick up samples the factory adds while training, at each checkpoint")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--init", help="weights that start a new run (fine-tuning): a checkpoint "
                                  "(last.pt), a shipped ONNX file (models/<net>_net.onnx), or a "
                                  "models folder (its file for NET); ignored when --ckpt already "
                                  "holds a run to resume")
    p.add_argument("--calibrate", type=int, default=8, metavar="BATCHES",
                   help="--init from ONNX: batches of this run's data that give the batch norms "
                        "the export fused their statistics (0: leave them as identities)")
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    path = train(args)
    print(f"[train] checkpoint {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
