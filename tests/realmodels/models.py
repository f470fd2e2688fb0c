"""The real models of the corpus (benchmarks/real_models.py), with relu where Inductor's codegen bug lives.

Inductor's built-in testing bugs (`inject.stage="codegen"`) live in its relu
kernel only; GPT-2, BERT and ViT use GELU, so their activations become ReLU
here (ResNet has ReLU of its own).
"""

from __future__ import annotations

from typing import Any

import torch

from benchmarks.real_models import MODELS, training_step

__all__ = ["build", "training_step"]


def build(name: str, *, train: bool = False, batch: int = 1) -> tuple[torch.nn.Module, tuple[Any, ...]]:
    """`MODELS[name].build("cpu", ...)` with every GELU activation replaced by ReLU."""
    model, inputs = MODELS[name].build("cpu", train=train, batch=batch)
    return with_relu(model), inputs


def with_relu(model: torch.nn.Module) -> torch.nn.Module:
    for module in list(model.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, torch.nn.GELU) or type(child).__name__.endswith("GELUActivation"):
                setattr(module, child_name, torch.nn.ReLU())
    return model
