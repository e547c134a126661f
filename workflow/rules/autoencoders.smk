# Autoencoders: the vanilla grid trained from scratch (Figs. 2-3), a pretrained AE imported as a run, and SE / FT
# fine-tunes of a base AE (Figs. 4-5). A rerun after a kill resumes each training from
# results/<scale>/ae/<name>/checkpoints/ (not a declared output, so Snakemake keeps it).


rule train_ae:
    input:
        manifest=f"{R}/data/manifest.json",
    output:
        weights=weights("{run}"),
    log:
        f"logs/{SCALE}/train_ae/{{run}}.log",
    benchmark:
        f"benchmarks/{SCALE}/train_ae/{{run}}.tsv"
    params:
        run_config=lambda w: ae_run(w.run),
        overrides=config["ae"]["overrides"],
    priority: spine_priority("run")
    threads: THREADS
    localrule: SUBMITIT
    resources:
        **res_of("train_ae", "train_video_ae", "run"),
        **LAUNCH,
    script:
        "../scripts/train_ae.py"


rule import_pretrained:
    output:
        weights=weights("{preset}-pretrained"),
    log:
        f"logs/{SCALE}/import_pretrained/{{preset}}.log",
    params:
        run_config=lambda w: import_run(w.preset),
        overrides=config["ae"]["overrides"],
    wildcard_constraints:
        preset=r"[A-Za-z0-9-]+",
    resources:
        **res("import_pretrained"),
    script:
        "../scripts/import_pretrained.py"


rule finetune_se:
    input:
        base=weights("{base}"),
    output:
        weights=weights("{base}__{tag}"),
    log:
        f"logs/{SCALE}/finetune_se/{{base}}__{{tag}}.log",
    benchmark:
        f"benchmarks/{SCALE}/finetune_se/{{base}}__{{tag}}.tsv"
    params:
        run_config=lambda w: finetune_run(w.base, w.tag),
        overrides=config["ae"]["overrides"] + config["se"]["overrides"],
    priority: TABLES_PRIORITY
    threads: THREADS
    localrule: SUBMITIT
    resources:
        **res_of("finetune_se", "train_video_ae", "base"),
        **LAUNCH,
    script:
        "../scripts/train_ae.py"
