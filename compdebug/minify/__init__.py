"""PLACEHOLDER (helper 3 replaces this file)."""
class Minifier: pass
class MinifyResult: pass
class CompileFailure: pass
class RuntimeFailure: pass
class AccuracyFailure: pass
