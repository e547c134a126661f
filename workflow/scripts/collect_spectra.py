from diffusability.smk import logged
from diffusability.stages import collect_stage

with logged(snakemake):
    i, o = snakemake.input, snakemake.output
    video = bool(o.video_spectra)
    collect_stage(spectra_csvs=list(i.spectra), rgb_csv=i.rgb, recon_csvs=list(i.recon),
                  hf_exclude_dc=snakemake.params.hf_exclude_dc, out_spectra=o.spectra, out_hf=o.hf,
                  out_recon=o.recon, video_spectra_csvs=list(i.video_spectra),
                  video_rgb_csv=i.video_rgb[0] if video else None,
                  out_video_spectra=o.video_spectra[0] if video else None)
