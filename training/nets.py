"""Relit's networks (PyTorch, for training and ONNX export only).

``LightUNet`` is a U-Net in the spirit of the normal-map paper, built from depthwise-separable
blocks so that a 512² run stays within a CPU's budget (docs/ARCHITECTURE.md, *Model contracts*,
*Budget*; see ``flops``). ``NormalNet`` wraps it with the run-time contract: inputs ``rgb``
(sRGB-encoded) and ``aux`` (landmark channels, face-mesh prior and mask, matte), output unit
camera-space normals. The prior is added to the prediction as a residual inside its mask, so the net
learns what the coarse landmark mesh gets wrong rather than the whole normal.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class SepConv(nn.Module):
    """Depthwise 3×3 + pointwise 1×1, batch norm, ReLU6."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.depthwise = nn.Conv2d(c_in, c_in, 3, padding=1, groups=c_in, bias=False)
        self.pointwise = nn.Conv2d(c_in, c_out, 1, bias=False)
        self.norm = nn.BatchNorm2d(c_out)

    def forward(self, features):
        return F.relu6(self.norm(self.pointwise(self.depthwise(features))))


class Block(nn.Sequential):
    def __init__(self, c_in: int, c_out: int):
        super().__init__(SepConv(c_in, c_out), SepConv(c_out, c_out))


class LightUNet(nn.Module):
    """Encoder-decoder with skips; ``stride`` = 2 ** (len(widths) - 1)."""

    def __init__(self, c_in: int, c_out: int, widths=(16, 32, 64, 128, 128)):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(c_in, widths[0], 3, padding=1, bias=False),
                                  nn.BatchNorm2d(widths[0]), nn.ReLU6())
        self.down = nn.ModuleList(Block(shallow, deep)
                                  for shallow, deep in zip(widths[:-1], widths[1:]))
        self.up = nn.ModuleList(Block(deep + shallow, shallow)
                                for shallow, deep in zip(widths[:-1], widths[1:]))
        self.head = nn.Conv2d(widths[0], c_out, 1)
        self.stride = 2 ** (len(widths) - 1)

    def forward(self, image):
        features = self.stem(image)
        skips = []
        for block in self.down:
            skips.append(features)
            features = block(F.max_pool2d(features, 2))
        for block, skip in zip(reversed(self.up), reversed(skips)):
            features = F.interpolate(features, size=skip.shape[-2:], mode="bilinear",
                                     align_corners=False)
            features = block(torch.cat([features, skip], dim=1))
        return self.head(features)


class NormalNet(nn.Module):
    """(rgb 3ch sRGB, aux: 6 landmark channels + prior xyz + prior mask + matte) → unit normal."""

    AUX = 11

    def __init__(self, widths=(16, 32, 64, 128, 128)):
        super().__init__()
        self.unet = LightUNet(3 + self.AUX, 3, widths)
        self.stride = self.unet.stride

    def forward(self, rgb, aux):
        prior, prior_mask = aux[:, 6:9], aux[:, 9:10]
        base = prior * prior_mask + torch.tensor([0.0, 0.0, 1.0]).view(1, 3, 1, 1) * (
            1.0 - prior_mask)
        normal = base + self.unet(torch.cat([rgb, aux], dim=1))
        return normal / torch.clamp(torch.linalg.vector_norm(normal, dim=1, keepdim=True),
                                    min=1e-6)


