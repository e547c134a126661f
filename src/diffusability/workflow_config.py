"""The workflow's config: base file + scale overlay + user files/flags, checked before any job runs.

Precedence, lowest first: `config/config.yaml`, `config/scales/<scale>.yaml`, then whatever the user passed with
`--configfile` and `--config`. So `--config scale=paper ae.steps=500`-style ablations always win over the preset.
"""
from __future__ import annotations

import copy
from pathlib import Path

import jsonschema
import yaml

from .presets import VIDEO_AE_PRESETS

SCALES = ("smoke", "tiny", "small", "rehearsal", "paper")
# A scale whose overlay goes over another's: rehearsal is the paper overlay with only sizes cut (issue 17, Sec. 4).
SCALE_BASES = {"rehearsal": "paper"}


class ConfigError(ValueError):
    """A config problem, phrased as one sentence that names the key."""


def deep_merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in (over or {}).items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def _resolve_ref(schema: dict, root: dict) -> dict:
    while "$ref" in schema:  # local JSON pointers only ("#/$defs/posint", "#/properties/dit/properties/lr")
        node = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def _allows_string(schema: dict, root: dict) -> bool:
    schema = _resolve_ref(schema, root)
    if "anyOf" in schema or "oneOf" in schema:
        return any(_allows_string(s, root) for s in schema.get("anyOf", schema.get("oneOf")))
    if "enum" in schema:
        return any(isinstance(v, str) for v in schema["enum"])
    types = schema.get("type")
    return types is None or "string" in ([types] if isinstance(types, str) else types)


def _parse_scalar(text: str):
    """A command-line scalar as YAML reads it, with the numbers YAML 1.1 leaves as text ("1e-4") read as floats."""
    value = yaml.safe_load(text) if text.strip() else None
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def coerce_types(value, schema: dict, root: dict | None = None):
    """Snakemake hands nested `--config` values over as text (`seeds=[0, 1]` gives ['0', '1']), and YAML reads
    `1e-4` as text too. Read text as YAML wherever the schema does not take text there; everything else is kept."""
    root = schema if root is None else root
    schema = _resolve_ref(schema, root)
    if isinstance(value, str) and not _allows_string(schema, root):
        parsed = _parse_scalar(value)
        return value if isinstance(parsed, str) else coerce_types(parsed, schema, root)
    if isinstance(value, list):
        items = schema.get("items")
        return [coerce_types(v, items, root) for v in value] if isinstance(items, dict) else value
    if isinstance(value, dict):
        props, extra = schema.get("properties", {}), schema.get("additionalProperties")
        return {k: coerce_types(v, props[k], root) if k in props
                else coerce_types(v, extra, root) if isinstance(extra, dict) else v for k, v in value.items()}
    return value


def _key_path(path) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "<top level>"


def check_against_schema(config: dict, schema: dict) -> None:
    """Raise ConfigError naming the first offending key (jsonschema's most relevant error)."""
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(config))
    if not errors:
        return
    err = jsonschema.exceptions.best_match(errors)
    if err.validator == "additionalProperties":
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        key = ".".join(filter(None, [_key_path(err.absolute_path) if err.absolute_path else "", extra[0]]))
        raise ConfigError(f"config key {key} is not a known setting (check its spelling in config/config.yaml)")
    if err.validator == "enum":
        raise ConfigError(f"config key {_key_path(err.absolute_path)} is {err.instance!r}, "
                          f"but must be one of {', '.join(map(str, err.validator_value))}")
    key = _key_path(err.absolute_path)
    if err.validator == "uniqueItems":  # duplicates would name the same run twice and be counted twice
        raise ConfigError(f"config key {key} is {err.instance!r}, but must list each entry once")
    if err.validator == "contains" and "const" in err.validator_value:
        raise ConfigError(f"config key {key} is {err.instance!r}, but must contain {err.validator_value['const']}")
    raise ConfigError(f"config key {key}: {err.message}")


