"""HCP Next Best Action engine: a plain library (no Dash) with a CLI: ``python -m engine``."""
