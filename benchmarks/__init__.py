"""Benchmarks of compdebug's minifier against torch's own (`python -m benchmarks`).

See docs/benchmarks.md for what is measured, the commands and the figures.
"""
