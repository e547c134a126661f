# Figures and rendered tables. These rules read only CSVs under results/<scale>/.
PLOT_LOG = config["plots"].get("log_amplitude", True)


rule fig2_latent_spectra_channels:
    input:
        f"{R}/spectra.csv",
    output:
        pdf=f"{F}/fig2_latent_spectra_channels.pdf",
        png=f"{F}/fig2_latent_spectra_channels.png",
    log:
        f"logs/{SCALE}/fig2.log",
    params:
        kl_reference=config["ae"]["kl_reference"],
        log_amplitude=PLOT_LOG,
    localrule: True
    script:
        "../scripts/fig2.py"


rule fig3_latent_spectra_kl:
    input:
        f"{R}/spectra.csv",
    output:
        pdf=f"{F}/fig3_latent_spectra_kl.pdf",
        png=f"{F}/fig3_latent_spectra_kl.png",
    log:
        f"logs/{SCALE}/fig3.log",
    params:
        channels_reference=config["ae"]["channels_reference"],
        log_amplitude=PLOT_LOG,
    localrule: True
    script:
        "../scripts/fig3.py"


rule fig_rgb_noise:
    input:
        f"{R}/rgb_noise_spectra.csv",
    output:
        pdf=f"{F}/fig_rgb_noise.pdf",
        png=f"{F}/fig_rgb_noise.png",
    log:
        f"logs/{SCALE}/fig_rgb_noise.log",
    params:
        log_amplitude=PLOT_LOG,
    localrule: True
    script:
        "../scripts/fig_rgb_noise.py"


rule tab_hf_energy:
    input:
        hf=f"{R}/hf_energy.csv",
        recon=f"{R}/reconstruction.csv",
    output:
        md=f"{F}/tab_hf_energy.md",
        tex=f"{F}/tab_hf_energy.tex",
    log:
        f"logs/{SCALE}/tab_hf_energy.log",
    localrule: True
    script:
        "../scripts/tab_hf_energy.py"


SE_REF = {
    "channels": config["ae"]["channels_reference"],
    "kl_weight": config["ae"]["kl_reference"],
    "factors": "x".join(map(str, config["se"]["factors"])),
    "mode": config["se"]["mode"],
    "main_weight": config["se"]["main_weight"],
    "kl_weights": config["se"]["ablation"]["kl_weights"],
}
ABLATIONS = ["se_weight", "factors", "mode", "se_kl"]


rule fig4_se_spectra:
    input:
        f"{R}/spectra.csv",
    output:
        pdf=f"{F}/fig4_se_spectra.pdf",
        png=f"{F}/fig4_se_spectra.png",
    log:
        f"logs/{SCALE}/fig4.log",
    params:
        ref=SE_REF,
        log_amplitude=PLOT_LOG,
    localrule: True
    script:
        "../scripts/fig4.py"


rule fig5_hf_erasure:
    input:
        curves=f"{R}/erasure.csv",
        grid=f"{R}/erasure_grid.csv",
    output:
        pdf=f"{F}/fig5_hf_erasure.pdf",
        png=f"{F}/fig5_hf_erasure.png",
    log:
        f"logs/{SCALE}/fig5.log",
    localrule: True
    script:
        "../scripts/fig5.py"


rule tab_reconstruction:
    input:
        f"{R}/reconstruction.csv",
    output:
        md=f"{F}/tab_reconstruction.md",
        tex=f"{F}/tab_reconstruction.tex",
    log:
        f"logs/{SCALE}/tab_reconstruction.log",
    localrule: True
    script:
        "../scripts/tab_reconstruction.py"


rule ablation_table:
    input:
        f"{R}/reconstruction.csv",
    output:
        csv=f"{R}/ablation_{{ablation}}.csv",
        md=f"{F}/tab_ablation_{{ablation}}.md",
        tex=f"{F}/tab_ablation_{{ablation}}.tex",
    log:
        f"logs/{SCALE}/ablation_{{ablation}}.log",
    params:
        ref=SE_REF,
    wildcard_constraints:
        ablation="|".join(ABLATIONS),
    localrule: True
    script:
        "../scripts/ablation_table.py"


rule fig1_convergence:
    input:
        f"{R}/generation.csv",
    output:
        pdf=f"{F}/fig1_convergence.pdf",
        png=f"{F}/fig1_convergence.png",
    log:
        f"logs/{SCALE}/fig1.log",
    localrule: True
    script:
        "../scripts/fig1.py"


rule tab_main_image:
    input:
        f"{R}/generation.csv",
    output:
        csv=f"{R}/main_image.csv",
        md=f"{F}/tab_main_image.md",
        tex=f"{F}/tab_main_image.tex",
    log:
        f"logs/{SCALE}/tab_main_image.log",
    localrule: True
    script:
        "../scripts/tab_main_image.py"


rule all_tables:
    input:
        f"{R}/spectra.csv",
        f"{R}/hf_energy.csv",
        f"{R}/reconstruction.csv",
        f"{R}/rgb_noise_spectra.csv",
        f"{R}/erasure.csv",
        rules.tab_hf_energy.output,
        rules.tab_reconstruction.output,
        expand(rules.ablation_table.output, ablation=ABLATIONS),
        f"{R}/generation.csv",
        rules.tab_main_image.output,


rule all_figures:
    input:
        rules.fig2_latent_spectra_channels.output,
        rules.fig3_latent_spectra_kl.output,
        rules.fig_rgb_noise.output,
        rules.fig4_se_spectra.output,
        rules.fig5_hf_erasure.output,
        rules.fig1_convergence.output,
        expand(f"{F}/samples/{{dit}}.png", dit=DIT_RUNS),
