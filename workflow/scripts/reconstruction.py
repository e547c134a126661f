from diffusability.smk import logged
from diffusability.stages import reconstruction_stage

with logged(snakemake):
    reconstruction_stage(snakemake.params.config, snakemake.wildcards.run, snakemake.params.run_dir,
                         snakemake.output[0])
