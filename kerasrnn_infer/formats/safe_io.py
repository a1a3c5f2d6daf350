"""Reading the bytes of a model file safely: one descriptor, bounded reads that cannot hang.

The file is opened once (``open_model``: regular files only, never blocking on a pipe) and
everything is read through that descriptor with ``pread``, in this process and in the reader
child alike, so a file replaced meanwhile is never read half old, half new. ``Window`` and
``H5Window`` give zipfile and h5py file objects over the descriptor (or over a stored zip
member); zip members are read with declared and actual sizes bounded.

A directory (a SavedModel, a checkpoint folder) is several files: ``Directory`` opens each
member relative to the directory's own descriptor, one name at a time, following no
symbolic link inside it (so nothing outside the directory is ever read), accepting only
regular files and directories, and bounding how many files are opened and how large each
may be.
"""

from __future__ import annotations

import errno
import io
import os
import stat
import zipfile
import zlib
from typing import Dict, List, Optional, Tuple

import numpy as np

from ..errors import ModelFileError

ZIP_MAGIC = b"PK\x03\x04"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def file_path(path) -> str:
    """``path`` (str, bytes or os.PathLike) as a str, or a ModelFileError saying why not."""
    try:
        path = os.fspath(path)
    except TypeError:
        raise ModelFileError(f"expected a file path (str, bytes or os.PathLike), received "
                             f"{type(path).__name__}") from None
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if "\0" in path:
        raise ModelFileError(f"{path!r}: a file path cannot contain a NUL character")
    return path


def open_source(source) -> Tuple[int, str]:
    """(descriptor, name for messages) of a model given as a path (str, bytes or PathLike),
    as bytes holding a model (they start with a zip or HDF5 signature: ``Model.to_bytes()``,
    a downloaded file) or as a binary file object. Bytes and file objects are copied into an
    anonymous in-memory file, so they are read exactly as files are."""
    if isinstance(source, (bytes, bytearray, memoryview)) and \
            bytes(source[:8]).startswith((ZIP_MAGIC, HDF5_MAGIC)):
        return memory_file(bytes(source)), "<bytes>"
    if hasattr(source, "read") and not isinstance(source, (str, bytes, os.PathLike)):
        label = f"<file object {getattr(source, 'name', '')}>".replace(" >", ">")
        try:
            data = source.read()
        except (OSError, ValueError) as e:
            raise ModelFileError(f"{label}: cannot be read: {e}") from None
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ModelFileError(f"{label}: read() gave {type(data).__name__}, expected bytes "
                                 f"(open the file in binary mode)")
        return memory_file(bytes(data)), label
    path = file_path(source)
    return open_model(path), path


def memory_file(data: bytes) -> int:
    """A read-only-use descriptor of an anonymous file holding ``data``."""
    try:
        fd = os.memfd_create("kerasrnn_infer-model", getattr(os, "MFD_CLOEXEC", 0))
    except (AttributeError, OSError):
        import tempfile
        with tempfile.TemporaryFile() as f:
            fd = os.dup(f.fileno())
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except OSError:
        os.close(fd)
        raise
    return fd


def open_model(path: str) -> int:
    """A read-only descriptor of the regular file at ``path``. Everything about the file is
    read through it, in this process and in the reader child, so a file replaced meanwhile
    (say by an atomic rename) is never half one file and half the other. Pipes and devices
    are refused without blocking."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) |
                     getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        fd = None
    except OSError as e:
        raise ModelFileError(f"{path}: cannot be read: {e.strerror or e}") from None
    mode = os.fstat(fd).st_mode if fd is not None else stat.S_IFDIR
    if fd is not None and stat.S_ISREG(mode):
        return fd
    if fd is not None:
        os.close(fd)
    if stat.S_ISDIR(mode):
        raise ModelFileError(f"{path}: is a directory, expected a .keras or .h5 file")
    raise ModelFileError(f"{path}: is not a regular file (a pipe or device); "
                         f"expected a .keras or .h5 file")


def pread_into(fd: int, buf, offset: int) -> int:
    """Read into ``buf`` (a writable byte buffer) from ``offset`` of ``fd``, without moving
    the descriptor's position; the number of bytes read (short at the end of the file)."""
    view, got = memoryview(buf).cast("B"), 0
    while got < len(view):
        if hasattr(os, "preadv"):
            n = os.preadv(fd, [view[got:]], offset + got)
        else:
            data = os.pread(fd, len(view) - got, offset + got)
            n = len(data)
            view[got:got + n] = data
        if n <= 0:
            break
        got += n
    return got


class Window(io.RawIOBase):
    """Read-only file object over ``size`` bytes at ``base`` of descriptor ``fd`` (a whole
    file, or a stored zip member), for zipfile; reads never move ``fd``'s own position, so
    the descriptor can be shared."""

    def __init__(self, fd: int, base: int, size: int):
        super().__init__()
        self.fd, self._base, self._size, self._pos = fd, base, size, 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self._pos

    def seek(self, offset, whence=io.SEEK_SET):
        start = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, start + offset)
        return self._pos

    def _fill(self, view, offset: int) -> int:
        return pread_into(self.fd, view, self._base + offset)

    def readinto(self, b):
        n = max(0, min(len(b), self._size - self._pos))
        if not n:
            return 0
        got = self._fill(memoryview(b)[:n], self._pos)
        self._pos += got
        return got


