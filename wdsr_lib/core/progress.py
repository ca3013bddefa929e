"""tqdm progress bars that read well in a terminal and in papermill's captured output.

In a terminal: a live bar redrawn in place. Elsewhere (papermill, CI logs, pipes): plain ASCII, refreshed at most
every 15 s, so an executed notebook shows a few readable lines instead of thousands of carriage returns.
"""
from __future__ import annotations

import sys

from tqdm import tqdm


def progress_bar(**kwargs) -> tqdm:
    """A tqdm bar with the study's terminal / log settings; `kwargs` (total, desc, iterable, unit, ...) go to tqdm.

    The one progress bar of the study: training iterations, evaluation images, download bytes.
    """
    tty = sys.stderr.isatty()
    options = {"dynamic_ncols": tty, "ncols": None if tty else 100, "ascii": not tty,
               "mininterval": 0.5 if tty else 15.0, "file": sys.stderr, "leave": True}
    return tqdm(**{**options, **kwargs})
