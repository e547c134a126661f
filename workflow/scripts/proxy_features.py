from diffusability.smk import logged
from diffusability.stages import proxy_features_stage

with logged(snakemake):
    proxy_features_stage(dict(snakemake.params.data), dict(snakemake.params.proxy), 0, snakemake.output[0])
