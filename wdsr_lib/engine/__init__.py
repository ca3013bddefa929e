"""Training and evaluation engine: `train(cfg, run_dir)`, tiled / self-ensembled evaluation, checkpoints."""
