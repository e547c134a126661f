# Reproduction suite for "Improving the Diffusability of Autoencoders" (Skorokhodov et al., ICML 2025).
#   snakemake all_tables all_figures                     # default `tiny` scale, offline, 2 CPU cores
#   snakemake all --config scale=smoke                   # other scales: smoke | tiny | small | paper
#   snakemake paper_figures/tiny/fig2_latent_spectra_channels.pdf   # one figure by its file name
from snakemake.utils import min_version, validate

min_version("9.0")

configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/autoencoders.smk"
include: "workflow/rules/spectra.smk"
include: "workflow/rules/erasure.smk"
include: "workflow/rules/generation.smk"
include: "workflow/rules/zoo.smk"
include: "workflow/rules/figures.smk"


localrules:
    all,
    all_tables,
    all_figures,


rule all:
    input:
        rules.all_tables.input,
        rules.all_figures.input,
    default_target: True
