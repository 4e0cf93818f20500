"""Where a collection's images come from: a folder on disk, or a zip archive read in place.

A source lists what it holds (:class:`Listing`: visible files, top-level folders, the hidden
entries it skipped) and reads one file at a time. A zip archive is never unpacked: each member is
read into memory when it is decoded, an entry whose path leaves the archive (``../``, an absolute
path, a drive) refuses the whole archive, and a member whose header claims more than
:data:`MAX_MEMBER_BYTES` is refused before it is read. Hidden entries (a name starting with ``.``,
and ``__MACOSX/``) are skipped.

Examples
--------
>>> import tempfile, zipfile
>>> path = Path(tempfile.mkdtemp()) / "pots.zip"
>>> with zipfile.ZipFile(path, "w") as z:
...     z.writestr("pots/bowl/1.png", b"...")
...     z.writestr("pots/cup/1.png", b"...")
...     z.writestr("__MACOSX/pots/._1.png", b"...")
>>> with open_collection(path) as src:
...     src.listing().files, src.prefix, str(src.item("bowl/1.png"))  # doctest: +ELLIPSIS
(['bowl/1.png', 'cup/1.png'], 'pots/', '...pots.zip:pots/bowl/1.png')
"""

from __future__ import annotations

import io
import os
import re
import threading
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from latentspace.data.mapped import files_fingerprint
from latentspace.errors import UserError
from latentspace.storage import human_size

#: the most bytes one archive member may hold decompressed: a header claiming more is refused unread
MAX_MEMBER_BYTES = 1 << 30


def _hidden(part: str) -> bool:
    return part.startswith(".") or part == "__MACOSX"


@dataclass
class Listing:
    """What a collection holds: visible files and top-level folders, and the hidden entries skipped."""

    files: list = field(default_factory=list)      # relative paths
    folders: set = field(default_factory=set)      # top-level folder names, empty ones too
    hidden: list = field(default_factory=list)     # hidden entries skipped
    unreadable: list = field(default_factory=list)  # sub-folders that could not be read (permissions), skipped


# -- sources: a folder or a zip archive ---------------------------------------------------------------


class FolderSource:
    """A folder of images on disk (links to folders are followed, each folder read once)."""

    kind = "image folder"
    prefix = ""

    def __init__(self, path: Path):
        self.path, self.label, self.name = path, str(path), path.name or str(path)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def listing(self) -> Listing:
        out, seen = Listing(), set()

        def visit(folder: Path, rel: str):
            try:
                st = folder.stat()
                if (st.st_dev, st.st_ino) in seen:
                    return
                seen.add((st.st_dev, st.st_ino))
                with os.scandir(folder) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except OSError as e:
                if rel:   # a sub-folder: skipped, and said in the summary
                    out.unreadable.append(rel)
                    return
                raise UserError(f"cannot read the folder {folder} ({e.strerror or e}); check its permissions") from None
            for e in entries:
                if _hidden(e.name):
                    out.hidden.append(rel + e.name)
                elif e.is_dir():
                    if not rel:
                        out.folders.add(e.name)
                    visit(Path(e.path), f"{rel}{e.name}/")
                elif e.is_file():
                    out.files.append(rel + e.name)

        visit(self.path, "")
        return out

    def item(self, rel: str) -> Path:
        return self.path / rel

    def display(self, rel: str) -> str:
        return str(self.path / rel) if rel else self.label

    def find(self, rel: str) -> bytes | None:
        """The bytes of the file at ``rel`` inside the collection, or None."""
        p = self.path / rel
        return p.read_bytes() if p.is_file() else None

    def fingerprint(self, rels: list) -> dict:
        return {"path": str(self.path.resolve()), "files": files_fingerprint([self.path / r for r in rels], self.path)}


class Member:
    """One image inside a zip archive, read into memory when it is decoded."""

    __slots__ = ("archive", "name")

    def __init__(self, archive: "ZipSource", name: str):
        self.archive, self.name = archive, name

    def __str__(self) -> str:
        return f"{self.archive.label}:{self.name}"

    def stream(self) -> io.BytesIO:
        return io.BytesIO(self.archive.read(self.name))


def _check_member_path(label: str, raw: str, name: str) -> None:
    """Refuse an entry whose path leaves the archive: absolute, a drive, or a ``..`` component."""
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or ".." in name.split("/"):
        raise UserError(f"{label} holds an entry whose path leaves the archive ({raw!r}); latentspace reads only "
                        "archives whose entries stay inside: re-create the archive from the folder")


