from diffusability.smk import logged
from diffusability.stages import merge_csvs_stage

with logged(snakemake):
    for key in ("spectrum", "hf", "erasure", "reconstruction"):
        merge_csvs_stage(list(snakemake.input[key]), snakemake.output[key])
