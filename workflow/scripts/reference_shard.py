from diffusability.smk import logged
from diffusability.stages import reference_shard_stage

with logged(snakemake):
    p, w = snakemake.params, snakemake.wildcards
    reference_shard_stage(data=p.data, fd=p.fd, num_images=p.num_images, shard_index=int(w.shard),
                          num_shards=int(w.nshards), device=p.device, out_path=snakemake.output[0])
