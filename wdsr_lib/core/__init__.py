"""The lowest layer, torch-free: the run configuration and its key (`config`), the model registry (`registry`), the
papers' published numbers (`paper`), environment settings (`env`), atomic files (`atomic`) and the one progress bar
(`progress`). Every other layer may import it; it imports no other layer (tests/test_layers.py)."""
