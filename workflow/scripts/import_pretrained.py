from diffusability.smk import logged
from diffusability.stages import import_pretrained_stage

with logged(snakemake):
    import_pretrained_stage(dict(snakemake.params.run_config), list(snakemake.params.overrides))