class ZipSource:
    """A zip archive of images, read in place; its members are read one at a time (under a lock)."""

    kind = "image archive"

    def __init__(self, path: Path):
        self.path, self.label, self.name = path, str(path), path.stem
        self.prefix = ""            # the top folder(s) every entry lies in, with a trailing "/"
        self._zip = None
        self._members: dict = {}   # member name -> ZipInfo
        self._lock = threading.Lock()

    def __enter__(self):
        try:
            self._zip = zipfile.ZipFile(self.path)
        except PermissionError:
            raise UserError(f"cannot read {self.label} (permission denied); check its permissions") from None
        except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError, ValueError,
                NotImplementedError) as e:
            raise UserError(f"{self.label} is not a readable zip archive ({type(e).__name__}: {e}); re-create it, "
                            "or unpack it and give the folder") from None
        return self

    def __exit__(self, *exc):
        if self._zip is not None:
            self._zip.close()
        return False

    def listing(self) -> Listing:
        out, files, folders = Listing(), {}, set()
        for info in self._zip.infolist():
            name = info.filename.replace("\\", "/")
            _check_member_path(self.label, info.filename, name)
            parts = [p for p in name.split("/") if p not in ("", ".")]
            if not parts:
                continue
            if any(_hidden(p) for p in parts):
                out.hidden.append(name)
            elif name.endswith("/"):
                folders.add("/".join(parts))
            elif "/".join(parts) in files:
                raise UserError(f"{self.label} holds two entries named {'/'.join(parts)!r}; re-create the archive")
            else:
                files["/".join(parts)] = info
        rels = list(files)
        while rels and all("/" in r for r in rels) and len({r.split("/", 1)[0] for r in rels}) == 1:
            self.prefix += rels[0].split("/", 1)[0] + "/"
            rels = [r.split("/", 1)[1] for r in rels]
        self._members = {self.prefix + r: files[self.prefix + r] for r in rels}
        out.files = rels
        out.folders = {r.split("/", 1)[0] for r in rels if "/" in r}
        out.folders |= {d[len(self.prefix):].split("/")[0] for d in folders
                        if d.startswith(self.prefix) and len(d) > len(self.prefix)}
        return out

    def item(self, rel: str) -> Member:
        return Member(self, self.prefix + rel)

    def display(self, rel: str) -> str:
        return f"{self.label}:{self.prefix}{rel}" if rel or self.prefix else self.label

    def read(self, name: str) -> bytes:
        """The bytes of member ``name``, refused when its header claims more than :data:`MAX_MEMBER_BYTES`."""
        info = self._members[name]
        where = f"{self.label}:{name}"
        if info.file_size > MAX_MEMBER_BYTES:
            raise UserError(f"{where} claims {human_size(info.file_size)} uncompressed, more than the "
                            f"{human_size(MAX_MEMBER_BYTES)} latentspace reads for one file; the archive is corrupt "
                            "or hostile: re-create it")
        if info.flag_bits & 0x1:
            raise UserError(f"{where} is encrypted; re-create the archive without a password")
        try:
            with self._lock:
                return self._zip.read(info)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError, ValueError) as e:
            raise UserError(f"cannot read {where} ({type(e).__name__}: {e}); the archive is corrupt: re-create "
                            "it") from None

    def find(self, rel: str) -> bytes | None:
        for name in (self.prefix + rel, rel):
            if name in self._members:
                return self.read(name)
        return None

    def fingerprint(self, rels: list) -> dict:
        st = self.path.stat()
        members = [self._members[self.prefix + r] for r in rels]
        return {"path": str(self.path.resolve()), "archive": [st.st_size, st.st_mtime_ns],
                "files": [[i.filename, i.file_size, i.CRC] for i in members]}


def open_collection(path) -> FolderSource | ZipSource:
    """The source of a collection at ``path``: a folder, or a ``.zip`` file (opened with ``with``)."""
    p = Path(path).expanduser()
    if p.is_dir():
        return FolderSource(p)
    if p.suffix.lower() == ".zip":
        if not p.is_file():
            raise UserError(f"no such file: {p}; check the path")
        return ZipSource(p)
    raise UserError(f"no such folder: {p}; check the path")
