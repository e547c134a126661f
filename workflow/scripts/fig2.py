from diffusability.plots.spectra import fig2_channels
from diffusability.smk import logged

with logged(snakemake):
    i, p = snakemake.input, snakemake.params
    fig2_channels(i.rgb, list(i.latents), p.kl_reference, list(snakemake.output), p.log_amplitude)
