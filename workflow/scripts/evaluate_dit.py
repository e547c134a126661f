from diffusability.smk import logged
from diffusability.stages import evaluate_dit_stage

with logged(snakemake):
    p = snakemake.params
    evaluate_dit_stage(dit_dir=p.dit_dir, ae_dir=p.ae_dir, meta=p.meta, dit=p.dit, data=p.data, fd=p.fd,
                       reference=snakemake.input.reference, adm_reference=p.adm_reference,
                       shard_paths=list(snakemake.input.shards), device=p.device, out_csv=snakemake.output.csv,
                       out_grid=snakemake.output.grid, out_gif=snakemake.output.gif)