class H5Window(Window):
    """The same for libhdf5 (through h5py's file-object driver), over a descriptor or over
    bytes in memory. Reads past the end give zeros rather than a short read: libhdf5 reports
    the truncation from the size (seek to the end), and never sees bytes a short read left
    unset in its buffers, which differ from one process to the next."""

    def __init__(self, fd: int, base: int, size: int, data: Optional[bytes] = None):
        super().__init__(fd, base, size)
        self._data = data

    def _fill(self, view, offset: int) -> int:
        if self._data is None:
            return super()._fill(view, offset)
        chunk = self._data[offset:offset + len(view)]
        view[:len(chunk)] = chunk
        return len(chunk)

    def readinto(self, b):
        view = memoryview(b).cast("B")
        got = super().readinto(view)
        view[got:] = bytes(len(view) - got)
        self._pos += len(view) - got
        return len(view)


def stored_offset(fd: int, info) -> Optional[int]:
    """File offset of an uncompressed, unencrypted zip member's bytes, or None."""
    if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 1:
        return None
    head = bytearray(30)
    if pread_into(fd, head, info.header_offset) != 30 or head[:4] != ZIP_MAGIC:
        return None
    return info.header_offset + 30 + int.from_bytes(head[26:28], "little") + \
        int.from_bytes(head[28:30], "little")


def check_stored(fd: int, path: str, name: str, base: int, info, limit: int) -> None:
    """Size and CRC-32 of a stored zip member, streamed (what zipfile checks on a read)."""
    if info.file_size > limit:
        raise ModelFileError(f"{path}: archive member {name} declares {info.file_size} bytes, "
                             f"more than the {limit} allowed")
    crc, done = 0, 0
    buf = memoryview(bytearray(1 << 20))
    while done < info.file_size:
        got = pread_into(fd, buf[:min(info.file_size - done, len(buf))], base + done)
        if not got:
            raise ModelFileError(f"{path}: archive member {name} is truncated")
        crc = zlib.crc32(buf[:got], crc)
        done += got
    if crc != info.CRC:
        raise ModelFileError(f"{path}: archive member {name} is corrupt (CRC-32 mismatch)")


def zip_member(zf, name, path, limit):
    try:
        info = zf.getinfo(name)
    except KeyError:
        return None
    if info.file_size > limit:
        raise ModelFileError(f"{path}: archive member {name} declares {info.file_size} bytes, "
                             f"more than the {limit} allowed")
    try:
        with zf.open(info) as fh:
            data = fh.read(limit + 1)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as e:
        raise ModelFileError(f"{path}: archive member {name} cannot be read: {e}") from None
    except Exception as e:  # zlib.error and friends on corrupt data
        raise ModelFileError(f"{path}: archive member {name} is corrupt: {e}") from None
    if len(data) > limit:
        raise ModelFileError(f"{path}: archive member {name} expands beyond {limit} bytes")
    return data


def weights_limit(size: int) -> int:
    """Bound on decompressed weights: generous, but never unbounded (zip bombs)."""
    return max(64 << 20, 200 * size)


def read_region(fd: int, path: str, offset: int, dtype: str, shape) -> np.ndarray:
    """A FileRegion's array, read by the parent from the descriptor the child read."""
    try:
        arr = np.empty(shape, np.dtype(dtype))
    except (TypeError, ValueError, MemoryError) as e:
        raise ModelFileError(f"{path}: bad array {dtype} {shape}: {e}") from None
    if arr.nbytes and pread_into(fd, arr, offset) != arr.nbytes:
        raise ModelFileError(f"{path}: an array at byte {offset} runs past the end of the "
                             f"file")
    return arr


