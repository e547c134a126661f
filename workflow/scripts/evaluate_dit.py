from diffusability.smk import logged
from diffusability.stages import evaluate_dit_stage

with logged(snakemake):
    p = snakemake.params
    evaluate_dit_stage(p.dit_dir, p.ae_dir, p.meta, p.dit, p.data, p.fd, snakemake.input.reference, p.device,
                       snakemake.output.csv, snakemake.output.grid, snakemake.output.gif)
