"""Self-describing weights: safetensors files whose metadata hold the config to rebuild the model.

Metadata keys: format="stccl", kind (e.g. "generator"), config (JSON of the dataclass),
stccl_version, plus any extra JSON values. Nothing is ever unpickled.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any, Callable, Mapping

import torch

from .. import __version__
from ..typed import to_dict
from ..errors import WeightsError
from ..fs import atomic_path
from ..weights import find_weights  # noqa: F401  (re-exported)


_WRAPPERS = ("state_dict", "model", "net", "network")


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint file, unwrapped and without a ``module.`` prefix."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    if path.stat().st_size == 0:
        raise WeightsError(f"{path}: cannot read weights (the file is empty)")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch and safetensors raise many types for a foreign file
        text = str(e)
        if type(e).__name__ == "UnpicklingError" and "weights only load failed" in text.lower():
            if "global" in text.lower():  # it names code or classes to import: a general pickle
                raise WeightsError(
                    f"{path} is a pickle that holds more than tensors, and stccl does not load "
                    "pickles for safety (they can run code); if you trust it, load it yourself "
                    "(torch.load(path, weights_only=False)) and save its state dict with "
                    "safetensors.torch.save_file, then pass that file") from None
            why = re.search(r"Unsupported [^\n]*", text)
            raise WeightsError(f"{path}: cannot read weights (not a PyTorch or safetensors file: "
                               f"{why[0] if why else 'torch.load refused it'})") from None
        raise WeightsError(f"{path}: cannot read weights ({type(e).__name__}: {_first_sentence(e)})") from None
    for key in _WRAPPERS:
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path}: not a state dict of tensors")
    return {k.removeprefix("module."): v for k, v in state.items()}


def _first_sentence(e: Exception, limit: int = 200) -> str:
    """The first sentence of an exception's message, on one line, whole up to `limit` chars."""
    text = " ".join(str(e).split())
    cut = text.find(". ")
    text = text[:cut + 1] if cut >= 0 else text
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " ..."


def fit_problems(own: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor],
                 optional: Callable[[str], bool] = lambda key: False) -> list[str]:
    """What keeps `state` from loading into a model whose state dict is `own`, counted, with
    the first tensor of another shape named (its shape in the model and in the file); empty
    when it fits. Keys for which `optional(key)` holds may be missing."""
    missing = [k for k in own if k not in state and not optional(k)]
    unexpected = [k for k in state if k not in own]
    shapes = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
    problems = []
    if shapes:
        k = shapes[0]
        problems.append(f"{_n(len(shapes), 'tensor')} of another shape (first {k}: the model's "
                        f"{tuple(own[k].shape)}, the file's {tuple(state[k].shape)})")
    if missing:
        problems.append(f"{_n(len(missing), 'missing key')} {_few(missing)}")
    if unexpected:
        problems.append(f"{_n(len(unexpected), 'unexpected key')} {_few(unexpected)}")
    return problems


def _n(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def save_model(model: torch.nn.Module, cfg: Any, path: str | Path, *, kind: str,
               extra: dict | None = None) -> None:
    """Write `model`'s weights and `cfg` to a safetensors file, atomically."""
    from safetensors.torch import save_file

    meta = {"format": "stccl", "kind": kind, "config": json.dumps(to_dict(cfg)),
            "stccl_version": __version__}
    meta.update({k: json.dumps(v) for k, v in (extra or {}).items()})
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata=meta)


