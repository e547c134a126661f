"""Inception Score and precision/recall: the optional extra columns of a DiT's scores (config key
`dit.extra_metrics`, a list of `isc` and `prc`; issue 17, section 3), beside the Fréchet distance.

- `isc`, the Inception Score (Salimans et al. 2016), exp(E_x KL(p(y|x) || p(y))) from the class logits of the
  feature network, as ADM's evaluator reports it (guided-diffusion `evaluations/evaluator.py`): the mean over 10
  contiguous splits of the sample set (ADM: splits of 5000 of 50K; torch-fidelity shuffles first; our samples are in
  random order already, their noise and labels being drawn per index). Inception's logits are torch-fidelity's
  `logits_unbiased` (1008 classes, no bias: the TF graph both evaluators read). With the offline proxy network the
  logits are its class head's (photos / dataset classes) and the column is `isc_proxy`, never `isc`. A video feature
  space has no IS here: the video IS of the literature (TGAN) uses a C3D trained on UCF-101, which this suite does not
  ship, so `isc` is skipped for video DiTs with one logged sentence (our choice).
- `prc`, improved precision and recall (Kynkäänniemi et al. 2019): a generated sample counts for precision when it
  lies within the k-NN ball (k = 3, as ADM's evaluator and torch-fidelity) of some reference sample, a reference
  sample for recall when it lies within the ball of some generated one. Columns `precision`, `recall` (`*_proxy` with
  the proxy networks).

Memory: IS streams as running float64 sums per split (count, sum of p log p, sum of p), which shards add up exactly.
Precision/recall are k-NN statistics of both whole sets: they need every feature vector of the samples and of the
reference (N x D float32 each, by definition of the metric), and nothing more: distances are computed in row blocks
(`PRC_BLOCK` rows against a whole set at a time), never as the full N x M matrix.
"""
from __future__ import annotations

import logging

import numpy as np
import torch

__all__ = ["EXTRA_METRICS", "EXTRA_COLUMNS", "ISC_SPLITS", "PRC_NEIGHBOURS", "isc_logits_layer", "extra_metric_names",
           "InceptionScoreSums", "knn_radii", "precision_recall", "SampleExtras"]

log = logging.getLogger(__name__)

EXTRA_METRICS = ("isc", "prc")  # what dit.extra_metrics may list
ISC_SPLITS = 10                 # ADM's evaluator (10 x 5000 of 50K) and torch-fidelity's isc_splits
PRC_NEIGHBOURS = 3              # k of the k-NN balls: Kynkäänniemi et al., ADM's evaluator, torch-fidelity
PRC_BLOCK = 1024                # rows per block of the distance computation: block x N float64 at a time
PROXY_KINDS = ("proxy", "video_proxy")
# Every column the extra metrics can add to generation.csv (all: higher is better).
EXTRA_COLUMNS = tuple(f"{m}{s}" for m in ("isc", "precision", "recall") for s in ("", "_proxy"))
_SKIP_LOGGED: set[str] = set()  # feature spaces whose IS skip was logged (once per job)

# The feature layer whose output are IS class logits, per feature space (None: no IS in that space).
_ISC_LAYERS = {"inception": "logits_unbiased", "proxy": "logits", "i3d": None, "i3d_torchscript": None,
               "video_proxy": None}


def check_extra_metrics(metrics) -> tuple[str, ...]:
    metrics = tuple(metrics or ())
    bad = [m for m in metrics if m not in EXTRA_METRICS]
    if bad:
        raise ValueError(f"config key dit.extra_metrics lists {', '.join(map(repr, bad))}; use any of "
                         f"{', '.join(EXTRA_METRICS)}")
    return metrics


def isc_logits_layer(kind: str) -> str | None:
    """The layer of feature space `kind` that gives IS class logits, or None where this suite has no IS."""
    return _ISC_LAYERS[kind]


def extra_metric_names(kind: str, metrics) -> list[str]:
    """The columns that `metrics` (a subset of EXTRA_METRICS) add in feature space `kind`."""
    suffix = "_proxy" if kind in PROXY_KINDS else ""
    names = []
    for m in check_extra_metrics(metrics):
        if m == "isc" and isc_logits_layer(kind) is not None:
            names.append("isc" + suffix)
        elif m == "prc":
            names += ["precision" + suffix, "recall" + suffix]
    return names


