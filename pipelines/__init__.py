"""GitOps model pipeline: spec → data checks → train → index → evaluate → publish → promote."""

__version__ = "0.2.0"
