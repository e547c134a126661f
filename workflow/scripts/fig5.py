from diffusability.plots.se import fig5_hf_erasure
from diffusability.smk import logged

with logged(snakemake):
    fig5_hf_erasure(snakemake.input.curves, snakemake.input.grid, list(snakemake.output))
