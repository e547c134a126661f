"""Any diffusers AE through the suite (issue 19): random-initialised, small-config twins of every supported class,
saved with save_pretrained, read by config, encoded, analysed through the package API and through the CLI; a folder
that holds no AE and a broken config.json each give one sentence naming the folder."""
import json
import os
import subprocess
import sys

import diffusers
import numpy as np
import pandas as pd
import pytest
import torch

from diffusability.analysis.zoo import analyse_autoencoder, default_frames, zoo_inputs
from diffusability.models.zoo import SUPPORTED_CLASSES, NotAnAutoencoderError, load_zoo_autoencoder, read_spec
from conftest import write_video

KL = dict(block_out_channels=(8, 16, 16), down_block_types=("DownEncoderBlock2D",) * 3,
          up_block_types=("UpDecoderBlock2D",) * 3, latent_channels=4, norm_num_groups=4, layers_per_block=1,
          mid_block_add_attention=False)
MEAN, STD = [0.1, -0.2, 0.3, 0.0], [1.5, 0.5, 2.0, 1.0]
# class -> (constructor kwargs, (spatial, temporal, latent channels) the twin must encode with)
TWINS = {
    "AutoencoderKL": (dict(KL, scaling_factor=0.3611, shift_factor=0.1159), (4, 1, 4)),  # FLUX.1-style scaling
    "AutoencoderKLFlux2": (KL, (4, 1, 4)),
    "AutoencoderDC": (dict(latent_channels=8, attention_head_dim=8, encoder_block_out_channels=(8, 16, 16),
                           decoder_block_out_channels=(8, 16, 16), encoder_layers_per_block=(1, 1, 1),
                           decoder_layers_per_block=(1, 1, 1), encoder_qkv_multiscales=((), (), ()),
                           decoder_qkv_multiscales=((), (), ()), scaling_factor=0.41), (4, 1, 8)),
    "AutoencoderKLQwenImage": (dict(base_dim=8, z_dim=4, dim_mult=[1, 2, 2], num_res_blocks=1,
                                    temperal_downsample=[False, True], latents_mean=MEAN, latents_std=STD), (4, 1, 4)),
    "AutoencoderKLCogVideoX": (dict(KL, down_block_types=("CogVideoXDownBlock3D",) * 3,
                                    up_block_types=("CogVideoXUpBlock3D",) * 3, temporal_compression_ratio=4,
                                    mid_block_add_attention=None), (4, 4, 4)),
    "AutoencoderKLLTXVideo": (dict(latent_channels=8, block_out_channels=(8, 16, 16),
                                   decoder_block_out_channels=(8, 16, 16),
                                   down_block_types=("LTXVideoDownBlock3D",) * 3,
                                   layers_per_block=(1, 1, 1, 1), decoder_layers_per_block=(1, 1, 1, 1),
                                   spatio_temporal_scaling=(True, True, False),
                                   decoder_spatio_temporal_scaling=(True, True, False),
                                   decoder_inject_noise=(False,) * 4, downsample_type=("conv",) * 3,
                                   upsample_residual=(False,) * 3, upsample_factor=(1,) * 3, patch_size=1,
                                   patch_size_t=1, scaling_factor=0.9), (4, 4, 8)),
    "AutoencoderKLWan": (dict(base_dim=8, z_dim=4, dim_mult=[1, 2, 2], num_res_blocks=1,
                              temperal_downsample=[True, True], latents_mean=MEAN, latents_std=STD,
                              scale_factor_temporal=4, scale_factor_spatial=4), (4, 4, 4)),
    "AutoencoderKLHunyuanVideo": (dict(latent_channels=4, block_out_channels=(8, 16, 16),
                                       down_block_types=("HunyuanVideoDownBlock3D",) * 3,
                                       up_block_types=("HunyuanVideoUpBlock3D",) * 3, layers_per_block=1,
                                       norm_num_groups=4, spatial_compression_ratio=4, temporal_compression_ratio=4,
                                       mid_block_add_attention=False), (4, 4, 4)),
    # Mochi's group norms have 32 groups: its widths cannot go below 32. 8x space, 6x time as the real one.
    "AutoencoderKLMochi": (dict(encoder_block_out_channels=(32,) * 4, decoder_block_out_channels=(32,) * 4,
                                latent_channels=4, layers_per_block=(1,) * 5, add_attention_block=(False,) * 5,
                                latents_mean=tuple(MEAN), latents_std=tuple(STD), scaling_factor=1.0), (8, 6, 4)),
    # As the real tokenizer: a Haar-wavelet patch (2 here, 4 there), then one 2x space-time level.
    "AutoencoderKLCosmos": (dict(latent_channels=4, encoder_block_out_channels=(8, 16, 16, 16),
                                 decode_block_out_channels=(8, 16, 16, 16), attention_resolutions=(), resolution=32,
                                 num_layers=1, patch_size=2, spatial_compression_ratio=4,
                                 temporal_compression_ratio=4, latents_mean=None, latents_std=None), (4, 4, 4)),
}


