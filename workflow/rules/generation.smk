# Latent diffusion (Fig. 1, Table 1): cache each AE variant's training latents, train a DiT on them, sample every
# kept snapshot and score the samples against reference statistics computed once per dataset and feature space.
# Video DiTs (Fig. 1 right, video table) go through the same rules on the video AEs' latents.
# The data path is sharded (issue 17; dit.encode_shards, dit.sample_shards, dit.reference_shards): each shard is a
# job writing a file of its own, so a finished shard never reruns when another fails, and no job holds a dataset.


rule encode_latent_shard:
    input:
        weights=weights("{model}"),
    output:
        f"{R}/latents/{{model}}{SHARD_WILDCARDS}.safetensors",
    log:
        f"logs/{SCALE}/encode_latent_shard/{{model}}{SHARD_WILDCARDS}.log",
    benchmark:
        f"benchmarks/{SCALE}/encode_latent_shard/{{model}}{SHARD_WILDCARDS}.tsv"
    params:
        run_dir=lambda w: run_dir(w.model),
        cache=lambda w: latent_cache(w.model),
        num_latents=lambda w: view(w.model)["dit"]["num_latents"],
        seed=lambda w: run_meta(config, w.model)["seed"],
        batch_size=lambda w: view(w.model)["eval"]["batch_size"],
        device=config["device"],
    threads: THREADS
    resources:
        **res("encode_latent_shard"),
    script:
        "../scripts/encode_latent_shard.py"


rule encode_latents:
    # One shard: the encode itself. More: the gather (normalisation from the first dit.norm_samples latents).
    input:
        weights=weights("{model}"),
        shards=lambda w: latent_shards(w.model),
    output:
        latent_cache("{model}"),
    log:
        f"logs/{SCALE}/encode_latents/{{model}}.log",
    benchmark:
        f"benchmarks/{SCALE}/encode_latents/{{model}}.tsv"
    wildcard_constraints:
        model=r"(?![^/]*\.shard-)[^/]+",
    params:
        run_dir=lambda w: run_dir(w.model),
        dit=lambda w: {k: view(w.model)["dit"][k] for k in ("num_latents", "norm_samples")},
        seed=lambda w: run_meta(config, w.model)["seed"],
        batch_size=lambda w: view(w.model)["eval"]["batch_size"],
        num_shards=lambda w: shards(w.model, "encode_shards"),
        device=config["device"],
    threads: THREADS
    resources:
        **res_when(lambda w: "encode_latents" if shards(w.model, "encode_shards") == 1 else "gather_shards",
                   ("encode_latents", "gather_shards")),
    script:
        "../scripts/encode_latents.py"


REFERENCE = f"{R}/generation/reference_{FD['kind']}.safetensors"
VIDEO_REFERENCE = f"{R}/generation/reference_{FD_VIDEO['kind']}.safetensors"
_REF_SHARDS = config["dit"]["reference_shards"]
_VIDEO_REF_SHARDS = {**config["dit"], **config["video"]["dit"]}["reference_shards"]


rule reference_shard:
    input:
        manifest=f"{R}/data/manifest.json",
        features=FD["weights"],
    output:
        REFERENCE.replace(".safetensors", f"{SHARD_WILDCARDS}.safetensors"),
    log:
        f"logs/{SCALE}/reference_shard/reference_{FD['kind']}{SHARD_WILDCARDS}.log",
    benchmark:
        f"benchmarks/{SCALE}/reference_shard/reference_{FD['kind']}{SHARD_WILDCARDS}.tsv"
    params:
        data=config["data"],
        fd=FD,
        num_images=config["dit"]["reference_images"],
        device=config["device"],
    threads: THREADS
    resources:
        **res("reference_shard"),
    script:
        "../scripts/reference_shard.py"


use rule reference_shard as video_reference_shard with:
    input:
        manifest=f"{R}/data/manifest.json",
        features=FD_VIDEO["weights"],
    output:
        VIDEO_REFERENCE.replace(".safetensors", f"{SHARD_WILDCARDS}.safetensors"),
    log:
        f"logs/{SCALE}/video_reference_shard/reference_{FD_VIDEO['kind']}{SHARD_WILDCARDS}.log",
    benchmark:
        f"benchmarks/{SCALE}/video_reference_shard/reference_{FD_VIDEO['kind']}{SHARD_WILDCARDS}.tsv"
    params:
        data=config["video"]["data"],
        fd=FD_VIDEO,
        num_images={**config["dit"], **config["video"]["dit"]}["reference_images"],
        device=config["device"],


