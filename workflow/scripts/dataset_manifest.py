from diffusability.smk import logged
from diffusability.stages import dataset_manifest_stage

with logged(snakemake):
    dataset_manifest_stage(dict(snakemake.params.data), snakemake.output[0])
