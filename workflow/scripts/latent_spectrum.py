from diffusability.smk import logged
from diffusability.stages import latent_spectrum_stage

with logged(snakemake):
    latent_spectrum_stage(snakemake.params.config, snakemake.wildcards.run, snakemake.params.run_dir,
                          snakemake.output[0])
