# Per-AE evaluation (latent block-DCT spectrum + reconstruction metrics), the RGB reference, and the merged tables
# results/<scale>/{spectra,hf_energy,reconstruction}.csv.


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
    threads: THREADS
    resources:
        mem_mb=res("evaluate_ae", "mem_mb"),
        runtime=res("evaluate_ae", "runtime"),
        **CLUSTER,
    script:
        "../scripts/proxy_features.py"


rule evaluate_ae:
    input:
        weights=weights("{model}"),
        features=FD["weights"],
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
        spectrum=config["spectrum"],
        evaluation=config["eval"],
        device=config["device"],
        fd=FD,
    threads: THREADS
    resources:
        mem_mb=res("evaluate_ae", "mem_mb"),
        runtime=res("evaluate_ae", "runtime"),
        **gpu_res("evaluate_ae"),
        **CLUSTER,
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
    threads: THREADS
    resources:
        mem_mb=res("evaluate_ae", "mem_mb"),
        runtime=res("evaluate_ae", "runtime"),
        **CLUSTER,
    script:
        "../scripts/rgb_spectrum.py"


rule collect_spectra:
    input:
        spectra=expand(f"{R}/eval/{{model}}/spectrum.csv", model=RUNS),
        rgb=f"{R}/eval/rgb/spectrum.csv",
        recon=expand(f"{R}/eval/{{model}}/reconstruction.csv", model=RUNS),
    output:
        spectra=f"{R}/spectra.csv",
        hf=f"{R}/hf_energy.csv",
        recon=f"{R}/reconstruction.csv",
    log:
        f"logs/{SCALE}/collect_spectra.log",
    params:
        hf_exclude_dc=config["spectrum"]["hf_exclude_dc"],
        provenance={"scale": SCALE, "spectrum": config["spectrum"], "eval": config["eval"]},
    localrule: True
    script:
        "../scripts/collect_spectra.py"
