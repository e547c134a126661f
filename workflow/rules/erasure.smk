# Fig. 5 data: progressive high-frequency erasure of RGB and of the vanilla, FT and SE latents (one job per base).


rule erasure:
    input:
        lambda w: [weights(name) for name in main_variants(config)[w.base].values()],
    output:
        curves=f"{R}/erasure/{{base}}.csv",
        grid=f"{R}/erasure/{{base}}_grid.png",
    log:
        f"logs/{SCALE}/erasure/{{base}}.log",
    benchmark:
        f"benchmarks/{SCALE}/erasure/{{base}}.tsv"
    params:
        run_dirs=lambda w: {label: run_dir(name) for label, name in main_variants(config)[w.base].items()},
        meta=lambda w: run_meta(config, w.base),
        erasure=config["erasure"],
        latent_block=config["spectrum"]["block"],
        device=config["device"],
    threads: THREADS
    resources:
        **res("erasure"),
    script:
        "../scripts/erasure.py"


rule collect_erasure:
    input:
        curves=expand(f"{R}/erasure/{{base}}.csv", base=BASES),
    output:
        curves=f"{R}/erasure.csv",
    log:
        f"logs/{SCALE}/collect_erasure.log",
    localrule: True
    script:
        "../scripts/merge_csvs.py"
