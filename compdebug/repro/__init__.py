"""Repro module and script text; saving and loading their inputs."""

from compdebug.repro.module import module_text
from compdebug.repro.script import save, script_text
from compdebug.repro.target import ReproTarget
from compdebug.repro.tensors import load_tensors, save_tensors

__all__ = ["ReproTarget", "load_tensors", "module_text", "save", "save_tensors", "script_text"]