def build_twin(name: str):
    kw = {k: v for k, v in TWINS[name][0].items() if v is not None}
    torch.manual_seed(0)
    ae = getattr(diffusers, name)(**kw).eval()
    if name == "AutoencoderKLFlux2":  # non-trivial running statistics, so the pipeline's normalisation shows
        ae.bn.running_mean.copy_(torch.linspace(-0.5, 0.5, ae.bn.num_features))
        ae.bn.running_var.copy_(torch.linspace(0.5, 2.0, ae.bn.num_features))
    if name == "AutoencoderKLLTXVideo":
        ae.latents_mean.copy_(torch.linspace(-0.3, 0.3, 8))
        ae.latents_std.copy_(torch.linspace(0.5, 1.5, 8))
    return ae


@pytest.fixture(scope="module")
def twins(tmp_path_factory):
    root = tmp_path_factory.mktemp("zoo")
    for name in TWINS:
        build_twin(name).save_pretrained(root / name)
    return root


def test_every_supported_class_has_a_twin_and_exists_in_diffusers():
    assert set(TWINS) == set(SUPPORTED_CLASSES)
    assert all(hasattr(diffusers, name) for name in SUPPORTED_CLASSES)


@pytest.mark.parametrize("name", list(TWINS))
def test_compression_read_from_config_is_what_the_encoder_does(twins, name):
    spec = read_spec(twins / name)
    assert (spec.spatial, spec.temporal, spec.latent_channels) == TWINS[name][1]
    zae = load_zoo_autoencoder(twins / name)
    frames = 1 + 2 * spec.temporal
    x = torch.rand(1, 3, frames, 32, 32) * 2 - 1 if spec.kind == "video" else torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        z = zae.posterior(x).mode()
        want = (1, spec.latent_channels) + ((3,) if spec.kind == "video" else ()) + (32 // spec.spatial,) * 2
        assert tuple(z.shape) == want
        lat = zae.normalise(z)
        torch.testing.assert_close(zae.denormalise(lat), z, rtol=1e-5, atol=1e-5)
        assert zae.decode(z).shape == x.shape


def test_latents_are_scaled_as_each_pipeline_does(twins):
    z = torch.randn(2, 4, 8, 8)
    flux1 = load_zoo_autoencoder(twins / "AutoencoderKL")  # FluxPipeline: (z - shift) * scale
    torch.testing.assert_close(flux1.normalise(z), (z - 0.1159) * 0.3611)
    qwen = load_zoo_autoencoder(twins / "AutoencoderKLQwenImage")  # QwenImagePipeline: (z - mean) / std
    m, s = torch.tensor(MEAN).view(1, 4, 1, 1), torch.tensor(STD).view(1, 4, 1, 1)
    torch.testing.assert_close(qwen.normalise(z), (z - m) / s)
    wan = load_zoo_autoencoder(twins / "AutoencoderKLWan")
    z5 = torch.randn(1, 4, 3, 8, 8)
    torch.testing.assert_close(wan.normalise(z5), (z5 - m[..., None]) / s[..., None])
    dc = load_zoo_autoencoder(twins / "AutoencoderDC")  # SanaPipeline: z * scaling_factor
    z8 = torch.randn(1, 8, 8, 8)
    torch.testing.assert_close(dc.normalise(z8), z8 * 0.41)
    flux2 = load_zoo_autoencoder(twins / "AutoencoderKLFlux2")  # Flux2Pipeline: BN stats on 2x2-patchified z
    bn = flux2.ae.bn
    # Flux2Pipeline._patchify_latents, written out (the pipeline needs transformers, which the suite does not)
    zp = z.view(2, 4, 4, 2, 4, 2).permute(0, 1, 3, 5, 2, 4).reshape(2, 16, 4, 4)
    want = (zp - bn.running_mean.view(1, -1, 1, 1)) / (bn.running_var.view(1, -1, 1, 1) + bn.eps).sqrt()
    got = flux2.normalise(z).view(2, 4, 4, 2, 4, 2).permute(0, 1, 3, 5, 2, 4).reshape(2, 16, 4, 4)
    torch.testing.assert_close(got, want)
    assert not torch.allclose(flux2.normalise(z), z, atol=0.1)  # the twin's statistics are not the identity


def _assert_frames(out, spec, video):
    for key in ("spectrum", "hf", "erasure", "reconstruction"):
        df = out[key]
        assert len(df) and (df["ae_class"] == spec.class_name).all()
        assert (df["spatial_compression"] == spec.spatial).all()
        assert not df.select_dtypes("number").isna().any().any(), key
    assert set(out["spectrum"]["source"]) == {"latent", "rgb"}
    assert set(out["spectrum"]["axis"]) == ({"space", "time"} if video else {"space"})
    hf = out["hf"].set_index("source")["hf_share"]
    assert 0 < hf["latent"] < 1 and 0 < hf["rgb"] < 1
    er = out["erasure"]
    lat = er[er.method == "latent"].sort_values("erase_fraction")
    assert lat["psnr_vs_clean"].iloc[0] > 100 and lat["psnr_vs_clean"].is_monotonic_decreasing


@pytest.mark.parametrize("name", list(TWINS))
def test_analysis_of_each_twin_on_real_data(twins, name):
    zae = load_zoo_autoencoder(twins / name)
    spec = zae.spec
    data = "photos" if spec.kind == "image" else "clips"
    x = zoo_inputs(data=data, kind=spec.kind, num=2, resolution=32, frames=default_frames(spec.temporal))
    out = analyse_autoencoder(zae, x, block=4, fractions=[0.0, 0.5, 0.75])
    _assert_frames(out, spec, spec.kind == "video")


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "diffusability.cli.diffusability", *map(str, args)],
                          capture_output=True, text=True, timeout=300, cwd=cwd)


