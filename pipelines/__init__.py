"""GitOps model pipeline: spec → data checks → train → index → evaluate → publish → promote."""

__version__ = "0.1.0"
