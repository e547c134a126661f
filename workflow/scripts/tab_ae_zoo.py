from diffusability.smk import logged
from diffusability.tables import ae_zoo_table

with logged(snakemake):
    ae_zoo_table(snakemake.input.hf, snakemake.input.reconstruction, snakemake.input.erasure, snakemake.output.md,
                 snakemake.output.tex, erase_fraction=snakemake.params.erase_fraction)
