from diffusability.smk import logged
from diffusability.stages import dataset_manifest_stage

with logged(snakemake):
    dataset_manifest_stage(snakemake.params.config, snakemake.output[0])
