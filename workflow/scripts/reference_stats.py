from diffusability.smk import logged
from diffusability.stages import reference_stats_stage

with logged(snakemake):
    p = snakemake.params
    reference_stats_stage(p.data, p.fd, p.num_images, snakemake.output[0])
