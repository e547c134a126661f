from diffusability.smk import logged
from diffusability.stages import rgb_spectrum_stage

with logged(snakemake):
    p = snakemake.params
    rgb_spectrum_stage(dict(p.data), p.compression, dict(p.spectrum), snakemake.output.rgb, snakemake.output.noise)