def angular_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean (1 − cos) inside ``mask`` (N×H×W), plus a small L1 for well-behaved gradients."""
    cos = (pred * target).sum(dim=1)
    weight = mask / torch.clamp(mask.sum(), min=1.0)
    l1 = (pred - target).abs().sum(dim=1)
    return ((1.0 - cos) * weight).sum() + 0.1 * (l1 * weight).sum()


def parameters(model: nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


def flops(model: nn.Module, *inputs: torch.Tensor) -> float:
    """Multiply-adds × 2 of the convolutions for the given inputs (what a net costs on a CPU)."""
    total = 0.0

    def hook(module, args, output):
        nonlocal total
        kernel_area = module.kernel_size[0] * module.kernel_size[1]
        total += 2.0 * output.numel() * kernel_area * module.in_channels / module.groups

    handles = [module.register_forward_hook(hook) for module in model.modules()
               if isinstance(module, nn.Conv2d)]
    with torch.no_grad():
        model.eval()
        model(*inputs)
    for handle in handles:
        handle.remove()
    return total


class IllumNet(nn.Module):
    """(rgb 3ch sRGB, normal 3ch camera space) → SH 9×3 of the source lighting (27 values,
    coefficient-major: index ``k * 3 + c``). A strided separable encoder, global average
    pooling and a linear head: the lighting is one estimate for the whole image."""

    def __init__(self, widths=(16, 32, 64, 96)):
        super().__init__()
        layers = [nn.Conv2d(6, widths[0], 3, stride=2, padding=1), nn.ReLU6()]
        channels = widths[0]
        for width in widths[1:]:
            layers += [SepConv(channels, width), nn.MaxPool2d(2)]
            channels = width
        self.encoder = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Linear(channels, 64), nn.ReLU6(), nn.Linear(64, 27))
        self.stride = 2 ** len(widths)

    def forward(self, rgb, normal):
        features = self.encoder(torch.cat([rgb, normal], dim=1)).mean(dim=(2, 3))
        return self.head(features)


SH_BAND_GAIN = (3.141593, *[2.094395] * 3, *[0.785398] * 5)
"""Lambertian shading's gain per SH band (π, 2π/3, π/4): how much each band reaches irradiance."""


