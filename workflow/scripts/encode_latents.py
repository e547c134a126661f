from diffusability.smk import logged
from diffusability.stages import encode_latents_stage

with logged(snakemake):
    p = snakemake.params
    encode_latents_stage(run_dir=p.run_dir, dit=p.dit, seed=p.seed, batch_size=p.batch_size, device=p.device,
                         threads=snakemake.threads, num_shards=p.num_shards, out_path=snakemake.output[0])
