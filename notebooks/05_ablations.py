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
# # WDSR Sec. 3.1 / 3.2 ablations: expansion ratio, low-rank convolution
#
# > "When the expansion ratio is above 4, channels of the identity mapping pathway have to be further slimmed and we find it dramatically deteriorates accuracy." (Sec. 1, 3.1)
#
# > "[WDSR-B] has even wider activation (6x to 9x) without additional parameters or computation." "We find adding ReLU activation in linear low-rank convolutions significantly reduces accuracy." (Sec. 3.2)
#
# WDSR-A with r = 1, 2, 4, 6, 8 at F*w ~ 64^2; WDSR-B with e = 2, 4, 6, 9 and the low rank l solved so that each block keeps the e=6, l=0.8 budget; WDSR-B with and without a ReLU in the low-rank pair.

# %% tags=["parameters"]
profile = "quick"  # smoke | quick | cpu | paper (wdsr_lib.study.profiles)
results_dir = "results"  # the results store (runs/, tables/, claims/)
figures_dir = "figures"  # PNG + PDF figures
seeds = None  # None: the profile's seeds

# %% [markdown]
# Relative `results_dir` / `figures_dir` resolve against the project root (`$WDSR_ROOT`, else the folder holding this project's `pyproject.toml`), so JupyterLab, papermill and nbval use the same store. Environment overrides for `pytest --nbval-lax` (`WDSR_PROFILE`, `WDSR_RESULTS_DIR`, `WDSR_FIGURES_DIR`); the papermill pipeline does not set them, so its parameters win.

# %%
from wdsr_lib.study import claims, frames, labels, notebook_env, plans, report
from wdsr_lib.viz import plots

profile, results_dir, figures_dir = notebook_env.setup(profile, results_dir, figures_dir)
data = report.data_description(profile)
print("data:", data)

# %% [markdown]
# The plan; the equal-budget widths come from `plans.wdsr_a_equal_budget` and `plans.wdsr_b_equal_budget`.

# %%
plan = plans.ablations(profile, seeds)
plans.label_frame(plan)

# %% [markdown]
# Train what the store lacks.

# %%
frames.run_plan(plan, results_dir)
missing = frames.missing_frame(plan, results_dir)  # planned runs not in the store: their claims stay undecided
plan = frames.available(plan, results_dir)  # all of it, or with --store-only what the store holds

# %% [markdown]
# Final metrics: the parameter counts show the budgets are equal (within a few percent).

# %%
final = frames.final_frame(plan, results_dir)
images = frames.image_frame(plan, results_dir)  # the final model on every test image: seeds x images
final[["study", "r", "n_feats", "block_feats", "e", "low_rank", "relu", "params", "psnr"]]

# %% [markdown]
# WDSR-A: PSNR against the expansion ratio r.

# %%
fig = plots.ablation_figure(labels.rows_where(final, study="wdsr_a_ratio"), "r", "expansion r = w / F (F*w ~ 64^2)",
                            "WDSR-A expansion at equal parameters (Sec. 3.1)", reference=4)
plots.save_figure(fig, figures_dir, "ablation_wdsr_a_ratio")

# %% [markdown]
# WDSR-B: PSNR against the expansion e at equal block budget.

# %%
fig = plots.ablation_figure(labels.rows_where(final, study="wdsr_b_expansion"), "e", "expansion e (low rank l solved for equal parameters)",
                            "WDSR-B expansion at equal parameters (Sec. 3.2)", reference=6)
plots.save_figure(fig, figures_dir, "ablation_wdsr_b_expansion")

# %% [markdown]
# ReLU inside the linear low-rank convolution.

# %%
fig = plots.bar_figure(labels.rows_where(final, study="low_rank_relu"), "relu", "WDSR-B: ReLU in the low-rank convolution (Sec. 3.2)",
                      floor=labels.rows_where(final, study="low_rank_relu")["bicubic_psnr"].mean(), paired=(False, True), images=images)
plots.save_figure(fig, figures_dir, "ablation_low_rank_relu")

# %% [markdown]
# The claims.

# %%
noise = frames.measure_noise(profile, results_dir)
history = frames.history_frame(plan, results_dir)
judged = claims.ablation_claims(final, history, data, noise, images=images, missing=missing)
report.write_claims(results_dir, "ablations", judged, profile)
report.verdict_table(judged)

# %% [markdown]
# ## Verdict
#
# Computed by `wdsr_lib.study.report` (sample photos: directions only).

# %%
print(report.format_verdicts(judged))
