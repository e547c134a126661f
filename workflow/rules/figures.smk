# Figures and rendered tables. These rules read only CSVs under results/<scale>/ (Figs. 2 and 3 the per-AE ones).
# Which of them make up all_figures / all_tables, and their report captions, come from the paper map
# (config/paper_map.yaml).


rule fig2_latent_spectra_channels:
    input:
        rgb=f"{R}/eval/rgb/spectrum.csv",
        latents=vanilla_spectra("kl_weight", config["ae"]["kl_reference"]),
    output:
        pdf=f"{F}/fig2_latent_spectra_channels.pdf",
        png=shown(f"{F}/fig2_latent_spectra_channels.png", "fig2"),
    log:
        f"logs/{SCALE}/fig2.log",
    params:
        paper_item=paper_item("fig2"),
        kl_reference=config["ae"]["kl_reference"],
        log_amplitude=PLOT_LOG,
    priority: SPINE_PRIORITY
    localrule: True
    script:
        "../scripts/fig2.py"


rule fig3_latent_spectra_kl:
    input:
        rgb=f"{R}/eval/rgb/spectrum.csv",
        latents=vanilla_spectra("channels", config["ae"]["channels_reference"]),
    output:
        pdf=f"{F}/fig3_latent_spectra_kl.pdf",
        png=shown(f"{F}/fig3_latent_spectra_kl.png", "fig3"),
    log:
        f"logs/{SCALE}/fig3.log",
    params:
        paper_item=paper_item("fig3"),
        channels_reference=config["ae"]["channels_reference"],
        log_amplitude=PLOT_LOG,
    priority: SPINE_PRIORITY
    localrule: True
    script:
        "../scripts/fig3.py"


rule fig_rgb_noise:
    input:
        f"{R}/rgb_noise_spectra.csv",
    output:
        pdf=f"{F}/fig_rgb_noise.pdf",
        png=shown(f"{F}/fig_rgb_noise.png", "fig3_rgb_noise"),
    log:
        f"logs/{SCALE}/fig_rgb_noise.log",
    params:
        paper_item=paper_item("fig3_rgb_noise"),
        log_amplitude=PLOT_LOG,
    priority: SPINE_PRIORITY
    localrule: True
    script:
        "../scripts/fig_rgb_noise.py"


rule tab_hf_energy:
    input:
        hf=f"{R}/hf_energy.csv",
        recon=f"{R}/reconstruction.csv",
    output:
        md=shown(f"{F}/tab_hf_energy.md", "tab_hf_energy"),
        tex=f"{F}/tab_hf_energy.tex",
    log:
        f"logs/{SCALE}/tab_hf_energy.log",
    params:
        paper_item=paper_item("tab_hf_energy"),
    localrule: True
    script:
        "../scripts/tab_hf_energy.py"


rule fig4_se_spectra:
    input:
        f"{R}/spectra.csv",
    output:
        pdf=f"{F}/fig4_se_spectra.pdf",
        png=shown(f"{F}/fig4_se_spectra.png", "fig4"),
    log:
        f"logs/{SCALE}/fig4.log",
    params:
        paper_item=paper_item("fig4"),
        ref=SE_REF,
        log_amplitude=PLOT_LOG,
    localrule: True
    script:
        "../scripts/fig4.py"


rule fig5_hf_erasure:
    input:
        curves=f"{R}/erasure.csv",
        grid=f"{R}/erasure/{BASES[0]}_grid.png",  # the example images of the first seed's base
    output:
        pdf=f"{F}/fig5_hf_erasure.pdf",
        png=shown(f"{F}/fig5_hf_erasure.png", "fig5"),
    log:
        f"logs/{SCALE}/fig5.log",
    params:
        paper_item=paper_item("fig5"),
    localrule: True
    script:
        "../scripts/fig5.py"


