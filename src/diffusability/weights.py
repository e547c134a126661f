"""Reading a user's weights files (Inception for FID, I3D for FVD: the paper's generation metrics) without running
any code in them.

A `.pt`/`.pth` file is a pickle, and unpickling runs whatever it names: every such file is read here, with
`torch.load(weights_only=True)`, which only rebuilds tensors and containers. The config checks (before any job), the
FID feature space and the FVD network all read through `read_weights`, so all three refuse the same files in the
same words.
"""
from __future__ import annotations

from pathlib import Path

import torch

__all__ = ["WEIGHTS", "read_weights"]

# By config key: the tensor its file must hold to be what the key says, and what that is.
WEIGHTS = {"metrics.inception_weights": ("fc.weight", "a torch-fidelity Inception-v3 state dict"),
           "video.metrics.i3d_weights": ("logits.conv3d.weight", "an Inception-I3D state dict")}


def read_weights(path: str | Path, key: str) -> dict[str, torch.Tensor]:
    """The state dict in the file that config key `key` names (a plain dict, or one under 'state_dict').

    Memory-mapped where the file allows it (the zip format of torch >= 1.6), so that checking a file's tensor names
    reads none of its data. Raises ValueError, one sentence naming the key, for anything but the expected weights.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise ValueError(f"config key {key} names {path}, which is not a file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - a legacy (non-zip) file cannot be memory-mapped; anything else is bad
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - torch's own message would advise weights_only=False: never for us
            raise ValueError(f"config key {key} names {path}, which is not a state dict of tensors "
                             f"({type(err).__name__})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"config key {key} names {path}, which holds a {type(state).__name__}, not a state dict")
    tensor, what = WEIGHTS[key]
    if tensor not in state:
        raise ValueError(f"config key {key} names {path}, which is not {what} (no {tensor})")
    return state
