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


rule all_tables:
    input:
        f"{R}/spectra.csv",
        f"{R}/hf_energy.csv",
        f"{R}/reconstruction.csv",
        f"{R}/rgb_noise_spectra.csv",
        rules.tab_hf_energy.output,


rule all_figures:
    input:
        rules.fig2_latent_spectra_channels.output,
        rules.fig3_latent_spectra_kl.output,
        rules.fig_rgb_noise.output,
