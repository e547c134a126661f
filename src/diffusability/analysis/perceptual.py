"""Image-quality metrics: PSNR, SSIM and (when its backbone weights are on disk) LPIPS."""
from __future__ import annotations

import functools
import os
from pathlib import Path

import torch
import torch.nn.functional as F

# torchvision's AlexNet weights, which the `lpips` package loads through torch.hub; we never download them.
_ALEXNET_FILE = "alexnet-owt-7be5be79.pth"


def psnr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB of images in [-1, 1] (peak-to-peak 2)."""
    mse = (x.float() - y.float()).square().flatten(1).mean(1)
    return 10.0 * torch.log10(4.0 / mse.clamp_min(1e-12))


@functools.lru_cache(maxsize=8)
def _gaussian_window(size: int, sigma: float) -> torch.Tensor:
    g = torch.exp(-((torch.arange(size, dtype=torch.float64) - (size - 1) / 2) ** 2) / (2 * sigma**2))
    g = (g / g.sum()).float()
    return (g[:, None] * g[None, :])[None, None]


def ssim(x: torch.Tensor, y: torch.Tensor, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Per-image SSIM (Wang et al. 2004; Gaussian 11x11 window, sigma 1.5) of images in [-1, 1], 'valid' region."""
    x = (x.float() + 1) / 2
    y = (y.float() + 1) / 2
    window = min(window, x.shape[-1], x.shape[-2])
    c = x.shape[1]
    w = _gaussian_window(window, sigma).to(x.device).expand(c, 1, window, window)
    filt = functools.partial(F.conv2d, weight=w, groups=c)
    mx, my = filt(x), filt(y)
    sxx, syy, sxy = filt(x * x) - mx**2, filt(y * y) - my**2, filt(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx**2 + my**2 + c1) * (sxx + syy + c2))
    return s.flatten(1).mean(1)


def lpips_weights_present() -> bool:
    hub = Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch")) / "hub" / "checkpoints"
    return (hub / _ALEXNET_FILE).exists()


@functools.lru_cache(maxsize=1)
def load_lpips():
    """The LPIPS(alex) network, or None when its backbone weights are not on disk (the offline default)."""
    if not lpips_weights_present():
        return None
    try:
        import lpips
    except ImportError:
        return None
    net = lpips.LPIPS(net="alex", verbose=False).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net
