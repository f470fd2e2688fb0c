"""PLACEHOLDER (helper 1 replaces this file)."""
class ExplainOutput: pass
class ExplainWithBackend: pass
