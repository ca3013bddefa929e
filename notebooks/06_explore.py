# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     notebook_metadata_filter: -jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Explore the results store: pick runs, train a variant, compare curves and pictures
#
# The five study notebooks regenerate the papers' artefacts; this one is for your own questions. Pick stored runs
# by model, blocks, norm, profile and seed, overlay their validation curves (mean over seeds with a 95% band),
# define a new variant in one cell — any `build_model` option of WDSR Sec. 3 / EDSR Sec. 3 — train it into the
# store at a profile of your choice, and compare it with the stored runs in numbers and in pictures.
#
# Nothing here is part of `wdsr reproduce`; runs trained here are ordinary store entries (a second run of this
# notebook loads them instead of training again). Edit `06_explore.py`, then `make notebooks` (see `notebooks/README.md`).

# %% tags=["parameters"]
profile = "quick"  # smoke | quick | cpu | paper: the runs to show and the profile the variant trains at
results_dir = "results"  # the results store (relative: against the project root)
figures_dir = "figures"  # where the qualitative figure goes
seeds = None  # None: every stored seed; or e.g. [0, 1]
image = None  # a path to your own photo for the last comparison; None: a held-out photo of the profile
pictures_profile = "cpu"  # whose Table 1 models the pictures show: git keeps cpu's seed-0 weights (showcase runs)

# %% [markdown]
# Relative `results_dir` / `figures_dir` resolve against the project root (`$WDSR_ROOT`, else the folder holding this project's `pyproject.toml`), so JupyterLab, papermill and nbval use the same store. `WDSR_PROFILE`, `WDSR_RESULTS_DIR` and `WDSR_FIGURES_DIR` override the parameters when set (the tests).

# %%
from wdsr_lib.viz import explore, qualitative
from wdsr_lib.study import notebook_env, plans
from wdsr_lib.core.config import ModelConfig

profile = notebook_env.profile_from_env(profile)
results_dir = notebook_env.results_dir_from_env(results_dir)
figures_dir = notebook_env.figures_dir_from_env(figures_dir)
print(f"profile {profile}; results in {results_dir}; figures in {figures_dir}")

# %% [markdown]
# ## What the store holds
#
# One row per model setting and profile (seeds pooled): final validation PSNR, x8 self-ensemble where it was
# measured, bicubic, parameters. `profile` is the profile whose data settings a run was trained with.

# %%
runs = explore.runs_frame(results_dir)
explore.final_table(runs)

# %% [markdown]
# ## A new variant, in one cell
#
# Any `ModelConfig` field is a `build_model` option: `name` (edsr, wdsr_a, wdsr_b, mdsr, ...), `scale`,
# `n_resblocks`, `n_feats`, `block_feats` (WDSR-A w), `expansion` / `low_rank` / `low_rank_relu` (WDSR-B e, l),
# `res_scale`, `norm` (weight | batch | none), `mean_shift`. Recipe fields (`lr`, `loss`, ...) go to
# `variant_config`. Here: WDSR-B with e = 4 at 3 blocks, its low rank l solved so that a block keeps the
# parameters of the official e = 6, l = 0.8 (WDSR Sec. 3.2).

# %%
variant = ModelConfig(name="wdsr_b", n_resblocks=3, expansion=4.0, low_rank=plans.wdsr_b_equal_budget(4.0))
config = explore.variant_config(variant, profile, seed=0)
explore.describe(config), config.run_name()

# %% [markdown]
# Train it into the store at the chosen profile (a progress bar while it trains; a finished run loads at once).

# %%
record = explore.train_variant(config, results_dir)

# %% [markdown]
# ## Choose runs and compare
#
# `explore.choose` filters the store's long-form frame: a value or a list per column, `None` for any. Here: the
# three Table 1 families at the variant's depth with weight norm, at this profile — the variant among them.

# %%
runs = explore.runs_frame(results_dir)
chosen = explore.choose(runs, model=["edsr", "wdsr_a", "wdsr_b"], blocks=variant.n_resblocks, norm="weight",
                        scale=variant.scale, profile=profile, seed=seeds)
explore.final_table(chosen, highlight=record.name)

# %% [markdown]
# Validation PSNR during training: the mean over seeds with its 95% t-interval (one seed: no band).

# %%
explore.show(explore.curves_figure(chosen))

# %% [markdown]
# The same, with pickers (JupyterLab with ipywidgets, `make lab`); headless runs print a hint instead.

# %%
explore.pickers(runs)

# %% [markdown]
# ## Pictures
#
# The Table 1 models of `pictures_profile` on held-out photos: HR, bicubic, EDSR, WDSR-A, WDSR-B and WDSR-B's x8
# self-ensemble, each crop labelled with its PSNR; the crop is where the models' errors differ most
# (`wdsr_lib/viz/qualitative.py`), at the deepest budget whose seed-0 runs all have their weights here. A fresh
# clone has the CPU study's showcase weights (`tools/showcase.py`); other runs' weights come back with
# `wdsr rebuild <run name>`. Skipped, with a message naming the runs, when none is here.

# %%
explore.show(qualitative.profile_figure(pictures_profile, results_dir, figures_dir))

# %% [markdown]
# Your own photo (`image` above; it is the HR, its LR made with the MATLAB bicubic) through the chosen runs, the
# variant (also as x8 self-ensemble) and the showcase runs whose weights are here.

# %%
runs_to_show = explore.run_dirs(chosen, results_dir) + qualitative.showcase_runs(results_dir, with_weights=True)
explore.show(qualitative.compare_image(image, runs_to_show, results_dir, ensemble=record.run_dir, profile=profile))
