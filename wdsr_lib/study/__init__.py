"""The study: profiles, run plans, frames read from the store, the claims and their verdict rules, reports, the
pipeline that runs the notebooks, the run graph and its executors, and `wdsr verify` / `wdsr rebuild`."""