def _assert_cli_outputs(out, name):
    for f in ("spectrum.csv", "hf_share.csv", "erasure.csv", "reconstruction.csv", "spectrum.pdf", "spectrum.png",
              "provenance.json"):
        assert (out / f).stat().st_size > 0, f
    spec = pd.read_csv(out / "spectrum.csv")
    assert {"ae", "ae_class", "spatial_compression", "temporal_compression", "source", "axis", "freq_index",
            "amplitude", "energy"} <= set(spec.columns)
    assert json.loads((out / "provenance.json").read_text())["config"]["spec"]["ae_class"] == name


def test_cli_on_a_video_ae_writes_csvs_and_figure_and_prints_the_hf_share(twins, tmp_path):
    name = "AutoencoderKLCogVideoX"
    out = tmp_path / "out"
    r = _cli(twins / name, "--num-images", 2, "--resolution", 32, "--block", 4, "--out", out, "--device", "cpu")
    assert r.returncode == 0, r.stderr
    assert "HF share" in r.stdout and name in r.stdout and "4x time, 4x space" in r.stdout
    _assert_cli_outputs(out, name)
    assert set(pd.read_csv(out / "spectrum.csv")["axis"]) == {"space", "time"}


def _one_sentence(msg: str, folder) -> None:
    assert str(folder) in msg and "\n" not in msg.strip() and "Traceback" not in msg