def read_metadata(path: str | Path) -> dict:
    """The metadata of an stccl safetensors file, with `config` parsed."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = dict(f.metadata() or {})
    except Exception as e:  # safetensors raises several types for a file that is not its format
        raise WeightsError(f"{path}: not a safetensors file ({type(e).__name__}); stccl's models "
                           "are safetensors files written by `stccl train`") from None
    if meta.get("format") != "stccl" or "config" not in meta:
        raise WeightsError(f"{path}: not an stccl weights file (no stccl metadata)")
    try:
        meta["config"] = json.loads(meta["config"])
    except json.JSONDecodeError:
        meta["config"] = None
    if not isinstance(meta["config"], dict):
        raise WeightsError(f"{path}: its metadata 'config' is not a JSON object (the file is damaged "
                           "or was edited); export the model again with `stccl train`")
    return meta


def load_state(path: str | Path, model: torch.nn.Module, device: str | torch.device = "cpu") -> None:
    """Load weights into `model` strictly; one-line errors count the missing, unexpected and
    wrong-shaped tensors and name the first of each."""
    from safetensors.torch import load_file

    try:
        state = load_file(str(path), device=str(device))
    except Exception as e:  # a cut or damaged file whose header still reads
        raise WeightsError(f"{path}: cannot read weights ({type(e).__name__}: {_first_sentence(e)})") from None
    problems = fit_problems(model.state_dict(), state)
    if problems:
        raise WeightsError(f"{path}: weights do not fit the model: {'; '.join(problems)}")
    model.load_state_dict(state)


def _few(keys: list[str], n: int = 3) -> str:
    more = f" (+{len(keys) - n} more)" if len(keys) > n else ""
    return ", ".join(keys[:n]) + more


@dataclass(frozen=True)
class ModelKind:
    """How to rebuild one kind of model: its config, its class, and what it is called in errors."""

    config: str  # "module:Name" in stccl.models, imported when loaded
    model: str
    label: str


# One entry per kind of model that stccl saves; `load_model` rebuilds any of them.
KINDS: dict[str, ModelKind] = {
    "generator": ModelKind("config:GeneratorConfig", "generator:Generator", "a generator"),
    "metric": ModelKind("config:MetricConfig", "correlation:CorrelationMetric", "a correlation metric"),
    "classifier": ModelKind("config:ClassifierConfig", "classifier:EmotionClassifier",
                            "an emotion classifier"),
}


def load_model(kind: str, path: str | Path, device: str | torch.device = "cpu"):
    """(model in eval mode, its config, metadata) rebuilt from an stccl safetensors file.

    `metadata["steps"]` is how many training steps the weights have seen (0 = untrained), and
    any other JSON metadata (e.g. `emotions`, the logits' names) is parsed.
    """
    from ..typed import from_dict

    spec = KINDS[kind]
    meta = read_metadata(path)
    if meta.get("kind") != kind:
        raise WeightsError(f"{path}: holds a {meta.get('kind')!r} model, not {spec.label}")
    cfg = from_dict(_symbol(spec.config), meta["config"], f"{path} config")
    model = _symbol(spec.model)(cfg)
    load_state(path, model, device)
    return model.to(device).eval(), cfg, parse_metadata(meta, path)


def parse_metadata(meta: dict, path: str | Path) -> dict:
    """`read_metadata`'s dict with its JSON values parsed and `steps` a whole number (0 = untrained)."""
    for key, value in meta.items():
        if key not in ("format", "kind", "config", "stccl_version") and isinstance(value, str):
            try:
                meta[key] = json.loads(value)
            except json.JSONDecodeError:
                pass
    try:
        meta["steps"] = int(meta.get("steps", 0))
    except (TypeError, ValueError):
        raise WeightsError(f"{path}: its metadata 'steps' is not a whole number: {meta['steps']!r}") from None
    return meta


def _symbol(ref: str):
    module, name = ref.split(":")
    return getattr(import_module(f"{__package__}.{module}"), name)


def load_generator(path: str | Path, device: str | torch.device = "cpu"):
    """(Generator, GeneratorConfig, metadata): `load_model("generator", ...)`."""
    return load_model("generator", path, device)


def trained_window(meta: dict) -> int | None:
    """The window length a metric was trained on, from `load_metric`'s metadata (None: unknown)."""
    data = meta.get("data")
    return int(data["window"]) if isinstance(data, dict) and "window" in data else None


def load_metric(path: str | Path, device: str | torch.device = "cpu"):
    """(CorrelationMetric, MetricConfig, metadata): `load_model("metric", ...)`."""
    return load_model("metric", path, device)


def load_classifier(path: str | Path, device: str | torch.device = "cpu"):
    """(EmotionClassifier, ClassifierConfig, metadata): `load_model("classifier", ...)`;
    `metadata["emotions"]` (when present) names the logits in order."""
    return load_model("classifier", path, device)
