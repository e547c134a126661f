from diffusability.smk import logged
from diffusability.stages import collect_stage

with logged(snakemake):
    collect_stage(snakemake.params.config, list(snakemake.input.spectra), snakemake.input.rgb,
                  list(snakemake.input.recon), snakemake.output.spectra, snakemake.output.hf, snakemake.output.recon)