rule reference_stats:
    # One shard: the pass itself. More: the exact merge of the reference_shard jobs' sums.
    input:
        manifest=f"{R}/data/manifest.json",
        features=FD["weights"],
        shards=shard_paths(REFERENCE, _REF_SHARDS),
    output:
        REFERENCE,
    log:
        f"logs/{SCALE}/reference_stats.log",
    benchmark:
        f"benchmarks/{SCALE}/reference_stats.tsv"
    params:
        data=config["data"],
        fd=FD,
        num_images=config["dit"]["reference_images"],
        num_shards=_REF_SHARDS,
    threads: THREADS
    resources:
        **res("reference_stats" if _REF_SHARDS == 1 else "gather_shards"),
    script:
        "../scripts/reference_stats.py"


use rule reference_stats as video_reference_stats with:
    input:
        manifest=f"{R}/data/manifest.json",
        features=FD_VIDEO["weights"],
        shards=shard_paths(VIDEO_REFERENCE, _VIDEO_REF_SHARDS),
    output:
        VIDEO_REFERENCE,
    log:
        f"logs/{SCALE}/video_reference_stats.log",
    benchmark:
        f"benchmarks/{SCALE}/video_reference_stats.tsv"
    params:
        data=config["video"]["data"],
        fd=FD_VIDEO,
        num_images={**config["dit"], **config["video"]["dit"]}["reference_images"],
        num_shards=_VIDEO_REF_SHARDS,
    resources:
        **res("reference_stats" if _VIDEO_REF_SHARDS == 1 else "gather_shards"),


rule train_dit:
    input:
        latents=lambda w: latents_of(w.dit),
        shards=lambda w: latent_shards(dit_meta(config, w.dit)["ae"]),  # read memory-mapped, never loaded whole
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


rule sample_dit:
    input:
        dit=rules.train_dit.output.weights,
        ae=lambda w: weights(dit_meta(config, w.dit)["ae"]),
        features=lambda w: fd_of(w.dit)["weights"],  # the shard's sums are features of this network
    output:
        f"{R}/dit/{{dit}}/samples/sums{SHARD_WILDCARDS}.safetensors",
    log:
        f"logs/{SCALE}/sample_dit/{{dit}}{SHARD_WILDCARDS}.log",
    benchmark:
        f"benchmarks/{SCALE}/sample_dit/{{dit}}{SHARD_WILDCARDS}.tsv"
    params:
        dit_dir=lambda w: dit_dir(w.dit),
        ae_dir=lambda w: run_dir(dit_meta(config, w.dit)["ae"]),
        dit=lambda w: sampling_of(w.dit, "extra_metrics"),
        fd=lambda w: fd_of(w.dit),
        device=config["device"],
    threads: THREADS
    resources:
        **res("sample_dit"),
    script:
        "../scripts/sample_dit.py"


rule evaluate_dit:
    # One sample shard: samples every kept snapshot itself, then scores. More: scores each snapshot from the sums of
    # the sample_dit jobs (light: no model runs).
    input:
        dit=rules.train_dit.output.weights,
        ae=lambda w: weights(dit_meta(config, w.dit)["ae"]),
        shards=lambda w: sample_shards(w.dit),
        features=lambda w: fd_of(w.dit)["weights"],  # one shard: this job samples and extracts features itself
        reference=lambda w: (rules.video_reference_stats.output[0] if is_video(w.dit)
                             else adm_reference(w.dit) or rules.reference_stats.output[0]),
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
        dit=lambda w: sampling_of(w.dit, "extra_metrics", "reference_images"),
        data=lambda w: view(w.dit)["data"],
        fd=lambda w: fd_of(w.dit),
        adm_reference=lambda w: adm_reference(w.dit),
        device=config["device"],
    threads: THREADS
    resources:
        **res_when(lambda w: "evaluate_dit" if shards(w.dit, "sample_shards") == 1 else "gather_shards",
                   ("evaluate_dit", "gather_shards")),
    script:
        "../scripts/evaluate_dit.py"


rule export_adm:
    # dit.export_adm: the final snapshot's num_samples samples of an image DiT as an ADM sample batch, for ADM's
    # evaluator (the same samples its last generation.csv row scores).
    input:
        dit=rules.train_dit.output.weights,
        ae=lambda w: weights(dit_meta(config, w.dit)["ae"]),
    output:
        f"{R}/dit/{{dit}}/samples_adm.npz",
    log:
        f"logs/{SCALE}/export_adm/{{dit}}.log",
    benchmark:
        f"benchmarks/{SCALE}/export_adm/{{dit}}.tsv"
    params:
        dit_dir=lambda w: dit_dir(w.dit),
        ae_dir=lambda w: run_dir(dit_meta(config, w.dit)["ae"]),
        dit=lambda w: sampling_of(w.dit),
        device=config["device"],
    threads: THREADS
    resources:
        **res("export_adm"),
    script:
        "../scripts/export_adm.py"


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
