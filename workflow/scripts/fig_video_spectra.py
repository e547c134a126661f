from diffusability.plots.spectra import fig_video_spectra
from diffusability.smk import logged

with logged(snakemake):
    fig_video_spectra(snakemake.input[0], list(snakemake.output), snakemake.params.log_amplitude)
