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
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from . import data, nets, onnx_init

CKPT_ROOT = data.CACHE / "ckpt"


ADVERSARIAL_WEIGHT = 0.05
CALIBRATION_SEED = 7919  # the warm start's batch-norm calibration draws its own batches


@dataclass
class TrainConfig:
    """One training run (``python -m training.train``'s flags)."""

    net: str
    data: list
    steps: int = 20000
    batch: int = 8
    size: int = 256
    lr: float = 2e-3
    widths: list | None = None
    landmarks: bool = True
    prior_jitter: bool = False
    camera_prior: bool = False
    shading_jitter: float = 0.0
    ckpt: str | None = None
    every: int = 200
    log_every: int = 20
    seed: int = 0
    rescan: bool = False
    init: str | None = None
    calibrate: int = 8


def _normal_batches(run: TrainConfig, paths, seed: int):
    augment = data.PRIOR_AUG if run.prior_jitter else data.GEOMETRY_AUG
    return data.batches(paths, run.batch, run.size, seed=seed, aug=augment,
                        landmarks=run.landmarks, camera_prior=run.camera_prior)


def _map_batches(run: TrainConfig, paths, seed: int):
    return data.map_batches(run.net, paths, run.batch, run.size, seed=seed,
                            aug=data.Augment(shading_level=run.shading_jitter))


def _split_after(inputs: int):
    """A batch whose first ``inputs`` tensors are the net's inputs, the rest the loss's."""
    return lambda tensors: (tensors[:inputs], tensors[inputs:])


def _split_normal(tensors):
    """NormalNet's batch: image and the face features in one tensor, then target and mask."""
    return [tensors[0][:, :3], tensors[0][:, 3:]], tensors[1:]


@dataclass(frozen=True)
class NetTraining:
    """How one net trains: its constructor, its batches, which of a batch's tensors are its
    inputs and which the loss's, and its loss (None: the adversary's, ``Adversary``)."""

    build: Callable[..., torch.nn.Module]
    batches: Callable
    split: Callable
    loss: Callable | None
    render_input: str | None = None         # what the run's Cook-Torrance input is rendered under
    render_input_before: str | None = None  # the same, for runs from before it was recorded
    landmarks: bool = False                 # whether the run's landmark setting applies


_MAP_SPLIT = _split_after(-2)  # inputs, then target and mask
NETS = {
    "normal": NetTraining(nets.NormalNet, _normal_batches, _split_normal, nets.angular_loss,
                          landmarks=True),
    "illum": NetTraining(nets.IllumNet, lambda run, paths, seed: data.illum_batches(
        paths, run.batch, run.size, seed=seed), _split_after(2), nets.sh_irradiance_loss),
    "diffuse": NetTraining(nets.diffuse_net, _map_batches, _MAP_SPLIT, nets.masked_l1),
    "albedo": NetTraining(nets.albedo_net, _map_batches, _MAP_SPLIT, nets.masked_l1),
    "specular": NetTraining(nets.specular_net, _map_batches, _MAP_SPLIT, nets.masked_l1),
    "render": NetTraining(nets.RenderNet, lambda run, paths, seed: data.render_batches(
        paths, run.batch, run.size, seed=seed), _split_after(-3), None,
        render_input=data.RENDER_INPUT, render_input_before="sh_b"),
}
"""Every net ``python -m training.train`` trains, by its name on the command line."""


def build(net: str, widths=None):
    if net not in NETS:
        raise SystemExit(f"unknown network '{net}' (available: {', '.join(NETS)})")
    return NETS[net].build(**({"widths": tuple(widths)} if widths else {}))


def stream(run: TrainConfig, paths, seed: int):
    return NETS[run.net].batches(run, paths, seed)


def _tensors(batch) -> list[torch.Tensor]:
    return [torch.from_numpy(array) for array in batch]


def loss_of(net: str, model, batch) -> torch.Tensor:
    inputs, targets = NETS[net].split(_tensors(batch))
    return NETS[net].loss(model(*inputs), *targets)


def model_inputs(net: str, batch) -> list[torch.Tensor]:
    """The net's inputs in one of ``stream``'s batches."""
    return NETS[net].split(_tensors(batch))[0]


class Adversary:
    """RenderNet's patch discriminator, its optimiser and the hinge losses of both sides."""

    def __init__(self, lr: float):
        self.disc = nets.PatchDiscriminator()
        self.opt = torch.optim.AdamW(self.disc.parameters(), lr=lr, betas=(0.5, 0.999))

    def generator_loss(self, model, batch) -> torch.Tensor:
        inputs, (target, weight, mask) = NETS["render"].split(_tensors(batch))
        pred = model(*inputs)
        matte = mask.unsqueeze(1)  # the critic judges the subject, not the frame's background
        terms = nets.render_losses(pred, target, weight, mask, self.disc(pred * matte))
        self._last = ((pred * matte).detach(), target * matte)
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


