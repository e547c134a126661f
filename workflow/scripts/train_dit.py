from diffusability.smk import logged
from diffusability.stages import train_dit_stage

with logged(snakemake):
    train_dit_stage(list(snakemake.params.overrides))
