"""The `wdsr` command (`main`) and its flag checks (`flags`): the top layer."""
