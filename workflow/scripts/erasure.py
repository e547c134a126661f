from diffusability.smk import logged
from diffusability.stages import erasure_stage

with logged(snakemake):
    p = snakemake.params
    erasure_stage(dict(p.run_dirs), dict(p.meta), dict(p.erasure), p.latent_block, p.device,
                  snakemake.output.curves, snakemake.output.grid)
