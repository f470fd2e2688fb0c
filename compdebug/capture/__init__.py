"""PLACEHOLDER (capture replaces this file)."""
def wrap_backend(backend, *, repro_after="dynamo"): raise NotImplementedError
