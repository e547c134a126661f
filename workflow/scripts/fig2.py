from diffusability.plots.spectra import fig2_channels
from diffusability.smk import logged

with logged(snakemake):
    fig2_channels(snakemake.input[0], snakemake.params.kl_reference, list(snakemake.output),
                  snakemake.params.log_amplitude)
