from diffusability.smk import logged
from diffusability.tables import main_table

with logged(snakemake):
    main_table(snakemake.input[0], "image", snakemake.output.csv, snakemake.output.md, snakemake.output.tex)
