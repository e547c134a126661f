from diffusability.smk import logged
from diffusability.stages import collect_stage

with logged(snakemake):
    collect_stage(list(snakemake.input.spectra), snakemake.input.rgb, list(snakemake.input.recon),
                  snakemake.params.hf_exclude_dc, snakemake.output.spectra, snakemake.output.hf,
                  snakemake.output.recon, dict(snakemake.params.provenance))
