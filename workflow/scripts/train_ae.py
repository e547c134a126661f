from diffusability.smk import logged
from diffusability.stages import train_ae_stage

with logged(snakemake):
    train_ae_stage(snakemake.params.config, snakemake.wildcards.run, snakemake.params.run_dir, snakemake.threads)
