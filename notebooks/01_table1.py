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
# # WDSR Table 1: wide activation at equal parameter budgets
#
# > "The results suggest that our proposed WDSR-A and WDSR-B have better accuracy and efficiency than EDSR. WDSR-B with wider activation also has better or similar performance compared with WDSR-A." (WDSR paper, Sec. 4.1, **Table 1**)
#
# Table 1 trains EDSR (F=64), WDSR-A (F=32, w=128) and WDSR-B (F=64, e=6, l=0.8) with 1, 3, 5 and 8 residual blocks at x2. We train all three with weight norm, as the WDSR README's EDSR baseline (1,372,318 parameters), so the comparison isolates width.

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
# The plan: one run per model, budget and seed (pure configs, nothing trained yet).

# %%
plan = plans.table1(profile, seeds)
plans.label_frame(plan)

# %% [markdown]
# Train what the store lacks (finished runs load instantly).

# %%
frames.run_plan(plan, results_dir)
missing = frames.missing_frame(plan, results_dir)  # planned runs not in the store: their claims stay undecided
plan = frames.available(plan, results_dir)  # all of it, or with --store-only what the store holds

# %% [markdown]
# Parameter counts: as trained (with weight-norm gains), in the paper's setting (no weight norm) and the paper's rounded numbers. WDSR-B's paper column is matched by no setting we know of.

# %%
params = frames.table1_params(plan)
params

# %% [markdown]
# Final metrics from the store, the table beside the paper's, written to `results/tables/table1.*`.

# %%
final = frames.final_frame(plan, results_dir)
table = report.table1_frame(final, params)
report.write_table(table, results_dir, "table1", report.caption("WDSR Table 1, x2", profile), profile)
table

# %% [markdown]
# PSNR against parameters: ours on the left, the paper's (hollow markers, DIV2K) on the right.

# %%
fig = plots.table1_figure(final)
plots.save_figure(fig, figures_dir, "table1_psnr_vs_params")

# %% [markdown]
# The paired gaps against iterations, per budget: where the orderings settle (seed mean, 95% band).

# %%
history = frames.history_frame(plan, results_dir)
fig = plots.gap_figure(history, [("WDSR-A", "EDSR"), ("WDSR-B", "EDSR"), ("WDSR-B", "WDSR-A")],
                       title="WDSR Table 1: paired validation-PSNR gaps")
plots.save_figure(fig, figures_dir, "table1_gaps")

# %% [markdown]
# The claims of Sec. 4.1, judged on paired differences per budget (written to `results/claims/`).

# %%
noise = frames.measure_noise(profile, results_dir)
images = frames.image_frame(plan, results_dir)  # the final model on every test image: seeds x images
judged = claims.table1_claims(final, history, data, noise, budgets=plans.table1_budgets(profile), images=images,
                              missing=missing)
report.write_claims(results_dir, "table1", judged, profile)
report.verdict_table(judged)

# %% [markdown]
# ## Verdict
#
# The verdicts below are computed by `wdsr_lib.study.report` from the numbers above; with the embedded sample photos and a short CPU schedule only the direction of each difference is tested, never the paper's DIV2K values.

# %%
print(report.format_verdicts(judged))
