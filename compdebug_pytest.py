"""The `compdebug` pytest plugin's entry point: its options, and nothing else until one is given.

It lives outside the compdebug package on purpose: importing compdebug imports torch and
installs compdebug's compile hook, and a plain `pytest` run must change nothing. When a
--compdebug-* option is given, `compdebug.pytest_plugin` is loaded and does the work.
"""

from __future__ import annotations

from typing import Any

AFTER_CHOICES = ("dynamo", "aot")
DEFAULT_DIR = "compdebug_repro"


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("compdebug", "compdebug: capture failing torch.compile graphs, one folder per failing test")
    group.addoption(
        "--compdebug-after",
        choices=AFTER_CHOICES,
        default=None,
        help="capture failing compiled graphs after Dynamo (any backend) or after AOT Autograd (Inductor's graphs); "
        "each failing test gets a folder with repro.py",
    )
    group.addoption(
        "--compdebug-dir",
        default=None,
        metavar="DIR",
        help=f"where the per-test capture folders go (default: ./{DEFAULT_DIR}); implies --compdebug-after=dynamo",
    )
    group.addoption(
        "--compdebug-accuracy",
        action="store_true",
        default=False,
        help="also capture compiled results that differ from eager; implies --compdebug-after=dynamo",
    )


def pytest_configure(config: Any) -> None:
    after = config.getoption("compdebug_after")
    directory = config.getoption("compdebug_dir")
    accuracy = config.getoption("compdebug_accuracy")
    if after is None and directory is None and not accuracy:
        return  # idle: compdebug is not even imported
    from compdebug.pytest_plugin import CompdebugPlugin

    folder = config.invocation_params.dir / (directory or DEFAULT_DIR)
    plugin = CompdebugPlugin(after=after or "dynamo", directory=folder, accuracy=accuracy)
    config.pluginmanager.register(plugin, CompdebugPlugin.name)
