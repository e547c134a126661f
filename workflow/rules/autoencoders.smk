# Autoencoder grid (Figs. 2-3): channel sweep at ae.kl_reference, KL sweep at ae.channels_reference.
# A rerun after a kill resumes from results/<scale>/ae/<run>/checkpoints/ (not a declared output, so kept).


rule train_ae:
    input:
        manifest=f"{R}/data/manifest.json",
    output:
        weights=f"{R}/ae/{{run}}/ae/diffusion_pytorch_model.safetensors",
    log:
        f"logs/{SCALE}/train_ae/{{run}}.log",
    benchmark:
        f"benchmarks/{SCALE}/train_ae/{{run}}.tsv"
    params:
        config=config,
        run_dir=lambda w: f"{R}/ae/{w.run}",
    threads: 2
    resources:
        mem_mb=res("train_ae", "mem_mb"),
        runtime=res("train_ae", "runtime"),
        gpu=res("train_ae", "gpu"),
    script:
        "../scripts/train_ae.py"


rule reconstruction:
    input:
        weights=rules.train_ae.output.weights,
    output:
        f"{R}/ae/{{run}}/reconstruction.csv",
    log:
        f"logs/{SCALE}/reconstruction/{{run}}.log",
    benchmark:
        f"benchmarks/{SCALE}/reconstruction/{{run}}.tsv"
    params:
        config=config,
        run_dir=lambda w: f"{R}/ae/{w.run}",
    threads: 2
    resources:
        mem_mb=res("evaluate_ae", "mem_mb"),
        runtime=res("evaluate_ae", "runtime"),
        gpu=res("evaluate_ae", "gpu"),
    script:
        "../scripts/reconstruction.py"
