"""An offline stand-in for Inception features: a small CNN trained inside the DAG on the reference data.

Without the FID Inception weights (none ship in any wheel here), a Fréchet distance needs some feature space that
knows natural images; a randomly initialised network does not (it scores real vs noise as near-identical). This
network is trained to tell the training photos (or the ImageNet classes) apart, and its penultimate layer is the
feature space. Distances in it are labelled `fd_proxy` / `rfid_proxy` everywhere, never FID.

The video variant (3-D convolutions, for `fvd_proxy` in place of FVD's I3D) sees each clip with its frame-to-frame
differences as three more input channels, classifies the training shot and, as a second head, whether the frames
were shuffled, so that its features also measure motion (our choice).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from ..provenance import save_tensors
from ..runtime import stream_generator

log = logging.getLogger(__name__)


class ProxyFeatureNet(nn.Module):
    """Four stride-2 conv stages, global average pooling, a `feature_dim` embedding, and a class head.
    video=True: 3-D convolutions (time strided in the last two stages) and a frame-order head."""

    def __init__(self, num_classes: int, feature_dim: int = 64, width: int = 32, video: bool = False):
        super().__init__()
        chans = [6 if video else 3, width, 2 * width, 4 * width, 4 * width]
        layers = []
        for i, (cin, cout) in enumerate(zip(chans[:-1], chans[1:])):
            conv = (nn.Conv3d(cin, cout, 3, stride=(1 if i < 2 else 2, 2, 2), padding=1) if video
                    else nn.Conv2d(cin, cout, 3, stride=2, padding=1))
            layers += [conv, nn.GroupNorm(8, cout), nn.SiLU()]
        self.video = video
        self.body = nn.Sequential(*layers)
        self.embed = nn.Linear(chans[-1], feature_dim)
        self.head = nn.Linear(feature_dim, num_classes)
        self.order_head = nn.Linear(feature_dim, 2) if video else None

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x in [-1, 1], (N, 3, H, W) or (N, 3, T, H, W) for video -> (N, feature_dim)."""
        if self.video:  # motion made explicit: the difference to the previous frame (zero for the first)
            x = torch.cat([x, torch.cat([torch.zeros_like(x[:, :, :1]), x.diff(dim=2)], 2)], 1)
        h = self.body(x)
        return self.embed(h.mean(tuple(range(2, h.ndim))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(F.silu(self.features(x)))


def train_proxy_net(dataset, num_classes: int, steps: int, batch_size: int, lr: float, feature_dim: int,
                    seed: int, out_path: str | Path) -> dict:
    """Train the proxy classifier on (image, label) samples; save weights (safetensors) and a JSON sidecar."""
    from ..data import StepBatchSampler
    torch.manual_seed(seed)
    video = dataset[0][0].ndim == 4
    net = ProxyFeatureNet(num_classes, feature_dim, video=video)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    loader = torch.utils.data.DataLoader(dataset, batch_sampler=StepBatchSampler(batch_size, 0, steps))
    correct = seen = 0
    for step, (x, y) in enumerate(loader):
        if video:  # shuffle the frames of a seeded half of the batch; the order head must tell which
            gen = stream_generator(seed, step)
            shuffled = torch.rand(len(x), generator=gen) < 0.5
            x = x.clone()
            x[shuffled] = x[shuffled][:, :, torch.randperm(x.shape[2], generator=gen)]
        feats = F.silu(net.features(x))
        logits = net.head(feats)
        loss = F.cross_entropy(logits, y)
        if video:
            loss = loss + F.cross_entropy(net.order_head(feats), shuffled.long())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step >= steps - 50:
            correct += int((logits.argmax(1) == y).sum())
            seen += len(y)
        if (step + 1) % 50 == 0:
            log.info("proxy step %d loss %.4f", step + 1, loss.item())
    meta = {"num_classes": num_classes, "feature_dim": feature_dim, "steps": steps, "video": video,
            "train_accuracy_last50": correct / max(1, seen), "seed": seed}
    save_tensors(out_path, net.state_dict(), metadata={"meta": json.dumps(meta)})
    return meta


def load_proxy_net(path: str | Path) -> ProxyFeatureNet:
    from safetensors import safe_open
    with safe_open(str(path), "pt") as f:
        meta = json.loads(f.metadata()["meta"])
    net = ProxyFeatureNet(meta["num_classes"], meta["feature_dim"], video=bool(meta.get("video", False)))
    net.load_state_dict(load_file(str(path)))
    return net.eval().requires_grad_(False)
