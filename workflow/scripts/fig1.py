from diffusability.plots.generation import fig1_convergence
from diffusability.smk import logged

with logged(snakemake):
    fig1_convergence(snakemake.input[0], list(snakemake.output))
