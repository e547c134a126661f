from diffusability.smk import logged
from diffusability.tables import hf_energy_table

with logged(snakemake):
    hf_energy_table(snakemake.input.hf, snakemake.input.recon, snakemake.output.md, snakemake.output.tex)
