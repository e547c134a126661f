from diffusability.smk import logged
from diffusability.stages import analyse_zoo_stage

with logged(snakemake):
    analyse_zoo_stage(source=snakemake.params.source, name=snakemake.wildcards.ae,
                      settings=dict(snakemake.params.settings), fd=snakemake.params.fd,
                      columns=dict(snakemake.params.columns), threads=snakemake.threads,
                      outputs=dict(snakemake.output.items()))
