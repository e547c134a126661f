from diffusability.smk import logged
from diffusability.stages import erasure_stage

with logged(snakemake):
    p = snakemake.params
    erasure_stage(run_dirs=dict(p.run_dirs), meta=dict(p.meta), erasure=dict(p.erasure), latent_block=p.latent_block,
                  device=p.device, out_csv=snakemake.output.curves, out_grid=snakemake.output.grid)
