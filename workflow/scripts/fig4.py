from diffusability.plots.se import fig4_se_spectra
from diffusability.smk import logged

with logged(snakemake):
    ref = snakemake.params.ref
    fig4_se_spectra(snakemake.input[0], ref["channels"], ref["kl_weight"], ref["factors"], ref["mode"],
                    list(snakemake.output), snakemake.params.log_amplitude)
