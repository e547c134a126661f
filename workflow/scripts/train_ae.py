from diffusability.smk import logged
from diffusability.stages import train_ae_stage

with logged(snakemake):
    train_ae_stage(list(snakemake.params.overrides))
