from diffusability.smk import logged
from diffusability.stages import encode_latents_stage

with logged(snakemake):
    p = snakemake.params
    encode_latents_stage(p.run_dir, p.dit, p.seed, p.batch_size, p.device, snakemake.threads, snakemake.output[0])