def test_a_folder_without_an_autoencoder_is_one_sentence(tmp_path):
    unet = diffusers.UNet2DModel(sample_size=8, in_channels=3, out_channels=3, block_out_channels=(8, 8),
                                 down_block_types=("DownBlock2D",) * 2, up_block_types=("UpBlock2D",) * 2,
                                 layers_per_block=1, norm_num_groups=4)
    unet.save_pretrained(tmp_path / "unet")
    with pytest.raises(NotAnAutoencoderError, match="UNet2DModel, not an autoencoder") as err:
        read_spec(tmp_path / "unet")
    _one_sentence(str(err.value), tmp_path / "unet")
    (tmp_path / "empty").mkdir()
    with pytest.raises(NotAnAutoencoderError, match="no config.json"):
        read_spec(tmp_path / "empty")
    r = _cli(tmp_path / "unet")
    assert r.returncode == 2 and r.stderr.startswith("error: ")
    _one_sentence(r.stderr, tmp_path / "unet")


def test_a_broken_config_is_one_sentence(tmp_path):
    (tmp_path / "vae").mkdir()
    (tmp_path / "vae" / "config.json").write_text('{"_class_name": "AutoencoderKL", "latent_channels": ')
    with pytest.raises(NotAnAutoencoderError, match="cannot be read as JSON") as err:
        read_spec(tmp_path)  # a pipeline folder: its vae/ is found
    _one_sentence(str(err.value), tmp_path)
    (tmp_path / "vae" / "config.json").write_text('{"_class_name": "AutoencoderKL"}')  # no block_out_channels
    with pytest.raises(NotAnAutoencoderError, match="compression cannot be read"):
        read_spec(tmp_path)
    r = _cli(tmp_path / "vae" / "config.json")  # a file, not a folder
    assert r.returncode == 2
    _one_sentence(r.stderr, tmp_path / "vae" / "config.json")
    with pytest.raises(NotAnAutoencoderError, match="not in the local Hugging Face cache"):
        read_spec("nobody-here/no-such-vae")


