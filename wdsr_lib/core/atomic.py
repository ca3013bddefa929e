"""Atomic file writes: a reader (or a crash, Ctrl-C, a full disk) sees the old file or the whole new one.

Every file the study writes goes through here (`docs/bad_inputs.md`, "outputs"): the bytes go to a temp file
in the target's own folder (`.<name>.<pid>.tmp`, so the rename never crosses a file system), are flushed and
fsynced, then `os.replace`d onto the target. On any error the temp file is removed and an existing target is
left untouched; a write error that names no file (a full disk: `[Errno 28]`) is raised again naming the target.
`refuse_overwriting_inputs` keeps a command from writing its result onto one of its inputs.
Standard library only (no torch), so every layer may use it.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Iterator, Optional


def temp_path(path: Path) -> Path:
    """The temp file an atomic write of `path` uses: hidden, in the same folder, named after this process."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, before_replace: Optional[Callable[[Path], None]] = None
                ) -> Iterator[BinaryIO]:
    """Open a binary file whose content replaces `path` only when the `with` block ends without an error.

    For writers that take a file object: `with atomic_file(out) as f: image.save(f, format="PNG")`
    (also `torch.save(obj, f)`, `np.save(f, arr)`). The file gets the usual permissions (0666 minus umask).

    Args:
        before_replace: called with the target path after the temp file is complete and synced, just before
            the rename (a test hook: `wdsr_lib.engine.checkpoint` widens the window there for kill tests).
    """
    path = Path(path)
    if path.is_symlink():  # write through the link, as a plain open() would, instead of replacing the link
        path = path.resolve()
    tmp = temp_path(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        if before_replace is not None:
            before_replace(path)
        os.replace(tmp, path)
    except OSError as exc:
        if exc.filename is None and exc.errno is not None:  # a full disk's write error names no file: name it
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def atomic_write_bytes(path: str | os.PathLike, data: bytes,
                       before_replace: Optional[Callable[[Path], None]] = None) -> None:
    """Write `data` to `path` atomically (see the module docstring)."""
    with atomic_file(path, before_replace) as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write `text` (UTF-8) to `path` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def file_lock(path: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive `fcntl.flock` on `path` (created if absent) for a read-modify-write that other processes
    must not interleave with (two `wdsr reproduce` calls writing one claims file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True when `a` and `b` name one file: equal after resolving symlinks and `..`, or hard links."""
    a, b = Path(a), Path(b)
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return False


def refuse_overwriting_inputs(output: str | os.PathLike, inputs: Iterable[Optional[str | os.PathLike]],
                              force: bool = False) -> None:
    """Raise ValueError when `output` is one of `inputs` (through a symlink or hard link too), unless `force`."""
    if force:
        return
    for given in inputs:
        if given is not None and same_file(output, given):
            raise ValueError(f"the output {output} is the input {given}: writing it would destroy the input; "
                             "choose another output path (or pass --force to replace the input).")