def sh_irradiance_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Error of the irradiance the SH predict, with the bands weighed as shading sees them, in two
    parts: the level (squared log ratio of the weighted norms) and the shape (squared distance of
    the unit-norm weighted vectors: direction, colour and contrast of the light).

    The level is scored in log space because one photo leaves it ambiguous (a darker face under
    more light looks the same): a relative error ``|pred − target|² / |target|²`` is smallest
    for a guess below the likely level, and such a net under-lights every image, which makes
    the albedo computed from its shading too bright. A log ratio is symmetric: twice too bright
    costs what half does.
    """
    gain = torch.tensor(SH_BAND_GAIN, dtype=pred.dtype).repeat_interleave(3)
    pred_seen, target_seen = pred * gain, target * gain
    pred_norm = pred_seen.norm(dim=1).clamp(min=1e-4)
    target_norm = target_seen.norm(dim=1).clamp(min=1e-4)
    level = (pred_norm.log() - target_norm.log()).pow(2)
    shape = (pred_seen / pred_norm[:, None]
             - target_seen / target_norm[:, None]).pow(2).sum(dim=1)
    return (level + shape).mean()


class MapNet(nn.Module):
    """A ``LightUNet`` over named input groups, with a bounded head: DiffuseNet (softplus, the
    diffuse render) and SpecularNet (sigmoid, roughness and F0 scaled to their ranges)."""

    def __init__(self, in_channels: int, out_channels: int, head: str,
                 scale=(1.0,), widths=(16, 32, 64, 96)):
        super().__init__()
        self.unet = LightUNet(in_channels, out_channels, widths)
        self.stride = self.unet.stride
        self.head = head
        self.register_buffer("scale", torch.tensor(scale, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, *groups):
        raw = self.unet(torch.cat(groups, dim=1))
        bounded = F.softplus(raw) if self.head == "softplus" else torch.sigmoid(raw)
        return bounded * self.scale


def diffuse_net(widths=(16, 32, 64, 96)) -> MapNet:
    """(rgb sRGB, diffuse shading E/π) → diffuse render; albedo = render / shading."""
    return MapNet(6, 3, "softplus", widths=widths)


def albedo_net(widths=(16, 32, 64, 96)) -> MapNet:
    """The comparison to DiffuseNet: the same inputs and net, predicting albedo directly
    (sigmoid, in [0, 1])."""
    return MapNet(6, 3, "sigmoid", widths=widths)


def specular_net(widths=(16, 32, 64, 96)) -> MapNet:
    """(rgb sRGB, normal, albedo) → roughness in [0, 1], F0 in [0, 0.16]."""
    return MapNet(9, 2, "sigmoid", scale=(1.0, 0.16), widths=widths)


def masked_l1(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    weight = mask.unsqueeze(1) / torch.clamp(mask.sum() * pred.shape[1], min=1.0)
    return ((pred - target).abs() * weight).sum()


class RenderNet(nn.Module):
    """(Cook-Torrance render, normal, albedo, roughness+F0, matte, source sRGB) → refined relit
    linear RGB. The net predicts a correction in log space on top of the render, so an untrained
    net starts from Cook-Torrance, and the output stays positive."""

    IN = 3 + 3 + 3 + 2 + 1 + 3

    def __init__(self, widths=(16, 32, 64, 96)):
        super().__init__()
        self.unet = LightUNet(self.IN, 3, widths)
        self.stride = self.unet.stride

    def forward(self, render, normal, albedo, specular, alpha, rgb):
        log_render = torch.log(render.clamp(min=0) + 1.0)
        inputs = torch.cat([log_render, normal, albedo, specular, alpha, rgb], 1)
        # exp(.) - 1 rather than expm1: ONNX opset 17 has no expm1
        return (torch.exp(log_render + self.unet(inputs)) - 1.0).clamp(min=0)


class PatchDiscriminator(nn.Module):
    """A small PatchGAN on log-radiance: is this 16×16-ish patch a Cycles render?"""

    def __init__(self, widths=(16, 32, 64)):
        super().__init__()
        layers, channels = [], 3
        for width in widths:
            layers += [nn.Conv2d(channels, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
            channels = width
        layers.append(nn.Conv2d(channels, 1, 3, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, rgb):
        return self.net(torch.log1p(rgb.clamp(min=0)))


def _grad(image):
    """The vertical and horizontal forward differences of ``image``."""
    return image[..., 1:, :] - image[..., :-1, :], image[..., :, 1:] - image[..., :, :-1]


def ssim_loss(pred, target, mask):
    """1 − SSIM on log radiance (3×3 box windows), inside the mask; windows at its edge see
    black beyond it in both images, never what lies outside."""
    weight = mask.unsqueeze(1)
    log_pred = torch.log1p(pred.clamp(min=0)) * weight
    log_target = torch.log1p(target.clamp(min=0)) * weight
    mu_pred, mu_target = F.avg_pool2d(log_pred, 3, 1, 1), F.avg_pool2d(log_target, 3, 1, 1)
    var_pred = F.avg_pool2d(log_pred * log_pred, 3, 1, 1) - mu_pred ** 2
    var_target = F.avg_pool2d(log_target * log_target, 3, 1, 1) - mu_target ** 2
    cov = F.avg_pool2d(log_pred * log_target, 3, 1, 1) - mu_pred * mu_target
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    ssim = ((2 * mu_pred * mu_target + c1) * (2 * cov + c2)) / (
        (mu_pred ** 2 + mu_target ** 2 + c1) * (var_pred + var_target + c2))
    return ((1 - ssim) * weight).sum() / torch.clamp(weight.sum() * 3, min=1.0)


def render_losses(pred, target, specular_weight, mask, fake_logits=None) -> dict:
    """The patent's terms: reconstruction (L1), perceptual (SSIM + gradient L1 on log radiance:
    no pretrained VGG can be downloaded, and these two see structure and edges the way a
    feature loss would), specular-weighted L1, and adversarial (hinge, generator side)."""
    weight = mask.unsqueeze(1)
    norm = torch.clamp(weight.sum() * 3, min=1.0)
    l1 = ((pred - target).abs() * weight).sum() / norm
    # inside the mask only: the frame's background is not RenderNet's to paint (the pipeline
    # multiplies its output by the matte)
    log_pred = torch.log1p(pred.clamp(min=0)) * weight
    log_target = torch.log1p(target.clamp(min=0)) * weight
    grad = sum(((grad_pred - grad_target).abs()).mean()
               for grad_pred, grad_target in zip(_grad(log_pred), _grad(log_target)))
    spec = ((pred - target).abs() * weight * (1 + 4 * specular_weight)).sum() / norm
    out = {"l1": l1, "perceptual": ssim_loss(pred, target, mask) + grad, "specular": spec}
    if fake_logits is not None:
        out["adversarial"] = -fake_logits.mean()
    return out