def test_cli_on_an_image_ae_from_a_hub_id_in_the_local_cache_only(twins, tmp_path):
    # The layout huggingface_hub keeps: models--<owner>--<name>/{refs/main, snapshots/<commit>/...}
    repo = tmp_path / "hub" / "models--someone--tiny-vae"
    snap = repo / "snapshots" / ("0" * 40)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)
    build_twin("AutoencoderKL").save_pretrained(snap / "vae")  # a pipeline snapshot: the AE is in vae/
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1"}
    r = subprocess.run([sys.executable, "-m", "diffusability.cli.diffusability", "someone/tiny-vae", "--num-images",
                        "1", "--resolution", "32", "--block", "4", "--out", str(tmp_path / "out"), "--device", "cpu"],
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr
    assert "someone/tiny-vae: AutoencoderKL" in r.stdout and "HF share" in r.stdout
    _assert_cli_outputs(tmp_path / "out", "AutoencoderKL")
    r = subprocess.run([sys.executable, "-m", "diffusability.cli.diffusability", "someone/other-vae"],
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 2 and "not in the local Hugging Face cache" in r.stderr


def test_a_plain_folder_of_images_or_videos_is_data(twins, tmp_path, capsys):
    from PIL import Image

    from diffusability.data.photos import load_photo
    imgs = tmp_path / "imgs" / "nested"
    imgs.mkdir(parents=True)
    for name in ("coffee", "chelsea"):
        arr = ((load_photo(name).permute(1, 2, 0) + 1) * 127.5).round().byte().numpy()
        Image.fromarray(arr).save(imgs / f"{name}.png")
    x = zoo_inputs(data=str(tmp_path / "imgs"), kind="image", num=5, resolution=32, frames=1)
    assert x.shape == (2, 3, 32, 32) and -1 <= x.min() and x.max() <= 1
    vids = tmp_path / "vids"
    vids.mkdir()
    t = np.arange(12)[:, None, None, None]
    ramp = (np.arange(48)[None, None, :, None] * 4 + t * 3 + np.zeros((12, 40, 48, 3))) % 255  # moving gradient
    write_video(vids / "a.mp4", ramp.astype(np.uint8))
    x = zoo_inputs(data=str(vids), kind="video", num=2, resolution=32, frames=9)
    assert x.shape == (1, 3, 9, 32, 32)
    with pytest.raises(ValueError, match="holds images, but the autoencoder is a video autoencoder"):
        zoo_inputs(data=str(tmp_path / "imgs"), kind="video", num=1, resolution=32, frames=9)
    with pytest.raises(FileNotFoundError, match="no video with a cut-free stretch of 17 frames"):
        zoo_inputs(data=str(vids), kind="video", num=1, resolution=32, frames=17)
    from diffusability.cli.diffusability import main  # in-process: the subprocess path is tested above
    assert main([str(twins / "AutoencoderKLWan"), "--data", str(tmp_path / "imgs"), "--resolution", "32"]) == 2
    _one_sentence(capsys.readouterr().err, tmp_path / "imgs")


def test_several_aes_make_one_table_and_one_figure(twins, tmp_path):
    from diffusability.analysis.zoo import analyse_source
    from diffusability.plots.zoo import fig_ae_zoo
    from diffusability.provenance import write_csv
    from diffusability.tables import ae_zoo_table
    frames = {}
    for name in ("AutoencoderKL", "AutoencoderDC", "AutoencoderKLLTXVideo"):
        # as a workflow job calls it: data for either kind, a label for the `ae` column
        _, _, out = analyse_source(twins / name, data={"image": "photos", "video": "clips"}, num=1, resolution=32,
                                   block=4, fractions=[0.0, 0.5], device="cpu", label=f"zoo-{name}")
        assert (out["hf"]["ae"] == f"zoo-{name}").all()
        for key, df in out.items():
            frames.setdefault(key, []).append(df)
    merged = {k: pd.concat(v, ignore_index=True) for k, v in frames.items()}
    for key, df in merged.items():
        write_csv(tmp_path / f"{key}.csv", df)
    ae_zoo_table(tmp_path / "hf.csv", tmp_path / "reconstruction.csv", tmp_path / "erasure.csv",
                 tmp_path / "tab.md", tmp_path / "tab.tex")
    md = (tmp_path / "tab.md").read_text()
    assert all(f"zoo-{name}" in md for name in ("AutoencoderKL", "AutoencoderDC", "AutoencoderKLLTXVideo"))
    assert "hf_share_latent" in md and "erase05_psnr_latent" in md
    fig_ae_zoo(merged["spectrum"], [tmp_path / "zoo.png"], hf=merged["hf"])
    assert (tmp_path / "zoo.png").stat().st_size > 10_000


def test_wan22_style_patchified_vae_compresses_by_its_patch_too(tmp_path):
    # Wan 2.2's 5B VAE: a 2x2 patchify before the network (in_channels 12 = 3 x 2 x 2), hence 16x space there
    ae = diffusers.AutoencoderKLWan(base_dim=8, decoder_base_dim=8, z_dim=4, dim_mult=[1, 2, 2], num_res_blocks=1,
                                    temperal_downsample=[False, True], is_residual=True, in_channels=12,
                                    out_channels=12, patch_size=2, latents_mean=MEAN, latents_std=STD)
    ae.save_pretrained(tmp_path / "wan22")
    spec = read_spec(tmp_path / "wan22")
    assert (spec.kind, spec.spatial, spec.temporal, spec.latent_channels) == ("video", 8, 2, 4)
    zae = load_zoo_autoencoder(tmp_path / "wan22")
    with torch.no_grad():
        assert tuple(zae.posterior(torch.zeros(1, 3, 5, 32, 32)).mode().shape) == (1, 4, 3, 4, 4)


def test_the_readme_command_runs(twins, tmp_path, capsys):
    # The README's CLI line as written, on a twin in place of path/to/vae, made small for CPU by extra options.
    import re
    import shlex

    from conftest import ROOT
    from diffusability.cli.diffusability import main
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    line = next(ln for b in blocks for ln in b.splitlines() if "-m diffusability.cli.diffusability" in ln)
    args = shlex.split(line)[3:]
    assert args[0] == "path/to/vae"
    args[0] = str(twins / "AutoencoderKL")
    out = tmp_path / "out"
    assert main(args + ["--num-images", "1", "--resolution", "32", "--block", "4", "--device", "cpu",
                        "--out", str(out)]) == 0
    assert "HF share" in capsys.readouterr().out
    _assert_cli_outputs(out, "AutoencoderKL")


# --- rFID (or its proxy) and the SE fine-tune of a zoo AE ----------------------------------------------------------

def write_proxy_net(path, video: bool = False):
    """A random-initialised proxy feature net in the file format the workflow's proxy_features rule writes."""
    from diffusability.metrics.proxy_features import ProxyFeatureNet
    from diffusability.provenance import save_tensors
    torch.manual_seed(1)
    net = ProxyFeatureNet(3, 8, video=video)
    save_tensors(path, net.state_dict(), metadata={"meta": json.dumps({"num_classes": 3, "feature_dim": 8,
                                                                       "video": video})})
    return path


@pytest.mark.parametrize("name", ["AutoencoderKL", "AutoencoderKLCogVideoX"])
def test_reconstruction_frechet_distance_of_decodes_vs_inputs_in_the_suites_feature_space(twins, tmp_path, name):
    from diffusability.metrics.frechet import frechet_distance
    zae = load_zoo_autoencoder(twins / name)
    video = zae.spec.kind == "video"
    fd = {"kind": "video_proxy" if video else "proxy", "weights": write_proxy_net(tmp_path / "p.safetensors", video)}
    x = zoo_inputs(data="clips" if video else "photos", kind=zae.spec.kind, num=3, resolution=32,
                   frames=default_frames(zae.spec.temporal))
    rec = analyse_autoencoder(zae, x, block=4, fractions=[0.0, 0.5], fd=fd)["reconstruction"].iloc[0]
    col = "rfvd_proxy" if video else "rfid_proxy"  # the names of the main reconstruction table
    with torch.no_grad():  # the same distance by hand: the clean decode of the (normalised) mode latent vs the inputs
        decoded = zae.decode(zae.denormalise(zae.normalise(zae.posterior(x).mode()))).clamp(-1, 1)
    assert rec[col] > 0 and rec["num_images"] == 3
    assert rec[col] == pytest.approx(frechet_distance(decoded, x, fd["kind"], fd["weights"]), rel=1e-6)
    assert frechet_distance(x, x, fd["kind"], fd["weights"]) == pytest.approx(0, abs=1e-6)
    assert not {"rfid", "rfid_proxy", "rfvd", "rfvd_proxy"} - {col} & set(rec.index)


def test_cli_rfid_proxy_line_and_one_sentence_without_a_feature_network(twins, tmp_path, capsys):
    from diffusability.cli.diffusability import main
    small = ["--num-images", "2", "--resolution", "32", "--block", "4", "--device", "cpu"]
    proxy = write_proxy_net(tmp_path / "proxy.safetensors")
    assert main([str(twins / "AutoencoderKL"), *small, "--proxy", str(proxy), "--out", str(tmp_path / "a")]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if "rfid_proxy" in ln)
    value = pd.read_csv(tmp_path / "a" / "reconstruction.csv")["rfid_proxy"].iloc[0]
    assert line.startswith(f"  rfid_proxy: {value:.3f} (the workflow's proxy net, over 2 images: few for a Fr")
    assert main([str(twins / "AutoencoderKL"), *small, "--out", str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    assert [ln for ln in out.splitlines() if "rFID" in ln] == [
        "  rFID: not computed: no feature network given; pass --inception (FID's Inception-v3 weights) or --proxy "
        "(the proxy net of a workflow run, results/<scale>/features/) for a reconstruction Fréchet distance "
        "(nothing is downloaded)"]
    assert not {"rfid", "rfid_proxy"} & set(pd.read_csv(tmp_path / "b" / "reconstruction.csv").columns)
    # options meant for the other kind of AE, or a file that is not there: one sentence, before any model loads
    video_proxy = write_proxy_net(tmp_path / "video_proxy.safetensors", video=True)
    for args, words in (([f"--i3d={proxy}"], "--i3d is for video autoencoders; this is an image autoencoder"),
                        (["--proxy", str(video_proxy)], "is the video proxy net, but this is an image autoencoder"),
                        (["--inception", str(tmp_path / "nope.pth")], "is not a file")):
        assert main([str(twins / "AutoencoderKL"), *small, *args]) == 2
        err = capsys.readouterr().err
        assert words in err and err.count("\n") == 1, err


def test_zoo_se_fine_tune_asked_of_a_class_the_trainer_cannot_fine_tune_is_one_sentence(twins):
    from diffusability.checks import check_zoo
    from diffusability.runconfig import workflow_config
    from diffusability.workflow_config import ConfigError
    config = workflow_config("smoke")

    def check(name, **entry):
        config["zoo"]["models"] = [{"name": "mine", "source": str(twins / name), **entry}]
        check_zoo(config)

    check("AutoencoderKL", se=True)  # the trainer's class: fine
    check("AutoencoderDC", se=False)
    for name, words in (("AutoencoderDC", "mine is an AutoencoderDC and the suite's SE fine-tune trains "
                                          "AutoencoderKL only"),
                        ("AutoencoderKLWan", "mine is a video autoencoder (AutoencoderKLWan) and SE fine-tuning of "
                                             "zoo video AEs is not offered")):
        with pytest.raises(ConfigError, match=r"^config key zoo\.models\[0\]\.se is true, but ") as err:
            check(name, se=True)
        assert words in str(err.value) and "\n" not in str(err.value)
    config["data"]["resolution"] = 24  # 4x: a latent of 6, which se.factors' 4 does not divide
    with pytest.raises(ConfigError, match=r"data.resolution 24 .* gives a latent of 6, which se.factors \[4\]"):
        check("AutoencoderKL", se=True)
    with pytest.raises(ConfigError, match="'__' is reserved"):
        config["zoo"]["models"] = [{"name": "a__se", "source": str(twins / "AutoencoderKL")}]
        check_zoo(config)


def test_zoo_fine_tune_run_config_is_the_suites_pretrained_fine_tune():
    from diffusability.runconfig import finetune_run_config, workflow_config, zoo_finetune_run_config
    config = workflow_config("tiny")
    se = config["se"]
    run = {v: zoo_finetune_run_config(config, spatial=8, channels=16, variant=v, out_dir=f"o/{v}", init_from="vae")
           for v in ("ft", "se")}
    assert run["ft"]["se"]["weight"] == 0.0 and run["se"]["se"]["weight"] == se["main_weight"]
    for r in run.values():
        assert r["init_from"] == "vae" and r["model"]["compression"] == 8 and r["model"]["latent_channels"] == 16
        assert r["optim"]["steps"] == se["steps"] and r["loss"]["kl_weight"] == se["pretrained_kl_weight"]
        assert r["se"]["factors"] == se["factors"] and r["se"]["mode"] == se["mode"]
        assert r["data"]["name"] == config["data"]["name"] and r["settings_key"] == "se"
    # the same leaves as the suite's own fine-tune of a pretrained AE with that geometry
    view = {**config, "ae": {**config["ae"], "compression": 8}}
    meta = {"seed": 0, "channels": 16, "kl_weight": None, "se_weight": se["main_weight"], "se_mode": se["mode"],
            "se_factor_list": se["factors"]}
    assert run["se"] == finetune_run_config(view, meta, out_dir="o/se", init_from="vae")
