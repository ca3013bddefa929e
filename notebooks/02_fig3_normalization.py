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
# # WDSR Figure 3: weight normalisation vs batch normalisation vs none
#
# > "The results in Figure 3 show that the model trained with weight normalization has faster convergence and better accuracy. The model trained with batch normalization is unstable during testing." (WDSR paper, Sec. 4.2, **Figure 3**)
#
# One WDSR-A model trained three times: weight norm at lr 1e-3, batch norm and no normalisation at lr 1e-4 (each at its maximum convergent rate, WDSR Sec. 4).

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
# The plan: the same model with each normalisation.

# %%
plan = plans.fig3(profile, seeds)
plans.label_frame(plan)

# %% [markdown]
# Train what the store lacks.

# %%
frames.run_plan(plan, results_dir)
missing = frames.missing_frame(plan, results_dir)  # planned runs not in the store: their claims stay undecided
plan = frames.available(plan, results_dir)  # all of it, or with --store-only what the store holds

# %% [markdown]
# Training L1 loss and validation PSNR logged during training (long form, from `collect`).

# %%
history = frames.history_frame(plan, results_dir)
final = frames.final_frame(plan, results_dir)
final[["norm", "lr", "arm", "seed", "endpoint", "converged", "psnr", "bicubic_psnr", "params"]]

# %% [markdown]
# Figure 3: loss and validation PSNR against iterations.

# %%
fig = plots.training_curves(history, hue="norm", order=["weight", "batch", "none"], style="lr",
                            title="WDSR Figure 3: WDSR-A with weight / batch / no normalisation")
plots.save_figure(fig, figures_dir, "fig3_normalization")

# %% [markdown]
# The claim: WN faster (mean validation PSNR over the first half) and higher (final validation PSNR).

# %%
noise = frames.measure_noise(profile, results_dir)
images = frames.image_frame(plan, results_dir)  # the final model on every test image: seeds x images
judged = claims.fig3_claims(final, history, data, noise, images=images, missing=missing)
report.write_claims(results_dir, "fig3", judged, profile)
report.verdict_table(judged)

# %% [markdown]
# ## Verdict
#
# Computed by `wdsr_lib.study.report` from the curves above (sample photos: directions only).

# %%
print(report.format_verdicts(judged))
