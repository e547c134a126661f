"""The AE zoo through the workflow (issue 19): zoo.models in the config, one analyse_zoo_ae job per AE, the tidy
zoo_*.csv tables, fig_ae_zoo and tab_ae_zoo; a folder that holds no autoencoder stops the planning in one sentence
naming its config key."""
import re

import pandas as pd
import pytest
import torch
import yaml

from conftest import copy_workflow, snakemake, write_ae_config

TWINS = {"twin-kl": "AutoencoderKL", "twin-cogvideox": "AutoencoderKLCogVideoX"}  # an image and a video AE


def _zoo_config(path, models: dict, se=(), extra: str = "") -> str:
    lines = ["zoo:", "  models:"] + [f"    - {{name: {name}, source: '{src}'" + (", se: true}" if name in se else "}")
                                     for name, src in models.items()]
    path.write_text("\n".join(lines) + "\n" + extra)
    return str(path)


def _md_table(path) -> pd.DataFrame:
    rows = [[c.strip() for c in ln.strip().strip("|").split("|")] for ln in path.read_text().splitlines()
            if ln.startswith("|") and not re.match(r"^\|[\s:|-]+\|$", ln.strip())]
    return pd.DataFrame(rows[1:], columns=rows[0])


@pytest.mark.slow  # a real Snakemake run: two small random-initialised AEs analysed, the image one also fine-tuned
def test_two_zoo_aes_through_the_dag_make_the_table_and_the_figure(tmp_path):
    # twin-kl asks for the SE fine-tune (se: true): its FT control and SE fine-tune (2 steps each) are analysed too
    from safetensors.torch import load_file

    from test_zoo import build_twin
    (tmp_path / "wf").mkdir()
    wf = copy_workflow(tmp_path / "wf")
    for name, cls in TWINS.items():
        build_twin(cls).save_pretrained(tmp_path / "aes" / name)
    cfg = _zoo_config(tmp_path / "zoo.yaml", {n: tmp_path / "aes" / n for n in TWINS}, se=("twin-kl",),
                      extra="se: {steps: 2, checkpoint_every: 1}\n")
    proc = snakemake(wf, "tab_ae_zoo", "fig_ae_zoo", "--config", "scale=smoke", "--configfile", cfg)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    jobs = re.findall(r"^(?:local)?rule (\w+):", proc.stdout + proc.stderr, re.M)
    # no Inception weights at smoke: the rFID proxy's feature nets (image and video) are trained in the DAG
    assert sorted(jobs) == sorted(["analyse_zoo_ae"] * 4 + ["finetune_zoo_ae"] * 2 + [
        "dataset_manifest", "proxy_features", "video_proxy_features", "collect_zoo", "fig_ae_zoo", "tab_ae_zoo"])

    md = (wf / "paper_figures" / "smoke" / "tab_ae_zoo.md").read_text()
    assert "rfid_proxy/rfvd_proxy is over 2 images (or clips) per AE" in md.splitlines()[0]
    table = _md_table(wf / "paper_figures" / "smoke" / "tab_ae_zoo.md")
    # the AE, its FT control and its SE fine-tune side by side, then the video AE
    assert list(table["ae"]) == ["twin-kl", "twin-kl__ft", "twin-kl__se", "twin-cogvideox"]
    assert list(table["variant"]) == ["vanilla", "ft", "se", "vanilla"]
    assert set(table["base"]) == set(TWINS) and (table["ae_class"][:3] == "AutoencoderKL").all()
    assert all(float(v) > 0 for v in table["rfid_proxy"][:3]) and float(table["rfvd_proxy"].iloc[3]) > 0
    assert set(table["rfid_proxy"][3:]) == {"–"} and set(table["rfvd_proxy"][:3]) == {"–"}
    results = wf / "results" / "smoke"
    original = load_file(tmp_path / "aes" / "twin-kl" / "diffusion_pytorch_model.safetensors")
    for variant, weight in (("ft", 0.0), ("se", 1.0)):  # smoke's se.main_weight
        run = results / "zoo" / f"twin-kl__{variant}"
        run_cfg = yaml.safe_load((run / "config.yaml").read_text())  # the run config the trainer saved
        assert run_cfg["init_from"] == str(tmp_path / "aes" / "twin-kl") and run_cfg["se"]["weight"] == weight
        assert run_cfg["optim"]["steps"] == 2 and run_cfg["model"]["compression"] == 4
        tuned = load_file(run / "ae" / "diffusion_pytorch_model.safetensors")
        assert tuned.keys() == original.keys()
        assert any(not torch.equal(tuned[k], original[k]) for k in original), variant  # it trained
    table = table.set_index("ae")
    assert {"ae_class", "kind", "spatial_compression", "temporal_compression", "latent_channels", "hf_share_latent",
            "hf_share_rgb", "psnr", "erase05_psnr_latent"} <= set(table.columns)
    assert table.loc["twin-kl", "ae_class"] == "AutoencoderKL" and table.loc["twin-kl", "kind"] == "image"
    assert table.loc["twin-cogvideox", "ae_class"] == "AutoencoderKLCogVideoX"
    assert [int(float(table.loc[n, k])) for n in TWINS for k in ("spatial_compression", "temporal_compression")] \
        == [4, 1, 4, 4]
    assert "AutoencoderKLCogVideoX" in (wf / "paper_figures" / "smoke" / "tab_ae_zoo.tex").read_text()
    for ext in ("pdf", "png"):
        assert (wf / "paper_figures" / "smoke" / f"fig_ae_zoo.{ext}").stat().st_size > 10_000
    spectra = pd.read_csv(results / "zoo_spectra.csv")
    analysed = set(TWINS) | {"twin-kl__ft", "twin-kl__se"}
    assert set(spectra["ae"]) == analysed and set(spectra["source"]) == {"latent", "rgb"}
    assert set(spectra[spectra.ae == "twin-cogvideox"]["axis"]) == {"space", "time"}
    for name in ("zoo_hf", "zoo_erasure", "zoo_reconstruction"):
        df = pd.read_csv(results / f"{name}.csv")
        assert set(df["ae"]) == analysed and {"ae_class", "spatial_compression", "temporal_compression", "base",
                                              "variant"} <= set(df.columns), name
    assert (wf / "logs" / "smoke" / "zoo" / "twin-kl.log").exists()
    assert (wf / "benchmarks" / "smoke" / "zoo" / "twin-cogvideox.tsv").exists()


