"""The backends and subsystems torch's CompilerBisector knows, and one bisect step (`Plan`) over them."""

from __future__ import annotations

from typing import Any

import attrs

from compdebug import _torch


@attrs.frozen
class Subsystem:
    """A part of a backend that can be switched off: applied many times (`change` None), or a setting.

    A setting (CompilerBisector's ConfigChange) "switches off" the subsystem by
    setting `field` of the config module `config_name` names to `value`.
    """

    backend: str
    name: str
    change: tuple[str, str, Any] | None = None  # (config name, field, value)

    @property
    def is_setting(self) -> bool:
        return self.change is not None

    @property
    def setting_text(self) -> str | None:
        """`torch._inductor.config.fallback_random = True` for a setting, else None."""
        if self.change is None:
            return None
        config_name, field, value = self.change
        return f"{_torch.bisect_setting_location(config_name)}.{field} = {value!r}"

    def setting_changes_something(self) -> bool:
        """Whether the setting differs from the value in force now (one that does not cannot fix anything)."""
        assert self.change is not None
        config_name, field, value = self.change
        return _torch.bisect_setting_value(config_name, field) != value


def backends() -> list[tuple[str, list[Subsystem]]]:
    """torch's backends in CompilerBisector's order (cheapest first), each with its subsystems in order."""
    return [
        (backend, [Subsystem(backend, name, change) for name, change in entries])
        for backend, entries in _torch.bisect_backends()
    ]


@attrs.frozen
class Plan:
    """One way to compile: `backend`, with the subsystems named in `off` switched off (settings applied),
    and, if `limit` is (subsystem, k), only the first k applications of that subsystem made."""

    backend: str | None  # None: the failure's own backend, whatever it is
    off: frozenset[str] = frozenset()
    limit: tuple[str, int] | None = None

    @property
    def is_full(self) -> bool:
        """Whether nothing is switched off: the backend as it is."""
        return not self.off and self.limit is None
