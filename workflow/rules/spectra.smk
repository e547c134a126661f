# Per-AE evaluation (latent block-DCT spectrum + reconstruction metrics), the RGB references, and the merged tables
# results/<scale>/{spectra,video_spectra,hf_energy,reconstruction}.csv. Video AEs go through the same rules.


rule proxy_features:
    input:
        manifest=f"{R}/data/manifest.json",
    output:
        f"{R}/features/proxy.safetensors",
    log:
        f"logs/{SCALE}/proxy_features.log",
    benchmark:
        f"benchmarks/{SCALE}/proxy_features.tsv"
    params:
        data=config["data"],
        proxy=config["metrics"]["proxy"],
    priority: SPINE_PRIORITY
    threads: THREADS
    resources:
        **res("proxy_features"),
    script:
        "../scripts/proxy_features.py"


# The offline stand-in for I3D (fvd_proxy): the same rule on the video data.
use rule proxy_features as video_proxy_features with:
    output:
        f"{R}/features/video_proxy.safetensors",
    log:
        f"logs/{SCALE}/video_proxy_features.log",
    benchmark:
        f"benchmarks/{SCALE}/video_proxy_features.tsv"
    priority: TABLES_PRIORITY
    params:
        data=config["video"]["data"],
        proxy=config["video"]["metrics"]["proxy"],


rule evaluate_ae:
    input:
        weights=weights("{model}"),
        features=lambda w: fd_of(w.model)["weights"],
    output:
        spectrum=f"{R}/eval/{{model}}/spectrum.csv",
        recon=f"{R}/eval/{{model}}/reconstruction.csv",
    log:
        f"logs/{SCALE}/evaluate_ae/{{model}}.log",
    benchmark:
        f"benchmarks/{SCALE}/evaluate_ae/{{model}}.tsv"
    params:
        run_dir=lambda w: run_dir(w.model),
        meta=lambda w: run_meta(config, w.model),
        spectrum=lambda w: view(w.model)["spectrum"],
        evaluation=lambda w: view(w.model)["eval"],
        device=config["device"],
        fd=lambda w: fd_of(w.model),
    priority: spine_priority("model")
    threads: THREADS
    resources:
        **res("evaluate_ae"),
    script:
        "../scripts/evaluate_ae.py"


rule rgb_spectrum:
    input:
        manifest=f"{R}/data/manifest.json",
    output:
        rgb=f"{R}/eval/rgb/spectrum.csv",
        noise=f"{R}/rgb_noise_spectra.csv",
    log:
        f"logs/{SCALE}/rgb_spectrum.log",
    benchmark:
        f"benchmarks/{SCALE}/rgb_spectrum.tsv"
    params:
        data=config["data"],
        compression=config["ae"]["compression"],
        spectrum=config["spectrum"],
    priority: SPINE_PRIORITY
    threads: THREADS
    resources:
        **res("rgb_spectrum"),
    script:
        "../scripts/rgb_spectrum.py"


rule rgb_video_spectrum:
    input:
        manifest=f"{R}/data/manifest.json",
    output:
        f"{R}/eval/rgb_video/spectrum.csv",
    log:
        f"logs/{SCALE}/rgb_video_spectrum.log",
    benchmark:
        f"benchmarks/{SCALE}/rgb_video_spectrum.tsv"
    params:
        data=config["video"]["data"],
        models=config["video"]["models"],
        spectrum={**config["spectrum"], **config["video"]["spectrum"]},
    priority: TABLES_PRIORITY
    threads: THREADS
    resources:
        **res("rgb_video_spectrum"),
    script:
        "../scripts/rgb_video_spectrum.py"


rule collect_spectra:
    input:
        spectra=expand(f"{R}/eval/{{model}}/spectrum.csv", model=RUNS),
        rgb=f"{R}/eval/rgb/spectrum.csv",
        recon=expand(f"{R}/eval/{{model}}/reconstruction.csv", model=RUNS + VIDEO_RUNS),
        video_spectra=expand(f"{R}/eval/{{model}}/spectrum.csv", model=VIDEO_RUNS),
        video_rgb=[f"{R}/eval/rgb_video/spectrum.csv"] if VIDEO else [],
    output:
        spectra=f"{R}/spectra.csv",
        hf=f"{R}/hf_energy.csv",
        recon=f"{R}/reconstruction.csv",
        video_spectra=[f"{R}/video_spectra.csv"] if VIDEO else [],
    log:
        f"logs/{SCALE}/collect_spectra.log",
    params:
        hf_exclude_dc=config["spectrum"]["hf_exclude_dc"],
    priority: TABLES_PRIORITY
    localrule: True
    script:
        "../scripts/collect_spectra.py"
