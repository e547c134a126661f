from diffusability.plots.spectra import fig_rgb_noise
from diffusability.smk import logged

with logged(snakemake):
    fig_rgb_noise(snakemake.input[0], list(snakemake.output), snakemake.params.log_amplitude)
