"""The paper map (config/paper_map.yaml): every figure and table we reproduce, the rule that builds it, its caption.

Light (no torch import): the Snakefile reads it to build `all_tables`, `all_figures` and the report's captions.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

KINDS = ("figure", "table")


@dataclass(frozen=True)
class PaperItem:
    id: str
    paper: str
    kind: str
    target: str
    caption: str
    scales: tuple[str, ...]
    choices: str
    video: bool = False
    zoo: bool = False  # built only when zoo.models names an autoencoder (issue 19)


def load_paper_map(path: str | Path) -> list[PaperItem]:
    """The items of the paper map, checked: unique ids, known kinds, every field present."""
    raw = yaml.safe_load(Path(path).read_text())
    items, seen = [], set()
    for i, entry in enumerate(raw.get("items") or []):
        missing = {"id", "paper", "kind", "target", "caption", "scales", "choices"} - set(entry)
        if missing:
            raise ValueError(f"{path}: item {i} lacks {sorted(missing)}")
        if entry["kind"] not in KINDS:
            raise ValueError(f"{path}: item {entry['id']!r} has kind {entry['kind']!r}; use figure or table")
        if entry["id"] in seen:
            raise ValueError(f"{path}: item id {entry['id']!r} appears twice")
        seen.add(entry["id"])
        items.append(PaperItem(**{**entry, "scales": tuple(entry["scales"]), "caption": " ".join(
            entry["caption"].split())}))
    return items


def items_of(items: list[PaperItem], kind: str, video: bool, zoo: bool = False) -> list[PaperItem]:
    """The items of one kind that this configuration builds (video items only with the video track on, AE-zoo items
    only when zoo.models is not empty)."""
    return [it for it in items if it.kind == kind and (video or not it.video) and (zoo or not it.zoo)]
