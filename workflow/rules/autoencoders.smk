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
        overrides=lambda w: ae_overrides(view(w.run), run_meta(config, w.run), run_dir(w.run), THREADS),
    priority: spine_priority("run")
    threads: THREADS
    localrule: SUBMITIT
    resources:
        **res_of("train_ae", "train_video_ae", "run"),
        **gpu_res("train_ae"),
        **CLUSTER,
    script:
        "../scripts/train_ae.py"


rule import_pretrained:
    output:
        weights=weights("{preset}-pretrained"),
    log:
        f"logs/{SCALE}/import_pretrained/{{preset}}.log",
    params:
        overrides=lambda w: ae_overrides(view(f"{w.preset}-pretrained"), run_meta(config, f"{w.preset}-pretrained"),
                                         run_dir(f"{w.preset}-pretrained"), THREADS),
        pretrained=lambda w: {"source": view(f"{w.preset}-pretrained")["ae"]["pretrained"], "subfolder": None,
                              "allow_download": False},
    wildcard_constraints:
        preset=r"[A-Za-z0-9-]+",
    resources:
        mem_mb=res("evaluate_ae", "mem_mb"),
        runtime=res("evaluate_ae", "runtime"),
        **CLUSTER,
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
        overrides=lambda w: finetune_overrides(view(w.base), run_meta(config, f"{w.base}__{w.tag}"),
                                               run_dir(f"{w.base}__{w.tag}"), run_dir(w.base), THREADS),
    priority: TABLES_PRIORITY
    threads: THREADS
    localrule: SUBMITIT
    resources:
        **res_of("finetune_se", "train_video_ae", "base"),
        **gpu_res("finetune_se"),
        **CLUSTER,
    script:
        "../scripts/train_ae.py"
