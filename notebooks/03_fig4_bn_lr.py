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
# # WDSR Figure 4: batch normalisation at three learning rates
#
# > "Even with lr = 1e-4 when the training curves are stable, the validation PSNR is still not stable across training." (WDSR paper, Sec. 4.2, **Figure 4**)
#
# The Figure 3 model with batch norm at lr 1e-3, 1e-4 and 1e-5; the weight-norm run of Figure 3 is the stable reference.

# %% tags=["parameters"]
profile = "quick"  # smoke | quick | cpu | paper (wdsr_lib.study.profiles)
results_dir = "results"  # the results store (runs/, tables/, claims/)
figures_dir = "figures"  # PNG + PDF figures
seeds = None  # None: the profile's seeds

# %% [markdown]
# Relative `results_dir` / `figures_dir` resolve against the project root (`$WDSR_ROOT`, else the folder holding this project's `pyproject.toml`), so JupyterLab, papermill and nbval use the same store. Environment overrides for `pytest --nbval-lax` (`WDSR_PROFILE`, `WDSR_RESULTS_DIR`, `WDSR_FIGURES_DIR`); the papermill pipeline does not set them, so its parameters win.

# %%
from wdsr_lib.study import claims, frames, notebook_env, plans, report
from wdsr_lib.viz import plots

profile, results_dir, figures_dir = notebook_env.setup(profile, results_dir, figures_dir)
data = report.data_description(profile)
print("data:", data)

# %% [markdown]
# The plan: three learning rates, plus the weight-norm reference (shared with Figure 3).

# %%
plan = plans.fig4(profile, seeds)
reference = plans.fig4_reference(profile, seeds)
plans.label_frame(plan)

# %% [markdown]
# Train what the store lacks.

# %%
frames.run_plan(plan, results_dir)
frames.run_plan(reference, results_dir)
missing = frames.missing_frame([*plan, *reference], results_dir)  # planned runs not in the store: claims stay undecided
plan, reference = frames.available(plan, results_dir), frames.available(reference, results_dir)  # --store-only

# %% [markdown]
# Curves from the store.

# %%
history = frames.history_frame(plan, results_dir)
reference_history = frames.history_frame(reference, results_dir)
final = frames.final_frame(plan, results_dir)
reference_final = frames.final_frame(reference, results_dir)
final[["lr", "seed", "endpoint", "psnr", "psnr_bn_train_mode", "bicubic_psnr"]]

# %% [markdown]
# Figure 4: loss and validation PSNR against iterations for each learning rate.

# %%
fig = plots.training_curves(history, hue="lr", hue_format="lr = {:g}",
                            title="WDSR Figure 4: WDSR-A with batch norm at three learning rates")
plots.save_figure(fig, figures_dir, "fig4_bn_lr")

# %% [markdown]
# Instability: the maximum drawdown of validation PSNR over the last half of training (how far it falls back from its running best), BN at 1e-4 against weight norm.

# %%
judged = claims.fig4_claims(final, history, reference_final, reference_history, data,
                            images=frames.image_frame(plan, results_dir), missing=missing)
report.write_claims(results_dir, "fig4", judged, profile)
report.verdict_table(judged)

# %% [markdown]
# ## Verdict
#
# Computed by `wdsr_lib.study.report` (sample photos: directions only).

# %%
print(report.format_verdicts(judged))
