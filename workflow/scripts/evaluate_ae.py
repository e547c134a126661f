from diffusability.smk import logged
from diffusability.stages import evaluate_stage

with logged(snakemake):
    p = snakemake.params
    evaluate_stage(run_dir=p.run_dir, meta=dict(p.meta), spectrum=dict(p.spectrum), evaluation=dict(p.evaluation),
                   device=p.device, fd=dict(p.fd), out_spectrum=snakemake.output.spectrum,
                   out_recon=snakemake.output.recon)
