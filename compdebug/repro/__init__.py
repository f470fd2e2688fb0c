"""Repro module and script text; saving and loading their inputs."""