def warm_start(model, run: TrainConfig, record: dict) -> None:
    """Start from another run's weights (same net, widths and inputs), with a fresh optimiser
    and schedule: a model fine-tuned on more data. Recorded in the run's record by its resolved
    path, since a link such as ckpt/shipped/<net> moves on."""
    source = Path(run.init).expanduser()
    state = torch.load(source, map_location="cpu", weights_only=False)
    theirs = state.get("config", {})
    for key in ("net", "landmarks", "widths"):
        if key in theirs and theirs[key] != record[key]:
            raise SystemExit(f"--init {source}: {key} is {theirs[key]!r}, this run has "
                             f"{record[key]!r}")
    model.load_state_dict(state["model"])
    record["init"] = {"path": str(source.resolve()), "step": state.get("step"),
                      "data": theirs.get("data")}
    print(f"[train] warm start from {source} (step {state.get('step')})", file=sys.stderr)


def onnx_source(run: TrainConfig):
    """(graph, widths) when ``--init`` names an ONNX file or a models folder, else None; the
    widths are the file's, and --widths must agree with them."""
    if not run.init or not onnx_init.is_onnx(run.init):
        return None
    try:
        graph, widths = onnx_init.open_for(run.init, run.net)
    except onnx_init.OnnxInitError as exc:
        raise SystemExit(str(exc)) from None
    if run.widths and list(run.widths) != widths:
        raise SystemExit(f"--init {graph.path}: widths are {widths}, this run has "
                         f"{list(run.widths)}")
    trained = (graph.entry or {}).get("training_data", {})
    if NETS[run.net].landmarks and trained.get("landmarks", run.landmarks) != run.landmarks:
        raise SystemExit(f"--init {graph.path}: landmarks is {trained['landmarks']!r}, this run "
                         f"has {run.landmarks!r}")
    return graph, widths


def warm_start_onnx(model, graph, run: TrainConfig, record: dict, paths) -> None:
    """Start from a shipped ONNX file (training.onnx_init): its weights read back, the batch
    norms the export fused given the statistics of this run's data, and the result checked
    against ONNX Runtime. Recorded by the file's resolved path and sha256."""
    calibration = itertools.islice(
        (model_inputs(run.net, batch)
         for batch in stream(run, paths, run.seed + CALIBRATION_SEED)), run.calibrate)
    try:
        report = onnx_init.load(model, graph, run.net, calibration)
    except onnx_init.OnnxInitError as exc:
        raise SystemExit(str(exc)) from None
    record["init"] = onnx_init.record(graph, report)
    version = record["init"]["version"]
    named = f"version {version}" if version else "no manifest entry"
    print(f"[train] warm start from {graph.path} ({named}, sha256 {graph.sha256[:12]}…; "
          f"ONNX Runtime vs torch {report['ort_max_abs']:.1e}; "
          f"{len(report['fused_norms'])} fused batch norms calibrated on "
          f"{report['calibration_batches']} batches)", file=sys.stderr)


