"""The scale-equivariance term: zero where it must be, same factor for image and latent, a real fine-tune step."""
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from diffusability.dct import block_dct2
from diffusability.runconfig import run_config_by_hand
from diffusability.se import RESAMPLE_MODES, ScaleEquivariance, cut_pair, downsample
from diffusability.train.losses import ReconstructionLoss


class PoolingAE:
    """An identity-like AE of compression c: encoder = c x c average pooling, decoder = nearest upsampling."""

    def __init__(self, c):
        self.c = c

    def encode(self, x):
        return F.avg_pool2d(x, self.c)

    def decode(self, z):
        return SimpleNamespace(sample=F.interpolate(z, scale_factor=self.c, mode="nearest"))


def band_limited(n, cell, size, seed=0):
    """Images constant on cell x cell squares: no content above the band a cell-wide downsampling keeps."""
    g = torch.Generator().manual_seed(seed)
    # dyadic values, so that averaging equal values is exact in float32 and "zero" can mean exactly zero
    coarse = torch.randint(-8, 9, (n, 3, size // cell, size // cell), generator=g).float() / 8
    return F.interpolate(coarse, scale_factor=cell, mode="nearest")


@pytest.mark.parametrize("factor", [2, 4])
def test_se_loss_is_zero_for_identity_like_ae_on_band_limited_input(factor):
    c = 4
    ae = PoolingAE(c)
    x = band_limited(3, c * factor, 32)
    z = ae.encode(x)
    assert torch.equal(ae.decode(z).sample, x)  # the AE reconstructs this input exactly
    se = ScaleEquivariance(1.0, [factor], mode="area", compression=c)
    loss, metrics = se(ae=ae, x=x, z=z, step=0, recon_loss=ReconstructionLoss(1.0, 1.0, 0.0))
    assert loss.item() == 0.0 and metrics["se"] == 0.0
    # and it is not zero for an input with detail finer than the downsampled latent can hold
    x_hf = band_limited(3, c, 32, seed=1)
    loss_hf, _ = se(ae=ae, x=x_hf, z=ae.encode(x_hf), step=0, recon_loss=ReconstructionLoss(1.0, 1.0, 0.0))
    assert loss_hf.item() > 1e-3


def test_se_loss_is_zero_in_dct_mode_for_identity_ae():
    ae = PoolingAE(1)
    x = torch.randn(2, 3, 16, 16)
    se = ScaleEquivariance(1.0, [2], mode="dct_lowpass", compression=1, latent_block=8)
    loss, _ = se(ae=ae, x=x, z=ae.encode(x), step=0, recon_loss=ReconstructionLoss(1.0, 1.0, 0.0))
    assert loss.item() < 1e-12


@pytest.mark.parametrize("mode", [m for m in RESAMPLE_MODES if m != "random_cut"])  # the cutoff has no factor
@pytest.mark.parametrize("factor", [2, 4])
def test_each_mode_downsamples_image_and_latent_by_the_same_factor(mode, factor):
    c, b = 4, 8
    x, z = torch.randn(2, 3, 64, 64), torch.randn(2, 16, 16, 16)
    se = ScaleEquivariance(1.0, [factor], mode=mode, compression=c, latent_block=b)
    xs, zs = se.pair(x, z, factor)
    if mode == "dct_lowpass":
        # Same shape, same band: each keeps the lowest 1/factor^2 of its blocks' zigzag coefficients.
        for small, block in ((xs, b * c), (zs, b)):
            kept = (block_dct2(small.double(), block).abs() > 1e-6).flatten(0, -2).any(0)
            assert kept.sum().item() == block * block // factor**2 and kept[: block * block // factor**2].all()
        assert xs.shape == x.shape and zs.shape == z.shape
    else:
        assert xs.shape[-1] * factor == x.shape[-1] and zs.shape[-1] * factor == z.shape[-1]
        assert x.shape[-1] // xs.shape[-1] == z.shape[-1] // zs.shape[-1] == factor


def test_factor_drawn_per_step_is_seeded():
    se = ScaleEquivariance(1.0, [2, 4], seed=3)
    draws = [se.factor_at(t) for t in range(64)]
    assert set(draws) == {2, 4} and draws == [ScaleEquivariance(1.0, [2, 4], seed=3).factor_at(t) for t in range(64)]
    with pytest.raises(ValueError, match="unknown se.mode"):
        downsample(torch.zeros(1, 1, 4, 4), 2, "lanczos")


def test_se_finetune_trains_the_decoder_on_small_latents(tmp_path):
    from diffusability.train.ae import train_autoencoder
    common = ["model.latent_channels=8", "optim.batch_size=4", "optim.log_every=1", "data.val_crops_per_photo=2"]
    base = train_autoencoder(run_config_by_hand("train_ae", [f"out_dir={tmp_path / 'base'}", "optim.steps=2",
                                                             *common]))
    ft = run_config_by_hand("train_ae", [f"out_dir={tmp_path / 'se'}", "optim.steps=3", f"init_from={base}",
                                         "se.weight=0.5", "se.freeze_encoder=true", *common], finetune=True)
    train_autoencoder(ft)
    import pandas as pd
    from diffusers import AutoencoderKL
    log = pd.read_csv(tmp_path / "se" / "train_log.csv")
    assert log["se"].notna().all() and (log["se"] > 0).all()
    a, b = AutoencoderKL.from_pretrained(str(base)), AutoencoderKL.from_pretrained(str(tmp_path / "se" / "ae"))
    assert all(torch.equal(p, q) for p, q in zip(a.encoder.parameters(), b.encoder.parameters()))  # frozen
    assert not all(torch.equal(p, q) for p, q in zip(a.decoder.parameters(), b.decoder.parameters()))


@pytest.mark.parametrize("ratio", [0.0, 0.3, 0.75])
def test_random_cut_zeroes_the_top_zigzag_share_of_every_block_in_latent_and_image(ratio):
    """Latent blocks of B and image blocks of B x compression (the same image area, as many blocks): in each, the
    top `ratio` share of zigzag coefficients is zeroed and the rest is untouched."""
    c, b = 4, 8
    g = torch.Generator().manual_seed(0)
    x, z = torch.randn(2, 3, 64, 64, generator=g, dtype=torch.float64), torch.randn(2, 16, 16, 16, generator=g,
                                                                                   dtype=torch.float64)
    xc, zc = cut_pair(x, z, ratio, latent_block=b, compression=c)
    assert xc.shape == x.shape and zc.shape == z.shape
    blocks = []
    for before, after, block in ((x, xc, b * c), (z, zc, b)):
        n = block * block
        keep = round((1 - ratio) * n)  # the top n - keep coefficients of each block are cut
        cb, ca = block_dct2(before, block), block_dct2(after, block)
        assert torch.allclose(ca[..., :keep], cb[..., :keep], atol=1e-9)
        if keep < n:
            assert ca[..., keep:].abs().max().item() < 1e-9
            assert cb[..., keep:].abs().min().item() > 0  # ... and there was something there to cut
        blocks.append(ca.shape[-3:-1])
        assert (n - keep) / n == pytest.approx(ratio, abs=0.5 / n)
    assert blocks[0] == blocks[1]  # one image block per latent block


def test_random_cut_ratio_is_drawn_per_step_from_the_run_seed():
    def draws(seed):
        return [ScaleEquivariance(1.0, [], mode="random_cut", seed=seed, cut_max_ratio=0.6).cut_ratio_at(t)
                for t in range(200)]
    first = draws(3)
    assert first == draws(3) and first != draws(4)
    assert min(first) >= 0.0 and max(first) <= 0.6 and min(first) < 0.06 and max(first) > 0.54  # uniform in [0, 0.6]
    with pytest.raises(ValueError, match="se.cut_max_ratio"):
        ScaleEquivariance(1.0, [], mode="random_cut", cut_max_ratio=1.0)


def test_random_cut_loss_is_the_reconstruction_of_the_cut_image_from_the_cut_latent():
    """An identity AE decodes the cut latent to exactly the cut image (zero loss); a pooling AE cannot, and the
    term is then the loss mixture between its decode of the cut latent and the cut image."""
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    recon = ReconstructionLoss(1.0, 1.0, 0.0)
    identity = ScaleEquivariance(1.0, [], mode="random_cut", compression=1, latent_block=8, cut_max_ratio=0.75)
    loss, _ = identity(ae=PoolingAE(1), x=x, z=x, step=5, recon_loss=recon)
    assert loss.item() < 1e-10
    ae = PoolingAE(4)
    se = ScaleEquivariance(0.5, [], mode="random_cut", compression=4, latent_block=2, cut_max_ratio=0.75, seed=2)
    loss, metrics = se(ae=ae, x=x, z=ae.encode(x), step=5, recon_loss=recon)
    xc, zc = cut_pair(x, ae.encode(x), se.cut_ratio_at(5), latent_block=2, compression=4)
    assert metrics["se"] == pytest.approx(recon(ae.decode(zc).sample, xc)["recon"].item())
    assert loss.item() == pytest.approx(0.5 * metrics["se"]) and loss.item() > 0


def test_the_grid_fine_tunes_each_image_base_with_the_cutoff_at_the_main_weight():
    from diffusability.grid import CUT_MODE, main_variants, se_grid, video_views
    from diffusability.runconfig import finetune_run_config, workflow_config
    config = workflow_config("smoke")
    cut = [r for r in se_grid(config) if r["se_mode"] == CUT_MODE]
    assert [r["model"] for r in cut] == ["tiny-c4-kl0-s0__se1-random_cut"]
    assert cut[0]["variant"] == "se" and cut[0]["se_weight"] == config["se"]["main_weight"]
    assert cut[0]["se_factors"] is None
    assert main_variants(config)["tiny-c4-kl0-s0"][CUT_MODE] == cut[0]["model"]
    assert not any(r["se_mode"] == CUT_MODE for v in video_views(config) for r in se_grid(v))
    run = finetune_run_config(config, cut[0], out_dir="x", init_from="y")
    assert run["se"]["mode"] == CUT_MODE and run["se"]["factors"] == []
    assert run["se"]["cut_max_ratio"] == config["se"]["cut_max_ratio"]
    # the ratio is a setting of the cutoff's run only: changing it reruns nothing else
    ft = next(r for r in se_grid(config) if r["variant"] == "ft")
    assert "cut_max_ratio" not in finetune_run_config(config, ft, out_dir="x", init_from="y")["se"]


def test_random_cut_finetune_trains(tmp_path):
    from diffusability.train.ae import train_autoencoder
    common = ["model.latent_channels=8", "optim.batch_size=4", "optim.log_every=1", "data.val_crops_per_photo=2"]
    base = train_autoencoder(run_config_by_hand("train_ae", [f"out_dir={tmp_path / 'base'}", "optim.steps=1",
                                                             *common]))
    cut = run_config_by_hand("train_ae", [f"out_dir={tmp_path / 'cut'}", "optim.steps=2", f"init_from={base}",
                                          "se.weight=0.5", "se.mode=random_cut", "se.factors=[]",
                                          "+se.cut_max_ratio=0.5", *common], finetune=True)
    train_autoencoder(cut)
    import pandas as pd
    log = pd.read_csv(tmp_path / "cut" / "train_log.csv")
    assert log["se"].notna().all() and (log["se"] > 0).all()
