# Dataset check and manifest: fails fast (naming the missing path) before any training starts.


rule dataset_manifest:
    output:
        f"{R}/data/manifest.json",
    log:
        f"logs/{SCALE}/dataset_manifest.log",
    params:
        data=config["data"],
    localrule: True
    script:
        "../scripts/dataset_manifest.py"
