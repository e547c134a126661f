from diffusability.smk import logged
from diffusability.stages import sample_dit_stage

with logged(snakemake):
    p, w = snakemake.params, snakemake.wildcards
    sample_dit_stage(dit_dir=p.dit_dir, ae_dir=p.ae_dir, dit=p.dit, fd=p.fd, shard_index=int(w.shard),
                     num_shards=int(w.nshards), device=p.device, out_path=snakemake.output[0])
