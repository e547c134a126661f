# Latent diffusion (Fig. 1, Table 1): cache each AE variant's training latents, train a DiT on them, sample every
# kept snapshot and score the samples against reference statistics computed once per dataset and feature space.
# Video DiTs (Fig. 1 right, video table) go through the same rules on the video AEs' latents.


rule encode_latents:
    input:
        weights=weights("{model}"),
    output:
        f"{R}/latents/{{model}}.safetensors",
    log:
        f"logs/{SCALE}/encode_latents/{{model}}.log",
    benchmark:
        f"benchmarks/{SCALE}/encode_latents/{{model}}.tsv"
    params:
        run_dir=lambda w: run_dir(w.model),
        dit=lambda w: {k: view(w.model)["dit"][k] for k in ("num_latents", "norm_samples")},
        seed=lambda w: run_meta(config, w.model)["seed"],
        batch_size=lambda w: view(w.model)["eval"]["batch_size"],
        device=config["device"],
    threads: THREADS
    resources:
        **res("encode_latents"),
    script:
        "../scripts/encode_latents.py"


rule reference_stats:
    input:
        manifest=f"{R}/data/manifest.json",
        features=FD["weights"],
    output:
        f"{R}/generation/reference_{FD['kind']}.safetensors",
    log:
        f"logs/{SCALE}/reference_stats.log",
    benchmark:
        f"benchmarks/{SCALE}/reference_stats.tsv"
    params:
        data=config["data"],
        fd=FD,
        num_images=config["dit"]["reference_images"],
    threads: THREADS
    resources:
        **res("reference_stats"),
    script:
        "../scripts/reference_stats.py"


use rule reference_stats as video_reference_stats with:
    input:
        manifest=f"{R}/data/manifest.json",
        features=FD_VIDEO["weights"],
    output:
        f"{R}/generation/reference_{FD_VIDEO['kind']}.safetensors",
    log:
        f"logs/{SCALE}/video_reference_stats.log",
    benchmark:
        f"benchmarks/{SCALE}/video_reference_stats.tsv"
    params:
        data=config["video"]["data"],
        fd=FD_VIDEO,
        num_images={**config["dit"], **config["video"]["dit"]}["reference_images"],


rule train_dit:
    input:
        latents=lambda w: latents_of(w.dit),
    output:
        weights=f"{R}/dit/{{dit}}/dit/diffusion_pytorch_model.safetensors",
    log:
        f"logs/{SCALE}/train_dit/{{dit}}.log",
    benchmark:
        f"benchmarks/{SCALE}/train_dit/{{dit}}.tsv"
    params:
        run_config=lambda w: dit_run(w.dit),
        overrides=config["dit"]["overrides"],
    threads: THREADS
    localrule: SUBMITIT
    resources:
        **res_of("train_dit", "train_video_dit", "dit"),
        **LAUNCH,
    script:
        "../scripts/train_dit.py"


rule evaluate_dit:
    input:
        dit=rules.train_dit.output.weights,
        ae=lambda w: weights(dit_meta(config, w.dit)["ae"]),
        reference=lambda w: (rules.video_reference_stats.output[0] if is_video(w.dit)
                             else rules.reference_stats.output[0]),
    output:
        csv=f"{R}/dit/{{dit}}/generation.csv",
        grid=f"{F}/samples/{{dit}}.png",
        gif=f"{F}/samples/{{dit}}.gif",
    log:
        f"logs/{SCALE}/evaluate_dit/{{dit}}.log",
    benchmark:
        f"benchmarks/{SCALE}/evaluate_dit/{{dit}}.tsv"
    params:
        dit_dir=lambda w: dit_dir(w.dit),
        ae_dir=lambda w: run_dir(dit_meta(config, w.dit)["ae"]),
        meta=lambda w: dit_meta(config, w.dit),
        dit=lambda w: {k: view(w.dit)["dit"][k] for k in ("reference_images", "num_samples", "sample_steps",
                                                          "sampler", "guidance", "batch_size_eval", "labels",
                                                          "extra_metrics")},
        data=lambda w: view(w.dit)["data"],
        fd=lambda w: fd_of(w.dit),
        device=config["device"],
    threads: THREADS
    resources:
        **res("evaluate_dit"),
    script:
        "../scripts/evaluate_dit.py"


rule collect_generation:
    input:
        expand(f"{R}/dit/{{dit}}/generation.csv", dit=DIT_RUNS + VIDEO_DIT_RUNS),
    output:
        f"{R}/generation.csv",
    log:
        f"logs/{SCALE}/collect_generation.log",
    localrule: True
    script:
        "../scripts/merge_csvs.py"
