"""wdsr_lib: the WDSR / EDSR reproduction study as layers: core (config, registries, the papers' numbers), models and
data, engine, store, study (profiles, plans, claims, verdicts, report), viz and cli (docs/design.md, "Layers")."""

__version__ = "0.1.0"
