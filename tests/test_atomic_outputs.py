"""Executed notebooks replace the last good copy only on success; claims files are read-modified-written under a
lock (issue 26, wdsr_lib/cli/pipeline.py `_run_notebooks`, wdsr_lib/study/report.py `write_claims`)."""
import json
import threading
import time

import pytest

from wdsr_lib.study import report
from wdsr_lib.cli import pipeline
from wdsr_lib.core.atomic import file_lock
from wdsr_lib.study.profiles import get_profile


class _FakePapermill:
    """papermill's interface as `_run_notebooks` uses it: writes the output as cells run, then `outcome`."""

    class PapermillExecutionError(Exception):
        exec_count, ename, evalue = 3, "ValueError", "boom"

    def __init__(self, outcome):
        self.outcome = outcome

    def execute_notebook(self, src, out, **kw):
        with open(out, "w") as f:
            f.write('{"cells": [  ')  # a partial notebook, as papermill leaves one mid-run
        if self.outcome is not None:
            raise self.outcome
        with open(out, "w") as f:
            f.write('{"cells": [], "new": true}')


@pytest.mark.parametrize("outcome", ["interrupt", "error"])
def test_a_failed_execution_never_replaces_the_last_good_notebook(tmp_path, outcome):
    name = pipeline.NOTEBOOKS[0]
    good = tmp_path / name
    good.write_text('{"cells": [], "good": true}')
    pm = _FakePapermill(None)
    pm.outcome = KeyboardInterrupt() if outcome == "interrupt" else pm.PapermillExecutionError()
    with pytest.raises((KeyboardInterrupt, pm.PapermillExecutionError)):
        pipeline._run_notebooks(pm, [name], tmp_path, get_profile("smoke"), tmp_path, tmp_path, False, None, {})
    assert good.read_text() == '{"cells": [], "good": true}'
    assert (tmp_path / pipeline.failed_name(name)).read_text().startswith('{"cells": [  ')
    assert not list(tmp_path.glob(".*.running.ipynb"))
    pipeline._run_notebooks(_FakePapermill(None), [name], tmp_path, get_profile("smoke"), tmp_path, tmp_path,
                            False, None, {})
    assert json.loads(good.read_text())["new"] and not (tmp_path / pipeline.failed_name(name)).exists()


def test_a_full_disk_inside_papermill_names_the_notebook_and_keeps_the_good_copy(tmp_path):
    """ENOSPC from papermill's own write carries no file name: the error names the executed notebook."""
    import errno

    name = pipeline.NOTEBOOKS[0]
    good = tmp_path / name
    good.write_text('{"cells": [], "good": true}')
    pm = _FakePapermill(OSError(errno.ENOSPC, "No space left on device"))
    with pytest.raises(OSError, match=rf"cannot write the executed notebook {tmp_path / name}: No space left on "
                                      r"device; the last good copy is untouched"):
        pipeline._run_notebooks(pm, [name], tmp_path, get_profile("smoke"), tmp_path, tmp_path, False, None, {})
    assert good.read_text() == '{"cells": [], "good": true}'
    assert (tmp_path / pipeline.failed_name(name)).exists()


def test_write_claims_waits_for_the_claims_lock(tmp_path):
    report.write_claims(tmp_path, "table1", [], "quick")
    done = threading.Event()
    with file_lock(report.claims_lock(tmp_path)):  # another process's read-modify-write in progress
        worker = threading.Thread(target=lambda: (report.write_claims(tmp_path, "table1", [], "cpu"), done.set()))
        worker.start()
        time.sleep(0.3)
        assert not done.is_set()  # it waits instead of reading a file about to change
    worker.join(5)
    assert done.is_set()
