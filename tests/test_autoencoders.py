"""AE presets on diffusers AutoencoderKL, and loading FLUX.1-format weights from a local folder."""
import pytest
import torch
from omegaconf import OmegaConf

from diffusability.models.autoencoders import (autoencoder_from_config, build_autoencoder,
                                               load_pretrained_autoencoder)


@pytest.mark.parametrize("channels", [4, 8, 16, 32, 64])
def test_tiny_preset_latent_shape(channels):
    ae = build_autoencoder("tiny", channels, 4).eval()
    with torch.no_grad():
        post = ae.encode(torch.zeros(2, 3, 32, 32)).latent_dist
        assert post.mean.shape == (2, channels, 8, 8)
        assert ae.decode(post.mean).sample.shape == (2, 3, 32, 32)


def test_flux_preset_matches_flux1_ae():
    ae = build_autoencoder("flux", 16, 8)
    n = sum(p.numel() for p in ae.parameters())
    assert abs(n - 83_819_683) / 83_819_683 < 1e-3  # FLUX.1 AE parameter count
    assert ae.config.block_out_channels == (128, 256, 512, 512) and not ae.config.use_quant_conv
    assert ae.config.scaling_factor == pytest.approx(0.3611)


def test_flux_loads_from_local_folder_with_vae_subfolder(tmp_path):
    torch.manual_seed(0)
    stand_in = build_autoencoder("flux", 16, 8)  # random-initialised stand-in of the real architecture
    stand_in.save_pretrained(tmp_path / "FLUX.1-dev" / "vae")
    cfg = OmegaConf.create({"preset": "flux", "latent_channels": 16, "compression": 8,
                            "pretrained": str(tmp_path / "FLUX.1-dev"), "subfolder": None, "allow_download": False})
    ae = autoencoder_from_config(cfg)
    for (k, a), b in zip(stand_in.state_dict().items(), ae.state_dict().values()):
        assert torch.equal(a, b), k
    cfg.latent_channels = 32
    with pytest.raises(ValueError, match="has 16 latent channels"):
        autoencoder_from_config(cfg)


def test_missing_pretrained_is_one_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no diffusers config.json"):
        load_pretrained_autoencoder(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="local cache"):
        load_pretrained_autoencoder("black-forest-labs/not-in-cache")


def test_unknown_preset():
    with pytest.raises(ValueError, match="unknown model.preset 'vqgan'"):
        build_autoencoder("vqgan", 4, 4)
