"""Real models from small configs with random weights (no downloads), for tests and benchmarks.

HF `transformers` GPT-2, BERT, ResNet and ViT on any device; torchvision's
resnet18 where torchvision is installed (the GPU machine: its wheels for torch
2.13 need CUDA libraries, so it is not installed on CPU machines). Each
`RealModel` builds a fresh model and example inputs from a fixed seed, so two
processes build the same model. GPT-2, BERT and ViT use GELU; their `*_relu`
twins (same sizes, relu as the activation) are for bugs planted in relu, such as
Inductor's own relu code-generation bug.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable
from typing import Any

import attrs
import torch


@attrs.frozen
class RealModel:
    """A model builder: `build(device)` gives (model, example inputs as a tuple)."""

    name: str
    make: Callable[[], torch.nn.Module] = attrs.field(repr=False)
    make_inputs: Callable[[int], tuple[Any, ...]] = attrs.field(repr=False)  # batch size -> inputs
    needs: str = "transformers"  # the package that must be importable

    @property
    def available(self) -> bool:
        return importlib.util.find_spec(self.needs) is not None

    def build(
        self, device: str = "cpu", *, train: bool = False, batch: int = 2, seed: int = 0
    ) -> tuple[torch.nn.Module, tuple[Any, ...]]:
        torch.manual_seed(seed)
        model = self.make().to(device).train(train)
        inputs = tuple(x.to(device) if isinstance(x, torch.Tensor) else x for x in self.make_inputs(batch))
        return model, inputs


def _gpt2(activation: str = "gelu_new") -> torch.nn.Module:
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        n_layer=2, n_head=2, n_embd=64, vocab_size=128, n_positions=64, bos_token_id=0, eos_token_id=0,
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, activation_function=activation,
    )
    return _logits(GPT2LMHeadModel(config))


def _bert(activation: str = "gelu") -> torch.nn.Module:
    from transformers import BertConfig, BertModel

    config = BertConfig(
        num_hidden_layers=2, num_attention_heads=2, hidden_size=64, intermediate_size=128, vocab_size=128,
        max_position_embeddings=64, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, hidden_act=activation,
    )
    return _Field(BertModel(config), "last_hidden_state")


def _resnet() -> torch.nn.Module:
    from transformers import ResNetConfig, ResNetForImageClassification

    config = ResNetConfig(
        layer_type="basic", hidden_sizes=[32, 64, 128, 256], depths=[1, 1, 1, 1], embedding_size=32, num_labels=10
    )
    return _logits(ResNetForImageClassification(config))


def _vit(activation: str = "gelu") -> torch.nn.Module:
    from transformers import ViTConfig, ViTForImageClassification

    config = ViTConfig(
        image_size=32, patch_size=8, num_hidden_layers=2, num_attention_heads=2, hidden_size=64,
        intermediate_size=128, num_labels=10, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
        hidden_act=activation,
    )
    return _logits(ViTForImageClassification(config))


def _tiny_mlp() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 8), torch.nn.ReLU())


def _resnet18() -> torch.nn.Module:
    import torchvision

    return torchvision.models.resnet18(num_classes=10)


class _Field(torch.nn.Module):
    """`model(...)`'s output field `name` (HF models return dataclass-like outputs)."""

    def __init__(self, model: torch.nn.Module, name: str) -> None:
        super().__init__()
        self.model = model
        self.name = name

    def forward(self, *args: Any) -> torch.Tensor:
        return getattr(self.model(*args), self.name)


def _logits(model: torch.nn.Module) -> torch.nn.Module:
    return _Field(model, "logits")


def _tokens(batch: int, length: int = 16) -> tuple[torch.Tensor]:
    return (torch.randint(0, 128, (batch, length)),)


def _images(size: int) -> Callable[[int], tuple[torch.Tensor]]:
    return lambda batch: (torch.randn(batch, 3, size, size),)


MODELS: dict[str, RealModel] = {
    model.name: model
    for model in (
        RealModel("gpt2", _gpt2, _tokens),
        RealModel("bert", _bert, _tokens),
        RealModel("resnet", _resnet, _images(64)),
        RealModel("vit", _vit, _images(32)),
        RealModel("resnet18", _resnet18, _images(64), needs="torchvision"),
        # the transformers with relu as their activation (HF's own option), so that a relu bug reaches them
        RealModel("gpt2_relu", functools.partial(_gpt2, "relu"), _tokens),
        RealModel("bert_relu", functools.partial(_bert, "relu"), _tokens),
        RealModel("vit_relu", functools.partial(_vit, "relu"), _images(32)),
        # not a real model: the smallest graph with relus, for smoke tests of the benchmark's plumbing
        RealModel("tiny_mlp", _tiny_mlp, lambda batch: (torch.randn(batch, 16),), needs="torch"),
    )
}


def training_step(model: torch.nn.Module) -> Callable[..., torch.Tensor]:
    """A function that runs `model` forward and backward (sum of outputs as the loss) and returns the loss."""

    def step(*inputs: Any) -> torch.Tensor:
        loss = model(*inputs).float().sum()
        loss.backward()
        return loss.detach()

    return step
