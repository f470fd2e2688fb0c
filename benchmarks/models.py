"""Small real models and the two ways the corpus captures their graphs.

`capture_dynamo` takes the graph Dynamo hands a backend (torch functions,
modules' parameters as inputs); `capture_aot` the inference graph AOT Autograd
hands its forward compiler (aten ops), with the real inputs it is called with.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.fx as fx
from torch import nn

# checked on torch 2.13 (CPU): torch._dynamo.backends.common.aot_autograd with a
# forward compiler, called with the flat list of real inputs at run time.
from torch._dynamo.backends.common import aot_autograd


class MLP(nn.Module):
    def __init__(self, width: int = 64, depth: int = 4) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for _ in range(depth):
            layers += [nn.Linear(width, width), nn.ReLU(), nn.LayerNorm(width)]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.head(self.body(x)), dim=-1)


class SmallCNN(nn.Module):
    def __init__(self, channels: int = 8) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, channels, 3, padding=1), nn.BatchNorm2d(channels), nn.ReLU(),
            nn.Conv2d(channels, 2 * channels, 3, padding=1), nn.BatchNorm2d(2 * channels), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(2 * channels, 2 * channels, 3, padding=1), nn.BatchNorm2d(2 * channels), nn.SiLU(),
        )
        self.head = nn.Linear(2 * channels, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean(dim=(2, 3)))


def transformer(d_model: int = 32, layers: int = 2) -> nn.Module:
    """A stack of `layers` nn.TransformerEncoderLayer (batch first, eval mode: no dropout)."""
    layer = nn.TransformerEncoderLayer(d_model, nhead=4, dim_feedforward=2 * d_model, batch_first=True)
    return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)


MODELS: dict[str, tuple[Callable[[], nn.Module], Callable[[], torch.Tensor]]] = {
    "mlp": (MLP, lambda: torch.randn(16, 64)),
    "cnn": (SmallCNN, lambda: torch.randn(2, 3, 16, 16)),
    "transformer": (transformer, lambda: torch.randn(2, 8, 32)),
}


def make_model(name: str, device: str, seed: int) -> tuple[nn.Module, torch.Tensor]:
    """The model `name` in eval mode and one example input, both on `device`, from `seed`."""
    build, example = MODELS[name]
    torch.manual_seed(seed)
    model = build().eval().to(device)
    return model, example().to(device)


@contextlib.contextmanager
def _no_fastpath() -> Iterator[None]:
    """Keep nn.TransformerEncoderLayer off its fused inference kernel, so graphs show its real ops."""
    before = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        torch.backends.mha.set_fastpath_enabled(before)


def capture_dynamo(model: nn.Module, x: torch.Tensor) -> tuple[fx.GraphModule, list[Any]]:
    """The one graph Dynamo captures for model(x), and the real inputs it was given."""
    graphs: list[tuple[fx.GraphModule, list[Any]]] = []

    def capture(gm: fx.GraphModule, example_inputs: list[Any]) -> Callable[..., Any]:
        graphs.append((gm, list(example_inputs)))
        return gm.forward

    torch._dynamo.reset()
    with _no_fastpath(), torch.no_grad():
        torch.compile(model, backend=capture, fullgraph=True)(x)
    torch._dynamo.reset()
    return graphs[0]


def capture_aot(model: nn.Module, x: torch.Tensor) -> tuple[fx.GraphModule, list[Any]]:
    """The inference graph AOT Autograd produces for model(x), and the real inputs it runs on."""
    captured: list[Any] = []

    def forward_compiler(gm: fx.GraphModule, example_inputs: list[Any]) -> Callable[..., Any]:
        def run(*args: Any) -> Any:
            if len(captured) == 1:
                captured.append([a.detach().clone() if isinstance(a, torch.Tensor) else a for a in args])
            return gm(*args)

        captured.append(gm)
        return run

    torch._dynamo.reset()
    with _no_fastpath(), torch.no_grad():
        torch.compile(model, backend=aot_autograd(fw_compiler=forward_compiler), fullgraph=True)(x)
    torch._dynamo.reset()
    gm, inputs = captured
    return gm, inputs
