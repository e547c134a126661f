"""Real photos from the wheels, split by photo; an ImageNet-style folder written by the test."""
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image

from diffusability.data import StepBatchSampler, build_dataset, describe_dataset
from diffusability.data.photos import PHOTO_NAMES, VIDEO_STILLS, load_photo
from diffusability.data.video import clip_path, clip_segments
from diffusability.runconfig import run_config_by_hand


def photos_cfg(**kw):
    cfg = run_config_by_hand("train_ae", ["out_dir=x"]).data
    for k, v in kw.items():
        cfg[k] = v
    return cfg


def test_all_photos_load_as_real_colour_images():
    for name in PHOTO_NAMES:
        img = load_photo(name)
        assert img.shape[0] == 3 and min(img.shape[1:]) >= (144 if name == "carphone" else 272)  # carphone: QCIF
        assert img.std() > 0.1 and (img[0] - img[2]).abs().mean() > 0.01  # colour, not grey


def test_video_stills_are_middle_frames_of_the_clips_training_shots():
    """The stills never come from the video track's validation time range, one per training shot."""
    video = run_config_by_hand("train_ae", ["out_dir=x"], modality="video").data
    segs, _ = clip_segments(list(video.clips), "train", float(video.train_fraction), float(video.cut_threshold))
    got = sorted((Path(clip_path(c)).name, f) for c, f in VIDEO_STILLS.values())
    assert got == sorted((Path(s.path).name, (s.begin + s.end) // 2) for s in segs)


def test_photo_crops_are_seeded_and_split_by_photo():
    cfg = photos_cfg(resolution=32)
    train, val = build_dataset(cfg, "train", 0), build_dataset(cfg, "val", 0)
    assert torch.equal(train[5][0], build_dataset(cfg, "train", 0)[5][0])
    assert not torch.equal(train[5][0], build_dataset(cfg, "train", 1)[5][0])
    assert train[3][0].shape == (3, 32, 32) and len(val) == 2 * cfg.val_crops_per_photo
    assert {train.photos[train[i][1]] for i in range(200)} <= set(cfg.train_photos)
    assert {val.photos[val[i][1]] for i in range(len(val))} == set(cfg.val_photos)
    bad = photos_cfg(val_photos=["coffee", "china"])
    with pytest.raises(ValueError, match="split must be by photo"):
        describe_dataset(bad)


def test_step_sampler_is_a_function_of_the_step():
    full = list(StepBatchSampler(4, 0, 10))
    resumed = list(StepBatchSampler(4, 6, 10))
    assert full[6:] == resumed


def write_folder(root, classes=2, per_class=3, size=(300, 200)):
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for c in range(classes):
            d = root / split / f"n0{c}"
            d.mkdir(parents=True)
            for i in range(per_class):
                arr = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
                Image.fromarray(arr).save(d / f"img{i}.{'png' if i % 2 else 'JPEG'}")


def test_imagefolder_centre_crops_to_resolution(tmp_path):
    write_folder(tmp_path)
    cfg = OmegaConf.create({"name": "imagefolder", "root": str(tmp_path), "train_dir": "train", "val_dir": "val",
                            "resolution": 256, "hflip": True, "num_workers": 0})
    info = describe_dataset(cfg)
    assert info["train"] == {"files": 6, "classes": 2}
    ds = build_dataset(cfg, "train", 0)
    x, y = ds[4]
    assert x.shape == (3, 256, 256) and -1 <= x.min() and x.max() <= 1 and y in (0, 1)
    assert sorted(ds._index(k) for k in range(6)) == list(range(6))  # an epoch visits each file once


def test_imagefolder_errors_name_the_path(tmp_path):
    cfg = OmegaConf.create({"name": "imagefolder", "root": str(tmp_path / "nope"), "train_dir": "train",
                            "val_dir": "val", "resolution": 64, "hflip": False, "num_workers": 0})
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "nope" / "train")):
        describe_dataset(cfg)
    write_folder(tmp_path / "ok", per_class=1)
    bad = tmp_path / "ok" / "train" / "n00" / "img0.JPEG"
    bad.write_bytes(b"not an image")
    cfg.root = str(tmp_path / "ok")
    ds = build_dataset(cfg, "val", 0)
    ds.files[0] = bad
    with pytest.raises(RuntimeError, match="img0.JPEG could not be read"):
        ds[0]


def test_imagefolder_splits_with_different_classes_are_refused(tmp_path):
    write_folder(tmp_path, per_class=1)
    cfg = OmegaConf.create({"name": "imagefolder", "root": str(tmp_path), "train_dir": "train", "val_dir": "val",
                            "resolution": 64, "hflip": False, "num_workers": 0})
    describe_dataset(cfg)
    extra = sorted((tmp_path / "val").iterdir())[0]
    extra.rename(extra.with_name("zzz_only_in_val"))
    with pytest.raises(ValueError, match=r"hold different classes \(.*zzz_only_in_val"):
        describe_dataset(cfg)