class InceptionScoreSums:
    """Running float64 sums of the Inception Score of a set of `num_total` samples, per contiguous split by sample
    index: sample i belongs to split s when s*N//splits <= i < (s+1)*N//splits (torch-fidelity's bounds). A shard
    folds in its samples with their global indices, so the sums of all shards add up to one pass's."""

    def __init__(self, num_total: int, num_classes: int, splits: int = ISC_SPLITS):
        self.num_total, self.num_classes, self.splits = int(num_total), int(num_classes), int(splits)
        if self.num_total < self.splits:
            raise ValueError(f"an Inception Score over {self.splits} splits needs at least {self.splits} samples, "
                             f"the set has {self.num_total}")
        self.bounds = torch.tensor([s * self.num_total // self.splits for s in range(self.splits + 1)])
        self.count = torch.zeros(self.splits, dtype=torch.int64)
        self.plogp = torch.zeros(self.splits, dtype=torch.float64)  # sum over samples of sum_y p log p
        self.p = torch.zeros(self.splits, self.num_classes, dtype=torch.float64)  # sum over samples of p(y|x)

    def update(self, logits: torch.Tensor, start: int) -> None:
        """Fold in the class logits (B, C) of samples start .. start+B-1 of the set."""
        logits = logits.detach().to("cpu", torch.float64)
        idx = torch.arange(int(start), int(start) + len(logits))
        if len(idx) and (idx[0] < 0 or idx[-1] >= self.num_total):
            raise ValueError(f"samples {idx[0]}..{idx[-1]} are outside the set of {self.num_total}")
        split = torch.searchsorted(self.bounds, idx, right=True) - 1
        logp = logits.log_softmax(1)
        p = logp.exp()
        self.count.index_add_(0, split, torch.ones_like(split))
        self.plogp.index_add_(0, split, (p * logp).sum(1))
        self.p.index_add_(0, split, p)

    def merge(self, other: InceptionScoreSums) -> InceptionScoreSums:
        if (other.num_total, other.num_classes, other.splits) != (self.num_total, self.num_classes, self.splits):
            raise ValueError("cannot merge Inception Score sums of different sets, classes or splits")
        out = InceptionScoreSums(self.num_total, self.num_classes, self.splits)
        out.count, out.plogp, out.p = self.count + other.count, self.plogp + other.plogp, self.p + other.p
        return out

    def scores(self) -> np.ndarray:
        """exp(E KL(p(y|x) || p(y))) of each split: E[sum_y p log p] - sum_y q log q, q the split's mean p."""
        expect = (self.bounds[1:] - self.bounds[:-1])
        if not torch.equal(self.count, expect):
            raise ValueError(f"the Inception Score sums hold {int(self.count.sum())} of the {self.num_total} samples "
                             "(a shard is missing or was added twice)")
        n = self.count.double()
        q = self.p / n[:, None]
        return torch.exp(self.plogp / n - torch.xlogy(q, q).sum(1)).numpy()

    def score(self) -> float:
        """The Inception Score: the mean over splits (what ADM's evaluator and DiT report)."""
        return float(np.mean(self.scores()))

    def state(self) -> dict[str, torch.Tensor]:
        return {"isc_num_total": torch.tensor([self.num_total]), "isc_count": self.count, "isc_plogp": self.plogp,
                "isc_p": self.p}

    @classmethod
    def from_state(cls, t: dict[str, torch.Tensor]) -> InceptionScoreSums:
        out = cls(int(t["isc_num_total"][0]), t["isc_p"].shape[1], len(t["isc_count"]))
        out.count, out.plogp, out.p = t["isc_count"].clone(), t["isc_plogp"].double(), t["isc_p"].double()
        return out


def _sq_dists(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances (A, B) in float64, |a|^2 + |b|^2 - 2 a.b, clamped at 0 (ADM's formula)."""
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return d.clamp_min_(0.0)


def knn_radii(features: torch.Tensor, k: int = PRC_NEIGHBOURS, block: int = PRC_BLOCK) -> torch.Tensor:
    """Squared distance of each feature vector to its k-th nearest neighbour in the same set (itself excluded)."""
    x = features.double()
    if len(x) <= k:
        raise ValueError(f"k-NN balls with k={k} need more than {k} feature vectors, got {len(x)}")
    return torch.cat([_sq_dists(x[i:i + block], x).kthvalue(k + 1, dim=1).values for i in range(0, len(x), block)])


def _covered(query: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, block: int) -> torch.Tensor:
    """For each query vector: does it lie within some centre's ball (distance <= that centre's radius)?"""
    q, c = query.double(), centres.double()
    return torch.cat([(_sq_dists(q[i:i + block], c) <= radii[None, :]).any(1) for i in range(0, len(q), block)])


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = PRC_NEIGHBOURS, block: int = PRC_BLOCK,
                     device: str | torch.device = "cpu") -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) of generated features `fake` (N, D) against reference
    features `real` (M, D); float64 distances on `device`, `block` rows at a time."""
    real, fake = real.to(device), fake.to(device)
    precision = _covered(fake, real, knn_radii(real, k, block), block).double().mean()
    recall = _covered(real, fake, knn_radii(fake, k, block), block).double().mean()
    return float(precision), float(recall)


class SampleExtras:
    """What the extra metrics need of a sample set, or of one shard of it: Inception Score sums (`isc`) and the
    features themselves (`prc`). Fed by a FeatureStream (metrics/frechet.py), saved beside a shard's Fréchet sums
    (`state`) and merged from the shards (`merge_states`)."""

    def __init__(self, *, kind: str, metrics, num_total: int):
        self.kind, self.metrics, self.num_total = kind, check_extra_metrics(metrics), int(num_total)
        self.isc_layer = isc_logits_layer(kind) if "isc" in self.metrics else None
        if "isc" in self.metrics and self.isc_layer is None and kind not in _SKIP_LOGGED:
            _SKIP_LOGGED.add(kind)
            log.info("dit.extra_metrics asks for isc, but the %s feature space has no Inception Score here (the video "
                     "IS of the literature needs TGAN's C3D on UCF-101): isc is skipped", kind)
        self.isc: InceptionScoreSums | None = None
        self.features: list[torch.Tensor] | None = [] if "prc" in self.metrics else None

    def update(self, features: torch.Tensor, logits: torch.Tensor | None, start: int) -> None:
        """Fold in one batch: its features (B, D), its class logits (B, C) when IS is on, its first sample's index."""
        if self.isc_layer is not None:
            if self.isc is None:
                self.isc = InceptionScoreSums(self.num_total, logits.shape[1])
            self.isc.update(logits, start)
        if self.features is not None:
            self.features.append(features.detach().to("cpu", torch.float32))

    def state(self) -> dict[str, torch.Tensor]:
        out = dict(self.isc.state()) if self.isc is not None else {}
        if self.features is not None:
            out["prc_features"] = torch.cat(self.features) if self.features else torch.empty(0)
        return out

    @classmethod
    def merge_states(cls, states: list[dict[str, torch.Tensor]], *, kind: str, metrics, num_total: int):
        """The extras of a whole set from the saved states of its shards."""
        out = cls(kind=kind, metrics=metrics, num_total=num_total)
        for t in states:
            if out.isc_layer is not None:
                if "isc_p" not in t:
                    raise ValueError("a sample shard holds no Inception Score sums: it was scored without isc")
                part = InceptionScoreSums.from_state(t)
                out.isc = part if out.isc is None else out.isc.merge(part)
            if out.features is not None:
                if "prc_features" not in t:
                    raise ValueError("a sample shard holds no features: it was scored without prc")
                out.features.append(t["prc_features"].float())
        return out

    def scores(self, reference_features: torch.Tensor | None = None, device: str | torch.device = "cpu") -> dict:
        """{column: value} of the extra metrics (names from extra_metric_names)."""
        suffix = "_proxy" if self.kind in PROXY_KINDS else ""
        out = {}
        if self.isc is not None:
            out["isc" + suffix] = self.isc.score()
        if self.features is not None:
            if reference_features is None:
                raise ValueError("precision/recall need the reference set's features")
            out["precision" + suffix], out["recall" + suffix] = precision_recall(
                reference_features, torch.cat(self.features), device=device)
        return out
