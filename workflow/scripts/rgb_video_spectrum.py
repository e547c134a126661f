from diffusability.smk import logged
from diffusability.stages import rgb_video_spectrum_stage

with logged(snakemake):
    p = snakemake.params
    rgb_video_spectrum_stage(dict(p.data), [dict(m) for m in p.models], dict(p.spectrum), snakemake.output[0])
