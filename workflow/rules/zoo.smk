# "How diffusable is my autoencoder?" (issue 19): every AE of zoo.models (any diffusers AE folder or cached hub id)
# analysed as the paper analyses its own (latent spectrum beside RGB, HF share, HF erasure, reconstruction with
# rFID or its proxy in the main evaluation's feature space), one job per AE, merged into tidy CSVs, then one figure
# (Fig. 2 style) and one table. An entry with `se: true` (an AutoencoderKL) is also fine-tuned by the suite's
# pretrained-AE fine-tune, as the FT control and with SE, and both fine-tunes are analysed beside it. Nothing here
# runs while zoo.models is empty.


rule finetune_zoo_ae:
    output:
        weights=f"{R}/zoo/{{ae}}__{{variant}}/ae/diffusion_pytorch_model.safetensors",
    log:
        f"logs/{SCALE}/finetune_zoo_ae/{{ae}}__{{variant}}.log",
    benchmark:
        f"benchmarks/{SCALE}/finetune_zoo_ae/{{ae}}__{{variant}}.tsv"
    wildcard_constraints:
        variant="ft|se",
    params:
        run_config=lambda w: zoo_finetune_run(w.ae, w.variant),
        overrides=config["ae"]["overrides"] + config["se"]["overrides"],
    priority: TABLES_PRIORITY
    threads: THREADS
    localrule: SUBMITIT
    resources:
        **res("finetune_se"),
        **LAUNCH,
    script:
        "../scripts/train_ae.py"


rule analyse_zoo_ae:
    input:
        features=lambda w: zoo_fd(w.ae)["weights"],
        finetuned=lambda w: ([] if ZOO_RUNS[w.ae]["variant"] == "vanilla"
                             else f"{zoo_source(w.ae)}/diffusion_pytorch_model.safetensors"),
    output:
        spectrum=f"{R}/zoo/{{ae}}/spectrum.csv",
        hf=f"{R}/zoo/{{ae}}/hf_share.csv",
        erasure=f"{R}/zoo/{{ae}}/erasure.csv",
        reconstruction=f"{R}/zoo/{{ae}}/reconstruction.csv",
    log:
        f"logs/{SCALE}/zoo/{{ae}}.log",
    benchmark:
        f"benchmarks/{SCALE}/zoo/{{ae}}.tsv"
    params:
        source=lambda w: zoo_source(w.ae),
        settings=zoo_settings(),
        fd=lambda w: zoo_fd(w.ae),
        columns=lambda w: ZOO_RUNS[w.ae],
    threads: THREADS
    resources:
        **res("analyse_zoo_ae"),
    script:
        "../scripts/analyse_zoo_ae.py"


rule collect_zoo:
    input:
        spectrum=zoo_csvs("spectrum"),
        hf=zoo_csvs("hf_share"),
        erasure=zoo_csvs("erasure"),
        reconstruction=zoo_csvs("reconstruction"),
    output:
        spectrum=f"{R}/zoo_spectra.csv",
        hf=f"{R}/zoo_hf.csv",
        erasure=f"{R}/zoo_erasure.csv",
        reconstruction=f"{R}/zoo_reconstruction.csv",
    log:
        f"logs/{SCALE}/collect_zoo.log",
    localrule: True
    script:
        "../scripts/collect_zoo.py"


rule fig_ae_zoo:
    input:
        spectrum=f"{R}/zoo_spectra.csv",
        hf=f"{R}/zoo_hf.csv",
    output:
        pdf=f"{F}/fig_ae_zoo.pdf",
        png=shown(f"{F}/fig_ae_zoo.png", "fig_ae_zoo"),
    log:
        f"logs/{SCALE}/fig_ae_zoo.log",
    params:
        paper_item=paper_item("fig_ae_zoo"),
        log_amplitude=PLOT_LOG,
    localrule: True
    script:
        "../scripts/fig_ae_zoo.py"


rule tab_ae_zoo:
    input:
        hf=f"{R}/zoo_hf.csv",
        reconstruction=f"{R}/zoo_reconstruction.csv",
        erasure=f"{R}/zoo_erasure.csv",
    output:
        md=shown(f"{F}/tab_ae_zoo.md", "tab_ae_zoo"),
        tex=f"{F}/tab_ae_zoo.tex",
    log:
        f"logs/{SCALE}/tab_ae_zoo.log",
    params:
        paper_item=paper_item("tab_ae_zoo"),
        erase_fraction=config["zoo"]["erase_fraction"],
    localrule: True
    script:
        "../scripts/tab_ae_zoo.py"
