from diffusability.smk import logged
from diffusability.stages import evaluate_stage

with logged(snakemake):
    p = snakemake.params
    evaluate_stage(p.run_dir, dict(p.meta), dict(p.spectrum), dict(p.evaluation), p.device, dict(p.fd),
                   snakemake.output.spectrum, snakemake.output.recon)