def train(run: TrainConfig) -> Path:
    """Train (or resume) ``run``; returns its checkpoint. The checkpoint's ``config`` records
    what the run's data and inputs were, so a resume with other inputs is refused."""
    try:
        data.require_train_split(run.data)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    net = NETS[run.net]
    folder = Path(run.ckpt or CKPT_ROOT / f"{run.net}{'' if run.landmarks else '_nolm'}")
    record = {"net": run.net, "landmarks": run.landmarks, "prior_jitter": run.prior_jitter,
              "camera_prior": run.camera_prior,
              "shading_jitter": run.shading_jitter, "render_input": net.render_input,
              "size": run.size, "batch": run.batch, "lr": run.lr, "widths": run.widths,
              "data": [str(Path(source_folder).expanduser()) for source_folder in run.data]}
    state = load_checkpoint(folder)
    source = onnx_source(run) if state is None else None
    if source is not None:  # the file's widths, whether or not --widths names them
        record["widths"] = source[1]
    elif state is not None and not run.widths:  # a resumed run keeps its own
        record["widths"] = state["config"].get("widths")
    torch.manual_seed(run.seed)
    model = build(run.net, record["widths"])
    opt = torch.optim.AdamW(model.parameters(), lr=run.lr, weight_decay=1e-4)
    step = 0
    adversary = Adversary(run.lr) if net.loss is None else None
    if state is not None:
        before = {"render_input": net.render_input_before}  # older runs
        for key in ("net", "landmarks", "prior_jitter", "camera_prior", "shading_jitter",
                    "render_input"):
            if state["config"].get(key, before.get(key, False)) != record[key]:
                raise SystemExit(f"{folder} holds a run with {key}={state['config'].get(key)!r}; "
                                 f"this one has {record[key]!r}: pick another --ckpt")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step = state["step"]
        if "init" in state["config"]:  # a resumed fine-tune still records where it started
            record["init"] = state["config"]["init"]
        if adversary is not None and "disc" in state:
            adversary.disc.load_state_dict(state["disc"])
            adversary.opt.load_state_dict(state["disc_opt"])
        print(f"[train] resumed {folder} at step {step}", file=sys.stderr)
    paths = data.sample_paths(run.data)
    if state is None and source is not None:
        warm_start_onnx(model, source[0], run, record, paths)
    elif state is None and run.init:
        warm_start(model, run, record)
    print(f"[train] {run.net}: {len(paths)} samples, step {step}/{run.steps}",
          file=sys.stderr, flush=True)
    batches = stream(run, paths, run.seed + step)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=run.lr, total_steps=run.steps,
                                                last_epoch=step - 1 if step else -1)
    model.train()
    started, losses = time.perf_counter(), []
    while step < run.steps:
        batch = next(batches)
        loss = (adversary.generator_loss(model, batch) if adversary is not None
                else loss_of(run.net, model, batch))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if adversary is not None:
            adversary.step()
        sched.step()
        step += 1
        losses.append(loss.item())
        if step % run.log_every == 0 or step == run.steps:
            rate = run.log_every / max(time.perf_counter() - started, 1e-9)
            print(json.dumps({"step": step, "loss": float(np.mean(losses)),
                              "steps_per_s": round(rate, 3)}), flush=True)
            started, losses = time.perf_counter(), []
        if step % run.every == 0 or step == run.steps:
            extra = {} if adversary is None else {"disc": adversary.disc.state_dict(),
                                                  "disc_opt": adversary.opt.state_dict()}
            save_checkpoint(folder, model, opt, step, record, extra)
            if run.rescan:
                grown = data.sample_paths(run.data)
                if len(grown) > len(paths):
                    print(f"[train] step {step}: {len(grown)} samples (was {len(paths)})",
                          file=sys.stderr, flush=True)
                    paths, batches = grown, stream(run, grown, run.seed + step)
    return folder / "last.pt"


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(prog="python -m training.train", description=__doc__)
    cli.add_argument("net", choices=tuple(NETS))
    cli.add_argument("--data", nargs="+", required=True, help="factory folders (train split)")
    cli.add_argument("--steps", type=int, default=20000)
    cli.add_argument("--batch", type=int, default=8)
    cli.add_argument("--size", type=int, default=256)
    cli.add_argument("--lr", type=float, default=2e-3)
    cli.add_argument("--widths", type=int, nargs="+")
    cli.add_argument("--no-landmarks", dest="landmarks", action="store_false",
                   help="zero the landmark channels (the paper's ablation)")
    cli.add_argument("--prior-jitter", action="store_true",
                   help="NormalNet: train on a turned, rescaled or missing face-mesh prior "
                        "(training.data.PRIOR_AUG)")
    cli.add_argument("--camera-prior", action="store_true",
                   help="NormalNet: the face-mesh prior in camera space, turned from "
                        "MediaPipe's ray frame by each sample's camera (inference.camera); "
                        "exported as the prior_camera channels")
    cli.add_argument("--shading-jitter", type=float, default=0.0, metavar="STOPS",
                   help="DiffuseNet / albedo net: scale the shading input by 2 ** ±STOPS, as "
                        "IllumNet's level errs at run time")
    cli.add_argument("--ckpt", help="checkpoint folder")
    cli.add_argument("--every", type=int, default=200)
    cli.add_argument("--log-every", type=int, default=20)
    cli.add_argument("--seed", type=int, default=0)
    cli.add_argument("--rescan", action="store_true",
                   help="pick up samples the factory adds while training, at each checkpoint")
    cli.add_argument("--threads", type=int, default=0)
    cli.add_argument("--init", help="weights that start a new run (fine-tuning): a checkpoint "
                                  "(last.pt), a shipped ONNX file (models/<net>_net.onnx), or a "
                                  "models folder (its file for NET); ignored when --ckpt already "
                                  "holds a run to resume")
    cli.add_argument("--calibrate", type=int, default=8, metavar="BATCHES",
                   help="--init from ONNX: batches of this run's data that give the batch norms "
                        "the export fused their statistics (0: leave them as identities)")
    return cli


def config_of(args: argparse.Namespace) -> TrainConfig:
    """The run the command line asks for."""
    return TrainConfig(**{field.name: getattr(args, field.name) for field in fields(TrainConfig)})


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    path = train(config_of(args))
    print(f"[train] checkpoint {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
