from diffusability.plots.zoo import fig_ae_zoo
from diffusability.smk import logged
from diffusability.tidy import read_tidy

with logged(snakemake):
    fig_ae_zoo(read_tidy(snakemake.input.spectrum, "spectrum"), list(snakemake.output),
               log_amplitude=snakemake.params.log_amplitude, hf=read_tidy(snakemake.input.hf, "hf"))
