from diffusability.smk import logged
from diffusability.stages import merge_csvs_stage

with logged(snakemake):
    merge_csvs_stage(list(snakemake.input), snakemake.output[0])
