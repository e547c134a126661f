from diffusability.smk import logged
from diffusability.tables import ablation_table

with logged(snakemake):
    ablation_table(snakemake.input[0], snakemake.wildcards.ablation, dict(snakemake.params.ref),
                   snakemake.output.csv, snakemake.output.md, snakemake.output.tex)
