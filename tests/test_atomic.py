"""wdsr_lib/core/atomic.py: a failed, interrupted or full-disk write leaves the old file whole; never onto an input."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from wdsr_lib.core import atomic


def test_a_write_replaces_the_file_whole_with_the_usual_permissions(tmp_path):
    target = tmp_path / "out.txt"
    atomic.atomic_write_text(target, "old")
    atomic.atomic_write_bytes(target, b"new content")
    assert target.read_bytes() == b"new content"
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]  # no temp file left


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_a_write_that_fails_midway_keeps_the_old_file_and_leaves_no_temp(tmp_path, error):
    target = tmp_path / "big.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(target)
    before = target.read_bytes()
    with pytest.raises(type(error)):
        with atomic.atomic_file(target) as f:
            f.write(b"\x89PNG half of a picture")
            raise error  # a full disk, or Ctrl-C, in the middle of a writer such as PIL's save
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.png"]


def test_a_new_output_that_fails_is_not_created_at_all(tmp_path):
    with pytest.raises(OSError):
        with atomic.atomic_file(tmp_path / "new.png") as f:
            f.write(b"partial")
            raise OSError(28, "No space left on device")
    assert list(tmp_path.iterdir()) == []  # not a 0-byte or truncated new.png


def test_a_killed_writer_leaves_the_previous_output(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"previous")
    code = ("import os, sys; from wdsr_lib.core.atomic import atomic_file\n"
            "with atomic_file(sys.argv[1]) as f:\n    f.write(b'x' * 1000); f.flush(); os._exit(9)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(target)], timeout=120)
    assert proc.returncode == 9
    assert target.read_bytes() == b"previous"


def test_a_pil_image_saved_through_atomic_file_is_the_same_as_a_direct_save(tmp_path):
    img = Image.fromarray((np.arange(48 * 3) % 251).astype(np.uint8).reshape(4, 12, 3))
    img.save(tmp_path / "direct.png")
    with atomic.atomic_file(tmp_path / "atomic.png") as f:
        img.save(f, format="PNG")
    assert (tmp_path / "atomic.png").read_bytes() == (tmp_path / "direct.png").read_bytes()


def test_writing_through_a_symlink_writes_its_target_and_keeps_the_link(tmp_path):
    (tmp_path / "real.txt").write_text("old")
    (tmp_path / "link.txt").symlink_to(tmp_path / "real.txt")
    atomic.atomic_write_text(tmp_path / "link.txt", "new")
    assert (tmp_path / "link.txt").is_symlink() and (tmp_path / "real.txt").read_text() == "new"


def test_the_output_may_not_be_an_input_by_name_symlink_or_hard_link(tmp_path):
    src = tmp_path / "photo.png"
    src.write_bytes(b"the only copy")
    (tmp_path / "link.png").symlink_to(src)
    os.link(src, tmp_path / "hard.png")
    for output in (src, tmp_path / "link.png", tmp_path / "hard.png", tmp_path / "sub" / ".." / "photo.png"):
        with pytest.raises(ValueError, match="would destroy the input.*--force"):
            atomic.refuse_overwriting_inputs(output, [None, src])
    atomic.refuse_overwriting_inputs(tmp_path / "other.png", [src])  # a different file is fine
    atomic.refuse_overwriting_inputs(src, [src], force=True)
    assert src.read_bytes() == b"the only copy"


def test_store_and_checkpoints_write_through_the_one_atomic_module():
    """One home for atomic writes (no second temp+rename implementation), and store.py stays torch-free."""
    code = ("import sys; import wdsr_lib.store.runs, wdsr_lib.core.atomic; "
            "assert 'torch' not in sys.modules, 'store imports torch'; "
            "assert wdsr_lib.store.runs.atomic_write_text is wdsr_lib.core.atomic.atomic_write_text")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    from wdsr_lib.engine import checkpoint

    assert checkpoint._atomic_write_bytes is atomic.atomic_write_bytes
