"""The autoencoder's training objective: L1 + L2 (+ LPIPS when present) reconstruction and a KL term."""
from __future__ import annotations

import torch

from ..analysis.perceptual import load_lpips


class ReconstructionLoss(torch.nn.Module):
    """weight_l1 * |x - y| + weight_l2 * (x - y)^2 (+ weight_lpips * LPIPS), averaged over pixels and batch.

    The same mixture is reused by the scale-equivariance term, as in the authors' code.
    """

    def __init__(self, l1: float, l2: float, lpips: float):
        super().__init__()
        self.l1, self.l2 = l1, l2
        self.lpips_net = load_lpips() if lpips > 0 else None
        self.lpips = lpips if self.lpips_net is not None else 0.0

    def forward(self, recon: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        diff = recon - target
        terms = {"l1": diff.abs().mean(), "l2": diff.square().mean()}
        total = self.l1 * terms["l1"] + self.l2 * terms["l2"]
        if self.lpips_net is not None:
            self.lpips_net.to(recon.device)
            terms["lpips"] = self.lpips_net(recon, target).mean()
            total = total + self.lpips * terms["lpips"]
        terms["recon"] = total
        return terms


def kl_per_pixel(posterior, num_pixels: int) -> torch.Tensor:
    """KL(q(z|x) || N(0, I)) summed over latent elements, divided by the image's pixel count, batch-averaged.

    This is LDM's convention (KL summed, reconstruction summed over pixels) rescaled by the same pixel count as our
    mean-reduced reconstruction loss, so a KL weight such as 1e-6 means what it means in LDM/FLUX-style recipes.
    """
    return posterior.kl().mean() / num_pixels
