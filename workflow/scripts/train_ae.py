from diffusability.launch import launcher_settings, run_training
from diffusability.smk import logged

with logged(snakemake):
    run_training("train_ae", run_config=dict(snakemake.params.run_config), overrides=list(snakemake.params.overrides),
                 launcher=launcher_settings(snakemake.resources, snakemake.threads))
