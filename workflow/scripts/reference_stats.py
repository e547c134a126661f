from diffusability.smk import logged
from diffusability.stages import reference_stats_stage

with logged(snakemake):
    p = snakemake.params
    reference_stats_stage(data=p.data, fd=p.fd, num_images=p.num_images, shard_paths=list(snakemake.input.shards),
                          out_path=snakemake.output[0])
