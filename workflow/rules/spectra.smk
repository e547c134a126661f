# Block-DCT frequency profiles of latents and RGB, merged into results/<scale>/{spectra,hf_energy,reconstruction}.csv


rule latent_spectrum:
    input:
        weights=rules.train_ae.output.weights,
    output:
        f"{R}/spectra/{{run}}.csv",
    log:
        f"logs/{SCALE}/latent_spectrum/{{run}}.log",
    benchmark:
        f"benchmarks/{SCALE}/latent_spectrum/{{run}}.tsv"
    params:
        config=config,
        run_dir=lambda w: f"{R}/ae/{w.run}",
    threads: 2
    resources:
        mem_mb=res("evaluate_ae", "mem_mb"),
        runtime=res("evaluate_ae", "runtime"),
        gpu=res("evaluate_ae", "gpu"),
    script:
        "../scripts/latent_spectrum.py"


rule rgb_spectrum:
    input:
        manifest=f"{R}/data/manifest.json",
    output:
        rgb=f"{R}/spectra/rgb.csv",
        noise=f"{R}/rgb_noise_spectra.csv",
    log:
        f"logs/{SCALE}/rgb_spectrum.log",
    benchmark:
        f"benchmarks/{SCALE}/rgb_spectrum.tsv"
    params:
        config=config,
    threads: 1
    resources:
        mem_mb=res("evaluate_ae", "mem_mb"),
        runtime=res("evaluate_ae", "runtime"),
    script:
        "../scripts/rgb_spectrum.py"


rule collect_spectra:
    input:
        spectra=expand(f"{R}/spectra/{{run}}.csv", run=AE_RUNS),
        rgb=f"{R}/spectra/rgb.csv",
        recon=expand(f"{R}/ae/{{run}}/reconstruction.csv", run=AE_RUNS),
    output:
        spectra=f"{R}/spectra.csv",
        hf=f"{R}/hf_energy.csv",
        recon=f"{R}/reconstruction.csv",
    log:
        f"logs/{SCALE}/collect_spectra.log",
    params:
        config=config,
    localrule: True
    script:
        "../scripts/collect_spectra.py"
