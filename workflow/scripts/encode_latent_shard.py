from diffusability.smk import logged
from diffusability.stages import encode_latent_shard_stage

with logged(snakemake):
    p, w = snakemake.params, snakemake.wildcards
    encode_latent_shard_stage(run_dir=p.run_dir, num_latents=p.num_latents, seed=p.seed, batch_size=p.batch_size,
                              device=p.device, threads=snakemake.threads, shard_index=int(w.shard),
                              num_shards=int(w.nshards), cache_path=p.cache, out_path=snakemake.output[0])