def check_video(config: dict) -> None:
    v = config["video"]
    if not v["enabled"]:
        return
    data, block = v["data"], int(config["spectrum"]["block"])
    if v["metrics"].get("i3d_weights") and v["metrics"].get("i3d_torchscript"):
        raise ConfigError("config keys video.metrics.i3d_weights and video.metrics.i3d_torchscript are both set, but "
                          "FVD has one feature network: set only one of them")
    if data["name"] == "videofolder" and not data.get("root"):
        raise ConfigError("config key video.data.root must name the video folder when video.data.name is videofolder")
    for i, m in enumerate(v["models"]):
        key = f"video.models[{i}]"
        res, comp, t = int(data["resolution"]), int(m["compression"]), VIDEO_AE_PRESETS[m["preset"]].temporal
        if res % comp or (res // comp) % block or (res // comp) % 2:
            raise ConfigError(f"config key {key}.compression={comp}: video.data.resolution={res} must give an even "
                              f"latent size divisible by spectrum.block={block}")
        if (int(data["frames"]) - 1) % t:
            raise ConfigError(f"config key video.data.frames is {data['frames']}, but {m['preset']} compresses time "
                              f"{t}x causally, so it needs 1 + k*{t} frames")
        for f in v["se"]["factors"]:
            if (res // comp) % f:
                raise ConfigError(f"config key video.se.factors has factor {f}, which does not divide the video "
                                  f"latent size {res // comp}")


def _check_extra_metrics(key: str, dit: dict) -> None:
    """The extra metrics need enough samples: IS one per split, precision/recall more than k per set."""
    if not dit.get("extra_metrics"):
        return
    from .metrics.sample_quality import ISC_SPLITS, PRC_NEIGHBOURS  # imports torch: only when extras are asked for
    n = int(dit["num_samples"])
    if "isc" in dit["extra_metrics"] and n < ISC_SPLITS and key == "dit":  # video has no IS (skipped, logged)
        raise ConfigError(f"config key dit.extra_metrics asks for isc, but {key}.num_samples={n} is fewer than its "
                          f"{ISC_SPLITS} splits")
    if "prc" in dit["extra_metrics"] and min(n, int(dit["reference_images"])) <= PRC_NEIGHBOURS:
        raise ConfigError(f"config key dit.extra_metrics asks for prc, but {key}.num_samples and "
                          f"{key}.reference_images must both exceed its k={PRC_NEIGHBOURS} neighbours")


def check_semantics(config: dict) -> None:
    """Rules a JSON schema cannot state (relations between keys)."""
    ae, data, spec = config["ae"], config["data"], config["spectrum"]
    comp, res = int(ae["compression"]), int(data["resolution"])
    if comp & (comp - 1):
        raise ConfigError(f"config key ae.compression is {comp}, but must be a power of two")
    if res % comp:
        raise ConfigError(f"config key data.resolution is {res}, which is not divisible by ae.compression={comp}")
    latent = res // comp
    if latent % int(spec["block"]):
        raise ConfigError(f"config key spectrum.block is {spec['block']}, which does not divide the latent size "
                          f"{latent} (data.resolution / ae.compression)")
    se = config["se"]
    for key, sets in (("se.factors", [se["factors"]]), ("se.ablation.factor_sets", se["ablation"]["factor_sets"])):
        for factors in sets:
            for f in factors:
                if latent % f:
                    raise ConfigError(f"config key {key} has factor {f}, which does not divide the latent size "
                                      f"{latent} (data.resolution / ae.compression)")
    if se["base"] == "pretrained" and not ae.get("pretrained"):
        raise ConfigError("config key se.base is 'pretrained', but ae.pretrained names no weights")
    if ae.get("pretrained") and ae["preset"] != "flux":
        raise ConfigError("config key ae.pretrained is set, but pretrained weights are only supported for "
                          "ae.preset=flux")
    if data["name"] == "imagefolder" and not data.get("root"):
        raise ConfigError("config key data.root must name the image folder when data.name is imagefolder")
    dit = config["dit"]
    if latent % 2:
        raise ConfigError(f"config key data.resolution gives an odd latent size {latent}, which DiT's patch size 2 "
                          "cannot tile (data.resolution / ae.compression must be even)")
    if dit["num_latents"] is None and data["name"] == "photos":
        raise ConfigError("config key dit.num_latents must be a number for the photos dataset (it has no fixed size)")
    if dit["norm_samples"] > (dit["num_latents"] or dit["norm_samples"]):
        raise ConfigError(f"config key dit.norm_samples is {dit['norm_samples']}, more than dit.num_latents "
                          f"({dit['num_latents']})")
    _check_extra_metrics("dit", dit)
    if config["video"]["enabled"]:
        _check_extra_metrics("video.dit", {**dit, **config["video"]["dit"]})
    if data["name"] == "photos":
        overlap = sorted(set(data["train_photos"]) & set(data["val_photos"]))
        if overlap:
            raise ConfigError(f"config keys data.train_photos and data.val_photos share {overlap}; "
                              "the split must be by photo")
    check_video(config)


def scale_overlays(config_dir: str | Path, scale) -> list[Path]:
    """The overlay files of a scale, applied in order: config/scales/<scale>.yaml after the overlays of the scale it
    builds on (SCALE_BASES); or one sentence saying why there is none."""
    if scale not in SCALES:
        raise ConfigError(f"config key scale is {scale!r}, but must be one of {', '.join(SCALES)}")
    overlay_file = Path(config_dir) / "scales" / f"{scale}.yaml"
    if not overlay_file.exists():
        raise ConfigError(f"config key scale is {scale!r}, but its overlay {overlay_file} does not exist")
    base = SCALE_BASES.get(scale)
    return [*(scale_overlays(config_dir, base) if base else []), overlay_file]


def check_config(merged: dict, schema: dict | None = None) -> dict:
    """A merged config (base < scale overlay < the user's) typed as the schema says, validated; a fresh dict."""
    merged = copy.deepcopy(merged)
    if schema is not None:
        merged = coerce_types(merged, schema)
        check_against_schema(merged, schema)
    check_semantics(merged)
    return merged


def resolve_config(base: dict, config_dir: str | Path, user_overrides: dict | None = None,
                   schema: dict | None = None) -> dict:
    """Merge base, the chosen scale's overlay and the user's overrides, as the workflow's configfile directives do
    (outside Snakemake: the cli/ entry points and tests); validate; return a fresh dict."""
    user_overrides = user_overrides or {}
    scale = user_overrides.get("scale", base.get("scale", "tiny"))
    merged = base
    for overlay_file in scale_overlays(config_dir, scale):
        merged = deep_merge(merged, yaml.safe_load(overlay_file.read_text()) or {})
    merged = deep_merge(merged, user_overrides)
    merged["scale"] = scale
    return check_config(merged, schema)


def load_schema(path: str | Path) -> dict:
    return yaml.safe_load(Path(path).read_text())
