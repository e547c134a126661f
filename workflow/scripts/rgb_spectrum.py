from diffusability.smk import logged
from diffusability.stages import rgb_spectrum_stage

with logged(snakemake):
    rgb_spectrum_stage(snakemake.params.config, snakemake.output.rgb, noise=False)
    rgb_spectrum_stage(snakemake.params.config, snakemake.output.noise, noise=True)
