from diffusability.smk import logged
from diffusability.stages import import_pretrained_stage

with logged(snakemake):
    import_pretrained_stage(list(snakemake.params.overrides), dict(snakemake.params.pretrained))
