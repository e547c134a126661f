from diffusability.smk import logged
from diffusability.tables import main_table

with logged(snakemake):
    i, o = snakemake.input, snakemake.output
    main_table(i.generation, "video", o.csv, o.md, o.tex, recon_csv=i.recon)
