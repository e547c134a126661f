"""Any diffusers autoencoder, by its `config.json` `_class_name`: load it, read its geometry, form its latents the way
its diffusion pipeline does (issue 19: "how diffusable is my autoencoder?", paper Sec. 2-3, Figs. 2, 5).

The paper studies FluxAE, CogVideoX-AE, LTX-AE and the Cosmos tokenizer; diffusers ships those and many more. For
each supported class this module knows three things, all read from the class's own code in diffusers 0.42:

- image or video (Qwen-Image's AE is a causal video network used on single frames: an image AE here);
- spatial / temporal compression and latent channels, as the class computes them from its config (causal video AEs
  map 1 + k*t frames to 1 + k latent frames; Mochi's is the same shape rule with t = 6);
- how the pipeline turns the encoder output z into the latent the diffusion model is trained on:
  SD/SD3/FLUX.1 (AutoencoderKL) (z - shift_factor) * scaling_factor, or SDXL-style (z - mean) * scaling / std when
  the config has latents_mean/std; Sana (DC), CogVideoX, HunyuanVideo z * scaling_factor; Wan, Qwen-Image
  (z - latents_mean) / latents_std per channel; LTX the same with its stored buffers and scaling_factor; Mochi
  (z - mean) * scaling / std; Cosmos (z - mean) / std per channel and latent frame (the pipeline's extra sigma_data
  is a scheduler constant, one global scale, which no normalised spectrum or HF share sees); FLUX.2 patchifies z
  2x2 and normalises it with the running statistics of the AE's BatchNorm; we undo the patchify afterwards, so the
  spectrum is of the AE's native latent grid, as for FLUX.1 whose transformer also packs 2x2 patches.

Nothing is downloaded: a hub id must already be in the local Hugging Face cache. Weights load as safetensors only.
A folder that holds no autoencoder, or whose config cannot be read, raises `NotAnAutoencoderError`: one sentence
naming the folder.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from ..presets import ae_compression

__all__ = ["NotAnAutoencoderError", "ZooSpec", "ZooAutoencoder", "SUPPORTED_CLASSES", "resolve_source",
           "read_spec", "load_zoo_autoencoder"]


class NotAnAutoencoderError(ValueError):
    """The source names no loadable, supported autoencoder; the message is one sentence naming it."""


def _kl(c):  # AutoencoderKL and FLUX.2's: one 2x downsampling between consecutive block widths
    return ae_compression(c["block_out_channels"]), 1, int(c["latent_channels"])


def _dc(c):
    return ae_compression(c["encoder_block_out_channels"]), 1, int(c["latent_channels"])


def _qwen(c):  # one 2x spatial downsampling per entry of temperal_downsample (its spatial_compression_ratio)
    return 2 ** len(c.get("temperal_downsample", [False, True, True])), 1, int(c.get("z_dim", 16))


def _cogvideox(c):
    temporal = int(c.get("temporal_compression_ratio", 4))
    return ae_compression(c["block_out_channels"]), temporal, int(c["latent_channels"])


def _ltx(c):  # LTXVideo's __init__: patch * 2^(scaling stages) unless the config states the ratios
    stages = sum(bool(s) for s in c.get("spatio_temporal_scaling", (True, True, True, False)))
    spatial = c.get("spatial_compression_ratio") or int(c.get("patch_size", 4)) * 2 ** stages
    temporal = c.get("temporal_compression_ratio") or int(c.get("patch_size_t", 1)) * 2 ** stages
    return int(spatial), int(temporal), int(c.get("latent_channels", 128))


def _wan(c):  # scale_factor_* are informational: the network downsamples per dim_mult / temperal_downsample
    patch = int(c.get("patch_size") or 1)
    return (ae_compression(c.get("dim_mult", [1, 2, 4, 4])) * patch,
            2 ** sum(bool(t) for t in c.get("temperal_downsample", [False, True, True])), int(c.get("z_dim", 16)))


def _hunyuan(c):
    return int(c.get("spatial_compression_ratio", 8)), int(c.get("temporal_compression_ratio", 4)), \
        int(c.get("latent_channels", 16))


def _mochi(c):
    return math.prod(c.get("spatial_expansions", (2, 2, 2))), math.prod(c.get("temporal_expansions", (1, 2, 3))), \
        int(c.get("latent_channels", 12))


def _cosmos(c):  # CosmosEncoder3d: the patch, then at most len(widths) - 2 downsampling levels
    patch, levels = int(c.get("patch_size", 4)), len(c.get("encoder_block_out_channels", (128, 256, 512, 512))) - 2
    lp = int(math.log2(patch))
    s = patch * 2 ** min(int(math.log2(c.get("spatial_compression_ratio", 8))) - lp, levels)
    t = patch * 2 ** min(int(math.log2(c.get("temporal_compression_ratio", 8))) - lp, levels)
    return s, t, int(c.get("latent_channels", 16))


# class name -> (kind, geometry from config, latent normalisation)
SUPPORTED_CLASSES = {
    "AutoencoderKL": ("image", _kl, "kl"),
    "AutoencoderKLFlux2": ("image", _kl, "flux2_bn"),
    "AutoencoderDC": ("image", _dc, "scale"),
    "AutoencoderKLQwenImage": ("image", _qwen, "mean_std"),
    "AutoencoderKLCogVideoX": ("video", _cogvideox, "scale"),
    "AutoencoderKLLTXVideo": ("video", _ltx, "ltx_buffers"),
    "AutoencoderKLWan": ("video", _wan, "mean_std"),
    "AutoencoderKLHunyuanVideo": ("video", _hunyuan, "scale"),
    "AutoencoderKLMochi": ("video", _mochi, "mean_std_scaled"),
    "AutoencoderKLCosmos": ("video", _cosmos, "mean_std_frames"),
}


@dataclass(frozen=True)
class ZooSpec:
    """What an autoencoder is, read from its config alone (no weights loaded)."""
    name: str              # the folder or hub id as given
    class_name: str
    kind: str              # image | video
    spatial: int           # spatial compression
    temporal: int          # temporal compression (1 for image AEs)
    latent_channels: int
    folder: str            # the local folder its config.json is in
    subfolder: str | None  # "vae" when the source is a whole pipeline

    def columns(self) -> dict:
        """The identifying columns every tidy row about this AE carries."""
        return {"ae": self.name, "ae_class": self.class_name, "kind": self.kind,
                "spatial_compression": self.spatial, "temporal_compression": self.temporal,
                "latent_channels": self.latent_channels}


def resolve_source(source: str | Path) -> tuple[Path, str | None]:
    """(folder, subfolder) of an AE: a local diffusers folder (or a pipeline folder with `vae/`), or a hub id's
    snapshot in the local cache (never downloaded)."""
    path = Path(source).expanduser()
    if not path.exists():
        text = str(source)
        if text.count("/") != 1 or text.startswith((".", "/", "~")):
            raise NotAnAutoencoderError(f"{source} is neither an existing folder nor a hub id (owner/name)")
        from huggingface_hub import snapshot_download
        try:
            path = Path(snapshot_download(text, local_files_only=True))
        except OSError as err:  # LocalEntryNotFoundError is one
            raise NotAnAutoencoderError(f"hub id {source} is not in the local Hugging Face cache, and this suite "
                                        f"never downloads ({type(err).__name__})") from err
    if (path / "config.json").is_file():
        return path, None
    if (path / "vae" / "config.json").is_file():
        return path, "vae"
    raise NotAnAutoencoderError(f"folder {source} has no config.json (nor vae/config.json), so it is not a diffusers "
                                "autoencoder folder")


def read_spec(source: str | Path) -> ZooSpec:
    """The ZooSpec of an AE folder or cached hub id, from its config.json alone."""
    folder, sub = resolve_source(source)
    cfg_file = folder / (sub or "") / "config.json"
    try:
        cfg = json.loads(cfg_file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise NotAnAutoencoderError(f"folder {source}: {cfg_file.name} cannot be read as JSON "
                                    f"({str(err).rstrip('.')})") from err
    name = cfg.get("_class_name") if isinstance(cfg, dict) else None
    if name is None:
        raise NotAnAutoencoderError(f"folder {source}: its config.json names no _class_name, so it is not a saved "
                                    "diffusers model")
    if name not in SUPPORTED_CLASSES:
        what = "an autoencoder this suite does not support" if name.startswith(("Autoencoder", "VQ")) \
            else "not an autoencoder"
        raise NotAnAutoencoderError(f"folder {source} holds a {name}, {what} (supported: "
                                    f"{', '.join(SUPPORTED_CLASSES)})")
    kind, geometry, _ = SUPPORTED_CLASSES[name]
    try:
        spatial, temporal, channels = geometry(cfg)
    except (KeyError, TypeError, ValueError) as err:
        raise NotAnAutoencoderError(f"folder {source}: its {name} config.json lacks or mangles {err} "
                                    "(compression cannot be read)") from err
    return ZooSpec(str(source), name, kind, int(spatial), int(temporal) if kind == "video" else 1, int(channels),
                   str(folder), sub)


class ZooAutoencoder:
    """A loaded AE and its spec: `posterior(x)`, `normalise(z)` / `denormalise(z)` (the pipeline's latent scaling)
    and `decode(z)`, on images (N, 3, H, W) or clips (N, 3, T, H, W) in [-1, 1]."""

    def __init__(self, ae, spec: ZooSpec):
        self.ae, self.spec = ae, spec
        self._norm = SUPPORTED_CLASSES[spec.class_name][2]
        # Qwen-Image's AE is a video network: an image passes through it as a one-frame clip
        self._frame_axis = spec.class_name == "AutoencoderKLQwenImage"

    @property
    def device(self):
        return next(self.ae.parameters()).device

    def posterior(self, x):
        """The encoder's distribution over raw latents: `.mode()` and `.sample(generator)` (DC: deterministic)."""
        from diffusers.models.autoencoders.vae import IdentityDistribution
        x = x.to(self.device, next(self.ae.parameters()).dtype)
        out = self.ae.encode(x[:, :, None] if self._frame_axis else x)
        dist = out.latent_dist if hasattr(out, "latent_dist") else IdentityDistribution(out.latent)
        if self._frame_axis:
            return _Squeezed(dist)
        return dist

    def decode(self, z):
        z = z.to(self.device, next(self.ae.parameters()).dtype)
        rec = self.ae.decode(z[:, :, None] if self._frame_axis else z).sample
        return (rec[:, :, 0] if self._frame_axis else rec).float()

    def _stats(self, z):
        """(mean, std, scale) broadcastable to z, such that latent = (z - mean) * scale / std."""
        import torch
        c, shape = self.ae.config, (1, -1) + (1,) * (z.ndim - 2)
        as_t = lambda v: torch.as_tensor(v, dtype=z.dtype, device=z.device).view(shape)  # noqa: E731
        if self._norm == "kl":
            if c.get("latents_mean") is not None and c.get("latents_std") is not None:
                return as_t(c.latents_mean), as_t(c.latents_std), c.scaling_factor
            return c.get("shift_factor") or 0.0, 1.0, c.scaling_factor
        if self._norm == "scale":
            return 0.0, 1.0, c.scaling_factor
        if self._norm == "mean_std":
            return as_t(c.latents_mean), as_t(c.latents_std), 1.0
        if self._norm == "mean_std_scaled":
            return as_t(c.latents_mean), as_t(c.latents_std), c.scaling_factor
        if self._norm == "ltx_buffers":
            return self.ae.latents_mean.to(z).view(shape), self.ae.latents_std.to(z).view(shape), c.scaling_factor
        if self._norm == "mean_std_frames":  # Cosmos: one (mean, std) per channel and latent frame
            if c.get("latents_mean") is None:
                return 0.0, 1.0, 1.0
            t = z.shape[2]
            view = lambda v: torch.as_tensor(v, dtype=z.dtype, device=z.device).view(  # noqa: E731
                1, c.latent_channels, -1, 1, 1)[:, :, :t]
            return view(c.latents_mean), view(c.latents_std), 1.0
        raise AssertionError(self._norm)

    def normalise(self, z):
        """The latent the diffusion model sees, from the encoder's raw z (see the module docstring)."""
        if self._norm == "flux2_bn":
            bn = self.ae.bn
            zp = _patchify(z)
            zp = (zp - bn.running_mean.to(z).view(1, -1, 1, 1)) / (bn.running_var.to(z).view(1, -1, 1, 1)
                                                                    + bn.eps).sqrt()
            return _unpatchify(zp)
        mean, std, scale = self._stats(z)
        return (z - mean) * scale / std

    def denormalise(self, latent):
        """Inverse of `normalise`: what the decoder takes."""
        if self._norm == "flux2_bn":
            bn = self.ae.bn
            zp = _patchify(latent)
            zp = zp * (bn.running_var.to(zp).view(1, -1, 1, 1) + bn.eps).sqrt() + bn.running_mean.to(zp).view(
                1, -1, 1, 1)
            return _unpatchify(zp)
        mean, std, scale = self._stats(latent)
        return latent * std / scale + mean


class _Squeezed:
    """A one-frame posterior seen as an image posterior."""

    def __init__(self, dist):
        self.dist = dist

    def mode(self):
        return self.dist.mode()[:, :, 0]

    def sample(self, generator=None):
        return self.dist.sample(generator=generator)[:, :, 0]


def _patchify(z):  # Flux2Pipeline._patchify_latents
    n, c, h, w = z.shape
    return z.view(n, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4).reshape(n, c * 4, h // 2, w // 2)


def _unpatchify(z):  # Flux2Pipeline._unpatchify_latents
    n, c, h, w = z.shape
    return z.reshape(n, c // 4, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3).reshape(n, c // 4, h * 2, w * 2)


def load_zoo_autoencoder(source: str | Path, *, device="cpu", dtype=None) -> ZooAutoencoder:
    """The AE at `source` (a local folder or a cached hub id), by its config's `_class_name`, in eval mode."""
    import diffusers
    import torch
    spec = read_spec(source)
    cls = getattr(diffusers, spec.class_name)
    try:
        ae = cls.from_pretrained(spec.folder, subfolder=spec.subfolder, local_files_only=True, use_safetensors=True,
                                 torch_dtype=dtype or torch.float32)
    except (OSError, EnvironmentError) as err:
        raise NotAnAutoencoderError(f"folder {source}: its {spec.class_name} weights cannot be loaded as "
                                    f"safetensors ({str(err).splitlines()[0].rstrip('.')})") from err
    for p in ae.parameters():
        p.requires_grad_(False)
    return ZooAutoencoder(ae.to(device).eval(), spec)
