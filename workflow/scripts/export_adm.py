from diffusability.smk import logged
from diffusability.stages import export_adm_stage

with logged(snakemake):
    p = snakemake.params
    export_adm_stage(dit_dir=p.dit_dir, ae_dir=p.ae_dir, dit=p.dit, device=p.device, out_path=snakemake.output[0])
