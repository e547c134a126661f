from diffusability.smk import logged
from diffusability.tables import main_image_table

with logged(snakemake):
    main_image_table(snakemake.input[0], snakemake.output.csv, snakemake.output.md, snakemake.output.tex)
