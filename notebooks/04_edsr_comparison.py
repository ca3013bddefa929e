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
# # EDSR comparisons: README baselines, self-ensemble, L1 vs L2, x4 from x2
#
# > WDSR README: EDSR baseline 34.61 dB (1,372,318 parameters) vs WDSR baseline 34.77 dB (1,190,100), DIV2K val, x2.
#
# > EDSR paper, **Table 2**: SRResNet L2 34.40 vs L1 34.44 dB; EDSR 35.03 vs EDSR+ (self-ensemble) 35.12 dB; bicubic 31.01 dB (x2). **Figure 4** / Sec. 3.2: an x4 model started from the x2 model converges faster than one trained from scratch.

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
# The plan: the two 16-block baselines (the WDSR one also evaluated with the x8 self-ensemble), an EDSR trained with L1 and with L2, and an x2 EDSR followed by x4 from its weights and from scratch.

# %%
plan = plans.edsr_comparison(profile, seeds)
plans.label_frame(plan)

# %% [markdown]
# Train what the store lacks (the x2 run comes before the x4 run started from it).

# %%
frames.run_plan(plan, results_dir)
missing = frames.missing_frame(plan, results_dir)  # planned runs not in the store: their claims stay undecided
plan = frames.available(plan, results_dir)  # all of it, or with --store-only what the store holds

# %% [markdown]
# Cost of the baselines: parameters, multiply-adds for a 1280x720 output, and CPU latency measured here (median of a few fp32 forwards with the normalisation folded), beside the README's numbers.

# %%
from wdsr_lib.core import paper
from wdsr_lib.engine import latency

costs = latency.cost_frame(plans.select(plan, study="baseline"), latency.latency_lr_hw(profile), paper=paper.BASELINES)
final = frames.final_frame(plan, results_dir)
history = frames.history_frame(plan, results_dir)
images = frames.image_frame(plan, results_dir)  # the final model on every test image: seeds x images
baselines = report.baseline_frame(final, costs)
report.write_table(baselines, results_dir, "baselines", report.caption("WDSR README baselines, x2", profile), profile)
baselines

# %% [markdown]
# PSNR of the baselines (single forward and x8 self-ensemble), bicubic as the floor.

# %%
fig = plots.bar_figure(labels.rows_where(final, study="baseline"), "family", "README baselines: EDSR vs WDSR-A (16 blocks, x2)",
                      metrics=["psnr", "psnr_x8"], metric_labels={"psnr": "single forward", "psnr_x8": "x8 self-ensemble"},
                      floor=labels.rows_where(final, study="baseline")["bicubic_psnr"].mean())
plots.save_figure(fig, figures_dir, "edsr_baselines")

# %% [markdown]
# L1 against L2 training loss (EDSR Table 2), same EDSR.

# %%
fig = plots.bar_figure(labels.rows_where(final, study="loss"), "loss", "EDSR trained with L1 vs L2 (x2)",
                      floor=labels.rows_where(final, study="loss")["bicubic_psnr"].mean(), paired=("l1", "l2"), images=images)
plots.save_figure(fig, figures_dir, "edsr_l1_vs_l2")

# %% [markdown]
# x4 from the x2 weights against x4 from scratch: validation PSNR during training (EDSR Fig. 4).

# %%
fig = plots.val_curves(labels.rows_where(history, study="x4", scale=4), "arm", "EDSR x4: started from x2 vs from scratch")
plots.save_figure(fig, figures_dir, "edsr_x4_from_x2")

# %% [markdown]
# What the Table 1 models do to held-out photos: HR, bicubic, EDSR, WDSR-A, WDSR-B and WDSR-B's x8 self-ensemble
# (EDSR Sec. 4 "+") at the deepest Table 1 budget, zoomed where the models' errors differ most, PSNR on each crop
# (`wdsr_lib/viz/qualitative.py`). Skipped with a message when their weights (`model.pt`, not in git) are absent.

# %%
from wdsr_lib.viz import qualitative

qualitative.profile_figure(profile, results_dir, figures_dir)

# %% [markdown]
# The claims.

# %%
noise = frames.measure_noise(profile, results_dir)
everything = frames.final_frame(plans.every_plan(profile), results_dir)
judged = claims.edsr_comparison_claims(final, history, data, noise, images=images, missing=missing) + [claims.bicubic_claim(everything, data)]
report.write_claims(results_dir, "edsr_comparison", judged, profile)
report.verdict_table(judged)

# %% [markdown]
# ## Verdict
#
# Computed by `wdsr_lib.study.report` (sample photos: directions only; latency depends on this machine).

# %%
print(report.format_verdicts(judged))
