from diffusability.smk import logged
from diffusability.tables import reconstruction_table

with logged(snakemake):
    reconstruction_table(snakemake.input[0], snakemake.output.md, snakemake.output.tex)
