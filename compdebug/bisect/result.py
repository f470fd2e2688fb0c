"""`BisectResult`: which backend, subsystem and application first breaks a graph, and what it cost."""

from __future__ import annotations

from typing import Any

import attrs


@attrs.frozen
class BisectResult:
    """The answer of `compdebug.bisect`, named as torch's CompilerBisector names things.

    `backend`: the first backend of CompilerBisector's list (eager, aot_eager,
    aot_eager_decomp_partition, aot_eager_decomp_partition_crossref, inductor)
    that fails the same way, or None when none does (the bug is in the backend
    the failure names). `subsystem`: the first subsystem of that backend whose
    switching off makes the failure go ("lowerings", "decomposition",
    "post_grad_passes", "inductor_fallback_random", ...), or None.
    `application`: which application of that subsystem first brings the failure
    back (1-based; CompilerBisector's `bisect_number` is this minus one), None for
    a setting. `detail`: what was applied there, as torch describes it (the
    node of a lowering, the op of a decomposition, the pass), or the setting.
    """

    backend: str | None
    subsystem: str | None
    application: int | None
    detail: str | None
    queries: int  # compilations made (each compiles and runs the graph once)
    seconds: float
    applications: int | None = None  # how many times the subsystem was applied in all
    failure: str = ""  # how the graph fails
    passed: tuple[str, ...] = ()  # backends tried before `backend` that do not fail this way
    original_backend: str | None = None  # the backend the failure names
    steps: tuple[str, ...] = ()  # each query: what was switched off, what was seen, how long it took
    candidates: tuple[str, ...] = ()  # the subsystems of `backend` asked about (applied at all, or settings)

    def __str__(self) -> str:
        lines = [f"compdebug bisect: the graph fails {self.failure}".rstrip()]
        if self.passed:
            lines.append(f"  not failing this way: {', '.join(self.passed)}")
        if self.backend is None:
            lines.append(
                f"  no backend of torch's bisect list fails this way: the failure is in {self.original_backend} itself"
            )
        else:
            lines.append(f"  first failing backend: {self.backend}")
            lines.append(f"  subsystem: {self._subsystem_text()}")
            if self.detail is not None:
                lines.append(f"  at fault: {self.detail}")
        lines.append(f"  {self.queries} queries, {self.seconds:.1f} s:")
        lines += [f"    {i}. {step}" for i, step in enumerate(self.steps, start=1)]
        return "\n".join(lines)

    def summary(self) -> str:
        """One line: backend / subsystem / application (detail)."""
        if self.backend is None:
            return f"no backend of torch's bisect list fails this way (only {self.original_backend})"
        parts = [self.backend]
        if self.subsystem is not None:
            parts.append(self.subsystem)
        if self.application is not None:
            parts.append(f"application {self.application} of {self.applications}")
        text = " / ".join(parts)
        return f"{text}: {self.detail}" if self.detail is not None else text

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe fields."""
        return attrs.asdict(self)

    def _subsystem_text(self) -> str:
        if self.subsystem is None and not self.candidates:
            return f"none to bisect (torch's bisect list has no subsystem of {self.backend} that this graph uses)"
        if self.subsystem is None:
            return f"none identified: the failure stays whichever of {', '.join(self.candidates)} is switched off"
        if self.application is None:
            return self.subsystem
        return f"{self.subsystem}, application {self.application} of {self.applications}"