# ----- directories ------------------------------------------------------------------------------
#: Files one directory read may open (a bundle's index and data shards, the protobufs), and
#: entries one directory listing may hold. TensorFlow writes one data shard unless told to
#: shard; a thousand is far beyond any checkpoint.
MAX_DIR_FILES = 1100
MAX_DIR_ENTRIES = 100_000
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_BINARY", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class Directory:
    """A directory read through its own descriptor: members are opened by name relative to
    it (never through a symbolic link), each checked to be a regular file (or a directory),
    at most MAX_DIR_FILES of them per read; ``path`` names it in messages. Descriptors are
    closed by ``close`` (a Directory is a context manager); sizes and modification times
    seen at opening are checked again by ``check_unchanged``."""

    def __init__(self, fd: int, path: str, budget: Optional[dict] = None):
        self.fd, self.path = fd, path
        self._budget = budget if budget is not None else {"files": 0}
        self._open: List[int] = []
        self._seen: Dict[int, Tuple[str, int, int]] = {}
        self._subdirs: List["Directory"] = []

    @classmethod
    def open(cls, path: str) -> "Directory":
        try:
            fd = os.open(path, _DIR_FLAGS)
        except FileNotFoundError:
            raise ModelFileError(f"{path}: no such directory") from None
        except OSError as e:
            raise ModelFileError(f"{path}: cannot be read as a directory: "
                                 f"{e.strerror or e}") from None
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            os.close(fd)
            raise ModelFileError(f"{path}: is not a directory")
        return cls(fd, path)

    def where(self, name: str) -> str:
        return os.path.join(self.path, name)

    def _open_member(self, name: str, flags: int) -> Optional[int]:
        if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
            raise ModelFileError(f"{self.path}: {name!r} is not a plain file name")
        if self._budget["files"] >= MAX_DIR_FILES:
            raise ModelFileError(f"{self.path}: reading it would open more than "
                                 f"{MAX_DIR_FILES} files; the model is corrupt or hostile")
        try:
            if os.open in os.supports_dir_fd:
                fd = os.open(name, flags | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0),
                             dir_fd=self.fd)
            else:               # no openat: check the name is no link, then open it
                full = self.where(name)
                if os.path.islink(full):
                    raise OSError(errno.ELOOP, "symbolic link")
                fd = os.open(full, flags | getattr(os, "O_NONBLOCK", 0))
        except FileNotFoundError:
            return None
        except OSError as e:
            if e.errno in (errno.ELOOP, errno.EMLINK) or (
                    e.errno == errno.ENOTDIR and self._is_link(name)):
                raise ModelFileError(f"{self.where(name)}: is a symbolic link; links inside "
                                     f"a model directory are not followed (kerasrnn_infer "
                                     f"reads nothing outside it); copy the files in "
                                     f"instead") from None
            if e.errno == errno.ENOTDIR:
                return None
            raise ModelFileError(f"{self.where(name)}: cannot be read: "
                                 f"{e.strerror or e}") from None
        self._budget["files"] += 1
        self._open.append(fd)
        return fd

    def _is_link(self, name: str) -> bool:
        try:
            return stat.S_ISLNK(os.stat(name, dir_fd=self.fd, follow_symlinks=False).st_mode)
        except (OSError, NotImplementedError, TypeError):
            return False

    def file(self, name: str) -> Optional[int]:
        """A descriptor of regular file ``name`` in this directory, None if there is none."""
        fd = self._open_member(name, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        if fd is None:
            return None
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise ModelFileError(f"{self.where(name)}: is a directory, expected a file")
        if not stat.S_ISREG(st.st_mode):
            raise ModelFileError(f"{self.where(name)}: is not a regular file (a pipe or "
                                 f"device)")
        self._seen[fd] = (name, st.st_size, st.st_mtime_ns)
        return fd

    def subdir(self, name: str) -> Optional["Directory"]:
        """Subdirectory ``name`` (opened the same way), None if there is none."""
        fd = self._open_member(name, _DIR_FLAGS)
        if fd is None:
            return None
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            raise ModelFileError(f"{self.where(name)}: is not a directory")
        self._open.remove(fd)
        sub = Directory(fd, self.where(name), self._budget)
        self._subdirs.append(sub)
        return sub

    def names(self) -> List[str]:
        """The names in this directory (bounded: MAX_DIR_ENTRIES)."""
        try:
            with os.scandir(self.fd if os.scandir in os.supports_fd else self.path) as it:
                out = []
                for entry in it:
                    out.append(entry.name)
                    if len(out) > MAX_DIR_ENTRIES:
                        raise ModelFileError(f"{self.path}: holds more than "
                                             f"{MAX_DIR_ENTRIES} entries")
        except OSError as e:
            raise ModelFileError(f"{self.path}: cannot be listed: {e.strerror or e}") from None
        return sorted(out)

    def size(self, fd: int) -> int:
        return self._seen[fd][1]

    def read(self, fd: int, limit: int, what: str) -> bytes:
        """The whole of file ``fd`` (opened by ``file``), at most ``limit`` bytes."""
        name, size, _ = self._seen[fd]
        if size > limit:
            raise ModelFileError(f"{self.where(name)}: {what} is {size} bytes, more than the "
                                 f"{limit} read")
        buf = bytearray(size)
        if pread_into(fd, buf, 0) != size:
            raise ModelFileError(f"{self.where(name)}: is truncated (shorter than it was when "
                                 f"opened)")
        return bytes(buf)

    def check_unchanged(self) -> None:
        """Refuse if a file opened here changed (size or modification time) since opening."""
        for sub in self._subdirs:
            sub.check_unchanged()
        for fd, (name, size, mtime) in self._seen.items():
            st = os.fstat(fd)
            if (st.st_size, st.st_mtime_ns) != (size, mtime):
                raise ModelFileError(f"{self.where(name)}: the file changed while it was "
                                     f"being read")

    def close(self) -> None:
        for sub in self._subdirs:
            sub.close()
        for fd in self._open:
            try:
                os.close(fd)
            except OSError:
                pass
        self._open, self._subdirs = [], []
        try:
            os.close(self.fd)
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
