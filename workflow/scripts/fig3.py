from diffusability.plots.spectra import fig3_kl
from diffusability.smk import logged

with logged(snakemake):
    fig3_kl(snakemake.input[0], snakemake.params.channels_reference, list(snakemake.output),
            snakemake.params.log_amplitude)
