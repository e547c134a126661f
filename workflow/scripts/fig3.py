from diffusability.plots.spectra import fig3_kl
from diffusability.smk import logged

with logged(snakemake):
    i, p = snakemake.input, snakemake.params
    fig3_kl(i.rgb, list(i.latents), p.channels_reference, list(snakemake.output), p.log_amplitude)