rule tab_reconstruction:
    input:
        f"{R}/reconstruction.csv",
    output:
        md=shown(f"{F}/tab_reconstruction.md", "tab_reconstruction"),
        tex=f"{F}/tab_reconstruction.tex",
    log:
        f"logs/{SCALE}/tab_reconstruction.log",
    params:
        paper_item=paper_item("tab_reconstruction"),
    localrule: True
    script:
        "../scripts/tab_reconstruction.py"


rule ablation_table:
    input:
        f"{R}/reconstruction.csv",
    output:
        csv=f"{R}/ablation_{{ablation}}.csv",
        md=shown(f"{F}/tab_ablation_{{ablation}}.md", "tab_ablations"),
        tex=f"{F}/tab_ablation_{{ablation}}.tex",
    log:
        f"logs/{SCALE}/ablation_{{ablation}}.log",
    params:
        paper_item=paper_item("tab_ablations"),
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
        png=shown(f"{F}/fig1_convergence.png", "fig1"),
    log:
        f"logs/{SCALE}/fig1.log",
    params:
        paper_item=paper_item("fig1"),
    localrule: True
    script:
        "../scripts/fig1.py"


rule tab_main_image:
    input:
        f"{R}/generation.csv",
    output:
        csv=f"{R}/main_image.csv",
        md=shown(f"{F}/tab_main_image.md", "tab_main_image"),
        tex=f"{F}/tab_main_image.tex",
    log:
        f"logs/{SCALE}/tab_main_image.log",
    params:
        paper_item=paper_item("tab_main_image"),
    localrule: True
    script:
        "../scripts/tab_main_image.py"


rule tab_main_video:
    input:
        generation=f"{R}/generation.csv",
        recon=f"{R}/reconstruction.csv",
    output:
        csv=f"{R}/main_video.csv",
        md=shown(f"{F}/tab_main_video.md", "tab_main_video"),
        tex=f"{F}/tab_main_video.tex",
    log:
        f"logs/{SCALE}/tab_main_video.log",
    params:
        paper_item=paper_item("tab_main_video"),
    localrule: True
    script:
        "../scripts/tab_main_video.py"


rule fig_video_spectra:
    input:
        f"{R}/video_spectra.csv",
    output:
        pdf=f"{F}/fig_video_spectra.pdf",
        png=shown(f"{F}/fig_video_spectra.png", "fig_video_spectra"),
    log:
        f"logs/{SCALE}/fig_video_spectra.log",
    params:
        paper_item=paper_item("fig_video_spectra"),
        log_amplitude=PLOT_LOG,
    localrule: True
    script:
        "../scripts/fig_video_spectra.py"


rule claims:
    input:
        hf=f"{R}/hf_energy.csv",
        recon=f"{R}/reconstruction.csv",
        erasure=f"{R}/erasure.csv",
        generation=f"{R}/generation.csv",  # per DiT run and seed: the claims' intervals need every seed's score
    output:
        csv=f"{R}/claims.csv",
        md=shown(f"{F}/claims.md", "claims"),
    log:
        f"logs/{SCALE}/claims.log",
    params:
        paper_item=paper_item("claims"),
        tolerances={**config["claims"], "main_se_weight": config["se"]["main_weight"]},
        scale=SCALE,
    localrule: True
    script:
        "../scripts/claims.py"


rule all_tables:
    input:
        # the tidy CSVs, then every table of the paper map
        f"{R}/spectra.csv",
        f"{R}/hf_energy.csv",
        f"{R}/reconstruction.csv",
        f"{R}/rgb_noise_spectra.csv",
        f"{R}/erasure.csv",
        f"{R}/generation.csv",
        [f"{R}/video_spectra.csv"] if VIDEO else [],
        [f"{R}/zoo_{k}.csv" for k in ("spectra", "hf", "erasure", "reconstruction")] if ZOO else [],
        paper_outputs("table"),
        # dit.export_adm: the image DiTs' ADM sample batches
        expand(rules.export_adm.output[0], dit=DIT_RUNS) if config["dit"]["export_adm"] else [],


rule all_figures:
    input:
        paper_outputs("figure"),
