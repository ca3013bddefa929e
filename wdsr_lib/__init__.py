"""wdsr_lib: models, data, metrics, engine and results store for the WDSR / EDSR reproduction study."""

__version__ = "0.1.0"
