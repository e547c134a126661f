from diffusability.smk import logged
from diffusability.stages import collect_stage

with logged(snakemake):
    i, o = snakemake.input, snakemake.output
    video = bool(o.video_spectra)
    collect_stage(list(i.spectra), i.rgb, list(i.recon), snakemake.params.hf_exclude_dc, o.spectra, o.hf, o.recon,
                  list(i.video_spectra), i.video_rgb[0] if video else None,
                  o.video_spectra[0] if video else None)
