from pathlib import Path

from diffusability.claims import write_claims
from diffusability.smk import logged

with logged(snakemake):
    write_claims(Path(snakemake.input.hf).parent, dict(snakemake.params.tolerances), snakemake.params.scale,
                 snakemake.output.csv, snakemake.output.md)
