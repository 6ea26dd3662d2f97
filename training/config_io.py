"""YAML files and ``section.key=value`` overrides for the training configurations (PoseBERT, MoCap-SPIN).

Each configuration module keeps its own typed dataclasses and ``config_from_dict`` (which rejects unknown
keys); this module only moves plain dicts to and from YAML and applies command-line overrides to them.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

__all__ = ["load_yaml", "save_yaml", "apply_overrides_to_dict", "from_known_keys"]


def load_yaml(path: str | Path) -> dict[str, Any]:
    with open(path) as f:
        return yaml.safe_load(f) or {}


def save_yaml(d: dict[str, Any], path: str | Path) -> Path:
    """Write ``d`` (key order kept), creating folders; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(d, sort_keys=False))
    return path


def apply_overrides_to_dict(d: dict[str, Any], overrides: list[str],
                            open_key: Callable[[list[str]], bool] = lambda parts: False) -> dict[str, Any]:
    """Set each ``section.key=value`` of ``overrides`` in ``d`` (value parsed as YAML, e.g. ``train.steps=100``,
    ``data.train_subjects=[001,005]``).

    Args:
        open_key: True for dotted keys (as a list of parts) that may be new (free-form sub-dicts).

    Raises:
        ValueError: an item without ``=``, or a key the configuration does not have.
    """
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override '{item}' is not key=value")
        key, val = item.split("=", 1)
        parts = key.strip().split(".")
        node = d
        for p in parts[:-1]:
            if p not in node or not isinstance(node[p], dict):
                raise ValueError(f"unknown config key '{key}'")
            node = node[p]
        if parts[-1] not in node and not open_key(parts):
            raise ValueError(f"unknown config key '{key}'")
        node[parts[-1]] = yaml.safe_load(val)
    return d


def from_known_keys(cls: type, value: Any) -> Any:
    """``value`` as a ``cls`` dataclass: a dict is turned into one, keeping only the keys ``cls`` has (checkpoints
    written by older or newer code may carry others); an instance is returned as it is."""
    if isinstance(value, dict):
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in value.items() if k in known})
    return value