@pytest.mark.slow  # Snakemake dry runs
def test_a_non_ae_folder_or_a_repeated_name_stops_the_planning_in_one_sentence(tmp_path):
    (tmp_path / "wf").mkdir()
    wf = copy_workflow(tmp_path / "wf")
    (tmp_path / "unet").mkdir()
    (tmp_path / "unet" / "config.json").write_text('{"_class_name": "UNet2DModel", "sample_size": 8}')
    good = write_ae_config(tmp_path / "vae")
    cfg = _zoo_config(tmp_path / "zoo.yaml", {"mine": good, "other": tmp_path / "unet"})
    proc = snakemake(wf, "-n", "all", "--config", "scale=smoke", "--configfile", cfg)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    lines = [ln for ln in out.splitlines() if "zoo.models" in ln]
    assert lines == [f"config key zoo.models[1].source: folder {tmp_path / 'unet'} holds a UNet2DModel, not an "
                     f"autoencoder (supported: {lines[0].split('(supported: ')[1]}"], out[-2000:]
    assert "rule analyse_zoo_ae" not in out
    (tmp_path / "vae" / "config.json").write_text('{"_class_name": "AutoencoderKL", "latent_')  # broken JSON
    proc = snakemake(wf, "-n", "all", "--config", "scale=smoke", "--configfile", cfg)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "config key zoo.models[0].source: folder" in out and "cannot be read as JSON" in out
    write_ae_config(tmp_path / "vae")
    (tmp_path / "twice.yaml").write_text(f"zoo:\n  models:\n    - {{name: a, source: '{good}'}}\n"
                                         f"    - {{name: a, source: '{good}'}}\n")
    proc = snakemake(wf, "-n", "all", "--config", "scale=smoke", "--configfile", str(tmp_path / "twice.yaml"))
    assert proc.returncode != 0 and "config key zoo.models[1].name repeats 'a'" in proc.stdout + proc.stderr
    for extra, message in (("  resolution: 36\n", "config key zoo.resolution is 36, not a multiple of 32"),
                           (f"  image_data: {tmp_path / 'nope'}\n", "config key zoo.image_data is")):
        (tmp_path / "bad.yaml").write_text(f"zoo:\n  models:\n    - {{name: a, source: '{good}'}}\n{extra}")
        proc = snakemake(wf, "-n", "all", "--config", "scale=smoke", "--configfile", str(tmp_path / "bad.yaml"))
        assert proc.returncode != 0 and message in proc.stdout + proc.stderr, proc.stdout[-1500:]
    # se: true of a class the trainer cannot fine-tune: one sentence, no job planned
    (tmp_path / "dc").mkdir()
    (tmp_path / "dc" / "config.json").write_text('{"_class_name": "AutoencoderDC", "latent_channels": 8, '
                                                 '"encoder_block_out_channels": [8, 16, 16]}')
    cfg = _zoo_config(tmp_path / "se.yaml", {"mine": good, "dc": tmp_path / "dc"}, se=("mine", "dc"))
    proc = snakemake(wf, "-n", "all", "--config", "scale=smoke", "--configfile", cfg)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "rule finetune_zoo_ae" not in out
    assert [ln for ln in out.splitlines() if "zoo.models" in ln] == [
        "config key zoo.models[1].se is true, but dc is an AutoencoderDC and the suite's SE fine-tune trains "
        "AutoencoderKL only"], out[-1500:]
