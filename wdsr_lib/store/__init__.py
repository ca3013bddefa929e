"""The results store: one folder per run keyed by its canonical config (`runs`), the checks before anything is
written (`preflight`), and starting a run from a stored run's weights (`init_from`). Above the engine, which it
calls to train; below the study (docs/design.md)."""
