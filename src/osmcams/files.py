"""Atomic outputs: one file, or a set of files published all or nothing; locks; blocks that a
Ctrl-C does not cut short.

Every temporary file or directory is named `.osmcams-tmp-<pid>-…`, so that a later
run recognises what a killed run left behind (`clean_leftovers`): it removes the
leftovers, and finishes publishing a set whose publication had begun.
"""

from __future__ import annotations

import bz2
import functools
import gzip
import json
import os
import re
import secrets
import shutil
import signal
import stat
import sys
import tempfile
import threading
import unicodedata
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path, PurePosixPath
from typing import IO, Any

from osmcams.errors import DataError, LockedError, OsmcamsError, OutputError, TargetExists, UsageError

TEMP_PREFIX = ".osmcams-tmp-"
_TEMP = re.compile(r"^\.osmcams-tmp-(\d+)-")
# In a staging directory, the list of its moves; its presence means "publish this set".
COMMIT = ".osmcams-commit.json"
RENAMERS = 8  # threads that move a published set's files into place (`_each`)
MAX_INFLATION = 100  # a compressed input inflating more than this many times its size is a bomb
# Held while a block that a Ctrl-C must not cut short runs (`uninterrupted`): the CLI, which
# ends a run that does not end soon enough after Ctrl-C, waits for it.
WHOLE = threading.RLock()


@contextmanager
def uninterrupted() -> Iterator[None]:
    """A block that a Ctrl-C (SIGINT) or SIGTERM does not cut short: one that comes during
    it takes effect once it ends. For what must be done whole: the publication of a set, the removal
    of temporary files. Signals are caught in the main thread only, where Python runs their
    handlers; WHOLE is held in any thread."""
    caught: list[int] = []
    with WHOLE:
        main = threading.current_thread() is threading.main_thread()
        kept = {number: signal.signal(number, lambda signum, frame: caught.append(signum))
                for number in (signal.SIGINT, signal.SIGTERM)
                if main and signal.getsignal(number) is not None}
        try:
            yield
        finally:
            for number, handler in kept.items():
                signal.signal(number, handler)
            for signum in dict.fromkeys(caught):  # once each, to the handler of the run
                signal.raise_signal(signum)


def remove_folder(folder: str | os.PathLike[str]) -> None:
    """Remove a temporary folder and what it holds, whole even if a Ctrl-C comes meanwhile;
    errors are ignored (`clean_leftovers` removes what stays once this process is gone)."""
    with uninterrupted():
        shutil.rmtree(folder, ignore_errors=True)


def cannot_write(path: str | os.PathLike[str], error: OSError) -> OutputError:
    """The one-line error for an output that the system refused (full disk, read-only…)."""
    return OutputError(f"cannot write {path}: {error.strerror or error}")


_DESCRIPTOR = re.compile(r"/(?:dev/fd|proc/self/fd)/(\d+)")


def open_descriptor(target: Path) -> int | None:
    """The open file descriptor of this process that `target` names through its links
    (/dev/stdout, /dev/fd/3, /proc/self/fd/1), else None: written through, never replaced,
    whatever it leads to (a file the shell opened with > or >>, a pipe, a terminal)."""
    path = os.path.abspath(target)
    for _ in range(8):  # /dev/stdout -> /proc/self/fd/1 -> the file
        found = _DESCRIPTOR.fullmatch(path)
        if found:
            try:
                os.fstat(int(found.group(1)))
            except (OSError, OverflowError):
                return None
            return int(found.group(1))
        try:
            link = os.readlink(path)
        except OSError:
            return None
        path = os.path.normpath(os.path.join(os.path.dirname(path), link))
    return None


def streamed_target(target: Path) -> bool:
    """Whether `target` is an open descriptor (`open_descriptor`), a character device or a
    FIFO (a pipe): written into, never replaced. Any other existing target that is not a
    regular file is refused."""
    if open_descriptor(target) is not None:
        return True
    try:
        mode = target.stat().st_mode
    except OSError:
        return False
    if stat.S_ISCHR(mode) or stat.S_ISFIFO(mode):
        return True
    if stat.S_ISDIR(mode):
        raise UsageError(f"{target} is a directory; give a file name")
    if not stat.S_ISREG(mode):
        raise UsageError(f"{target} is not a regular file; osmcams will not replace it")
    return False


def read_limited(path: str | os.PathLike[str], limit: int) -> bytes:
    """The bytes of the input `path`, read up to `limit`: ValueError when it holds more
    (a device such as /dev/zero never ends). OSError when it cannot be read."""
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"larger than {limit >> 20} MB")
    return data


def read_input(path: str | os.PathLike[str], limit: int, what: str) -> bytes:
    """The bytes of the input file `path`, at most `limit`; a DataError naming `what` it
    should hold when it cannot be read or holds more (a device such as /dev/zero)."""
    try:
        return read_limited(path, limit)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: a directory, not {what}") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read {what}: {e.strerror or e}") from None
    except ValueError as e:
        raise DataError(f"{path}: {e}, too large for {what}") from None


def check_inflation(path: Path, what: str, error: type[OsmcamsError] = DataError) -> None:
    """Refuse a gzip or bzip2 file (.gz, .bz2) that inflates beyond MAX_INFLATION times its
    size (at least 1 MiB), before a parser reads it: a bomb of gigabytes takes libosmium's
    XML parser minutes. `what` names the file in the message ("a corrupt replication
    diff"), raised as `error`. Other files pass unread."""
    name = path.name.lower()
    opener = gzip.open if name.endswith(".gz") else bz2.open if name.endswith(".bz2") else None
    if opener is None:
        return
    size = path.stat().st_size
    limit = max(1 << 20, MAX_INFLATION * size)
    inflated = 0
    try:
        with opener(path, "rb") as stream:
            while inflated <= limit and (chunk := stream.read(1 << 20)):
                inflated += len(chunk)
    except (OSError, EOFError, zlib.error) as e:
        raise error(f"{path.name}: {what}: {e}") from e
    if inflated > limit:
        raise error(f"{path.name}: {what}: its {size:,} bytes inflate to more than "
                    f"{MAX_INFLATION} times as many (a decompression bomb): refused")


@functools.cache
def gdal_reads_in_place() -> None:
    """GDAL set never to write beside a file it reads: reading the features of a GeoPackage
    that holds metadata (as those osmcams writes) left NAME.gpkg.aux.xml beside it, GDAL's
    copy of that metadata."""
    import pyogrio

    pyogrio.set_gdal_config_options({"GDAL_PAM_ENABLED": "NO"})


def check_target(target: str | os.PathLike[str], overwrite: bool = False) -> Path:
    """`target` as a Path, refused when it exists (unless `overwrite`) or has no directory.

    A character device or a FIFO is accepted as it is: the output is streamed into it.
    """
    if str(target) == "-":  # stdout, to many tools: not a file named "-"
        raise UsageError("-o -: leave out -o to write to standard output (or give -o /dev/stdout)")
    target = Path(target)
    if streamed_target(target):
        return target
    if target.exists() and not overwrite:
        raise TargetExists(target)
    if not target.parent.is_dir():
        why = "is not a directory" if target.parent.exists() else "does not exist: create it first"
        raise UsageError(f"{target.parent} {why}")
    return target


def _temp_prefix(hint: str) -> str:
    return f"{TEMP_PREFIX}{os.getpid()}-{hint}"


def _alive(pid: int) -> bool:
    if os.name != "posix" or pid == os.getpid():
        return True  # cannot tell safely: never touch it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # another user's process
    return True


def clean_leftovers(directory: str | os.PathLike[str]) -> None:
    """Remove what killed osmcams runs left in `directory`, and finish their committed sets.

    Only entries named `.osmcams-tmp-<pid>-…` whose process is gone are touched.
    """
    directory = Path(directory)
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return
    for entry in entries:
        found = _TEMP.match(entry.name)
        if not found or _alive(int(found.group(1))):
            continue
        path = Path(entry.path)
        try:
            if not entry.is_dir(follow_symlinks=False):
                path.unlink()  # a temporary file, a GeoPackage -journal among them
            elif (path / COMMIT).is_file():
                _finish(path, directory)
            else:
                shutil.rmtree(path)
        except (OSError, ValueError, KeyError, TypeError, RecursionError):
            pass  # a place we may not write, or a commit list not ours: it stays, harmless


def unfinished_publish(directory: str | os.PathLike[str]) -> bool:
    """Whether `directory` holds a set that a killed `publish` committed and had not moved
    in place whole: the next publish there (or `clean_leftovers`) finishes it."""
    try:
        with os.scandir(directory) as entries:
            return any(_TEMP.match(entry.name) and os.path.isfile(os.path.join(entry.path, COMMIT))
                       for entry in entries)
    except OSError:
        return False


@contextmanager
def atomic_path(target: str | os.PathLike[str], overwrite: bool = False, suffix: str = "") -> Iterator[Path]:
    """A temporary path beside `target` that replaces it only if the block succeeds.

    An OSError in the block (a full disk, a read-only place) is one OutputError line.
    A character device or a FIFO (/dev/stdout, a pipe) is not replaced: the file made in
    the block is copied into it. The temporary path ends in the target's extension, else
    in `suffix`: GDAL's drivers take a path without theirs for a folder to write into.
    """
    target = check_target(target, overwrite)
    streamed = streamed_target(target)
    # Made beside the target (the same file system: replaced at once), but for a stream (not
    # in /dev); named after it, short enough for any name the target may have.
    folder = Path(tempfile.gettempdir()) if streamed else target.parent
    clean_leftovers(folder)
    temp = None
    try:
        with uninterrupted():  # a Ctrl-C takes effect once the file is known, to be removed
            fd, name = tempfile.mkstemp(prefix=_temp_prefix(f"{target.stem[:40]}."),
                                        suffix=f".tmp{target.suffix or suffix}", dir=folder)
            os.close(fd)
            temp = Path(name)
        yield temp
        if streamed:
            descriptor = open_descriptor(target)
            if descriptor is not None:
                for stream in (sys.stdout, sys.stderr):  # what was printed comes first
                    stream.flush()
            sink = os.open(target, os.O_WRONLY) if descriptor is None else os.dup(descriptor)
            with open(temp, "rb") as source, open(sink, "wb") as out:
                shutil.copyfileobj(source, out)
            return
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp, 0o666 & ~umask)  # as an ordinary new file would be
        os.replace(temp, target)
    except OutputError:
        raise
    except OSError as e:
        raise cannot_write(target, e) from e
    finally:
        if temp is not None:
            with uninterrupted():
                temp.unlink(missing_ok=True)
                Path(f"{temp}-journal").unlink(missing_ok=True)  # SQLite's, when GDAL was cut short


@contextmanager
def atomic_open(target: str | os.PathLike[str], overwrite: bool = False) -> Iterator[IO[str]]:
    """A text file that appears at `target` only once it is complete."""
    with atomic_path(target, overwrite) as temp, open(temp, "w", encoding="utf-8", newline="") as f:
        yield f
        f.flush()
        os.fsync(f.fileno())


PLAIN = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*(?:/[A-Za-z0-9_-][A-Za-z0-9._-]*)*")  # inside


def _folders_in(directory: str | os.PathLike[str]) -> Callable[[str], bool]:
    """Whether the folder of a name of a set (its part before the last "/") is in
    `directory`, each folder looked at once."""
    there = functools.cache(lambda folder: os.path.isdir(os.path.join(directory, folder)))
    return lambda name: there(name.rpartition("/")[0])


def _inside(name: Any) -> bool:
    """Whether `name` is a plain relative path, which stays inside its directory."""
    if isinstance(name, str) and PLAIN.fullmatch(name):  # no part starts with a dot
        return True
    parts = PurePosixPath(name).parts if isinstance(name, str) else ()
    return bool(parts) and not name.startswith("/") and "\\" not in name and not any(
        p in (".", "..") or p.startswith(".osmcams-") for p in parts)


def _name_key(name: str) -> str:
    """What two names share when a file system may take them for one file."""
    return unicodedata.normalize("NFKC", name).casefold()


def check_set(
    directory: str | os.PathLike[str], names: Mapping[str, str], overwrite: bool = False
) -> None:
    """Refuse a set whose names are not plain relative paths, lie in a folder of `directory`
    that is a symbolic link (written outside it), collide, or exist (unless `overwrite`).

    `names` maps a label for messages ("Nice (06088)") to a path relative to `directory`.
    Two names that differ only by case or Unicode form collide: some file systems fold them.
    """
    seen: dict[str, str] = {}
    folder_there = _folders_in(directory)
    linked = functools.cache(lambda folder: os.path.islink(os.path.join(directory, folder)))
    for label, name in names.items():
        if not _inside(name):
            raise UsageError(f"{label}: {name!r} is not a file name inside {directory}")
        parts = name.split("/")[:-1]
        for folder in ("/".join(parts[:i]) for i in range(1, len(parts) + 1)):
            if linked(folder):
                raise UsageError(f"{os.path.join(directory, folder)} is a symbolic link: the files in it "
                                 f"would be written outside {directory}; osmcams will not follow it")
        key = _name_key(name)
        if key in seen:
            raise UsageError(f"{seen[key]} and {label} would both be written to {name}")
        seen[key] = label
        if not folder_there(name):  # nothing in it
            continue
        place = os.path.join(directory, name)
        try:
            found = os.stat(place)
        except (OSError, ValueError):  # not there (as os.path.exists says)
            continue
        if not stat.S_ISREG(found.st_mode) and not os.path.islink(place):
            raise UsageError(f"{place} is not a regular file; osmcams will not replace it")
    if overwrite:
        return
    for name in names.values():
        path = Path(directory) / name
        if path.exists() or path.is_symlink():
            raise TargetExists(path)


@contextmanager
def publish(
    directory: str | os.PathLike[str],
    names: Mapping[str, str],
    overwrite: bool = False,
    remove: Iterable[str] = (),
    optional: bool = False,
) -> Iterator[dict[str, Path]]:
    """Publish a set of files in `directory`, all or nothing.

    `names` maps a label for messages ("Nice (06088)") to a path relative to
    `directory` ("06088-nice.geojson", or "communes/06088-nice.geojson"). The names
    are checked first (`check_set`: collisions, existing files without `overwrite`).
    The block gets, for each label, a path in a staging directory
    `<directory>/.osmcams-tmp-<pid>-<random>/` and must write every file there.

    When the block succeeds, a commit list is written into the staging directory,
    then each file replaces its namesake in `directory` and the paths in `remove`
    are deleted. A file identical to the one in place is not rewritten. When the
    block fails, `directory` is left as it was. A run killed at any moment leaves
    the old set, the new set, or a staging directory that the next `publish`,
    `atomic_path` or `clean_leftovers` on `directory` completes (committed) or
    removes (not committed) before anything else. With `optional`, a file the
    block does not write is left as it is in `directory`. A full disk or a read-only
    place is one OutputError line; a missing directory is created.

        with publish(out, {"Nice (06088)": "06088-nice.geojson"}, overwrite=True) as paths:
            write(paths["Nice (06088)"])
    """
    directory = Path(directory)
    check_set(directory, {**names, **{f"{name} (to remove)": name for name in remove}}, True)
    created = not directory.exists()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise cannot_write(directory, e) from e
    clean_leftovers(directory)
    if not overwrite:  # with it, the check above said it all
        check_set(directory, names, overwrite)
    staging = directory / _temp_prefix(secrets.token_hex(4))
    paths = {label: staging / name for label, name in names.items()}
    committed = False
    try:
        staging.mkdir()
        for folder in {name.rpartition("/")[0] for name in names.values()} - {""}:
            (staging / folder).mkdir(parents=True, exist_ok=True)
        yield paths
        written = _files(staging)
        folder_there = _folders_in(directory)
        moves = []
        for name in names.values():
            if name not in written:
                if optional:  # an unwritten file stays
                    continue
                raise ValueError(f"publish: {os.path.basename(name)} was not written")
            if not folder_there(name) or _changed(os.path.join(staging, name), os.path.join(directory, name)):
                moves.append(name)
        manifest = staging / f"{COMMIT}.part"
        manifest.write_text(json.dumps({"move": moves, "remove": list(remove)}), encoding="utf-8")
        # Decided and carried out as one: a Ctrl-C between the two left a committed set for
        # the next run, which a run told to stop must not.
        with uninterrupted():
            os.replace(manifest, staging / COMMIT)  # the set is decided: from here, roll forward
            committed = True
            _finish(staging, directory)
    except BaseException as e:
        if committed:  # the commit list stays: the next run finishes the set
            if isinstance(e, OSError):
                raise cannot_write(directory, e) from e
            raise
        with uninterrupted():
            shutil.rmtree(staging, ignore_errors=True)
            if created:
                with suppress(OSError):
                    directory.rmdir()
        if isinstance(e, OutputError):  # name the file as published, not as staged
            raise OutputError(str(e).replace(f"{staging}{os.sep}", f"{directory}{os.sep}")) from e
        if isinstance(e, OSError):
            raise cannot_write(directory, e) from e
        raise


def _files(folder: str | os.PathLike[str], within: str = "") -> set[str]:
    """The paths of the regular files under `folder` (links to one included), relative to it."""
    found = set()
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                found |= _files(entry.path, f"{within}{entry.name}/")
            elif entry.is_file():
                found.add(within + entry.name)
    return found


def temp_folder(directory: str | os.PathLike[str]) -> Path:
    """A new empty folder in `directory` (made when missing) for files that a `publish` into
    it takes later: `clean_leftovers` removes it once this process is gone."""
    try:
        os.makedirs(directory, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=_temp_prefix("early-"), dir=directory))
    except OSError as e:
        raise cannot_write(Path(directory), e) from e


@contextmanager
def temporary_folder(directory: str | os.PathLike[str] | None = None) -> Iterator[Path]:
    """A new empty folder in `directory` (the system's temporary folder by default), removed
    whole when the block ends, Ctrl-C or not. A run killed meanwhile leaves it to the next,
    which first removes what dead runs left in `directory` (`clean_leftovers`): copies of
    PBF blocks, hundreds of MB, never pile up in /tmp."""
    directory = tempfile.gettempdir() if directory is None else directory
    clean_leftovers(directory)
    folder = None
    try:
        with uninterrupted():  # a Ctrl-C takes effect once the folder is known, to be removed
            folder = temp_folder(directory)
        yield folder
    finally:
        if folder is not None:
            remove_folder(folder)


def _changed(new: str, old: str) -> bool:
    """Whether the written `new` differs from `old`; when it does not, the staged copy is
    dropped."""
    import filecmp

    try:
        regular = stat.S_ISREG(os.lstat(old).st_mode)  # a file, not a link to one
    except OSError:
        return True
    if regular and filecmp.cmp(new, old, shallow=False):
        os.unlink(new)
        return False
    return True


@uninterrupted()
def _finish(staging: Path, directory: Path) -> None:
    """Carry out the commit list of `staging`, whole even if a Ctrl-C comes meanwhile; safe
    to repeat after a kill."""
    manifest = json.loads((staging / COMMIT).read_text(encoding="utf-8"))
    if not all(_inside(name) for name in [*manifest["move"], *manifest["remove"]]):
        raise ValueError(f"{staging / COMMIT} names a file outside {directory}")
    moved = _new_folders(staging, directory, manifest["move"])
    whole = set(moved)
    for folder in moved:  # one rename for each
        os.makedirs(os.path.dirname(os.path.join(directory, folder)), exist_ok=True)
        os.rename(os.path.join(staging, folder), os.path.join(directory, folder))
    moves = [name for name in manifest["move"] if name.rpartition("/")[0] not in whole]  # else there
    for folder in sorted({os.path.dirname(os.path.join(directory, name)) for name in moves}):
        os.makedirs(folder, exist_ok=True)

    def move(name: str) -> None:
        source = os.path.join(staging, name)
        try:
            os.replace(source, os.path.join(directory, name))
        except FileNotFoundError:
            if os.path.lexists(source):
                raise
            # else moved already, by a run killed later on

    _each(move, moves)
    _each(lambda name: (directory / name).unlink(missing_ok=True), manifest["remove"])
    (staging / COMMIT).unlink()
    shutil.rmtree(staging)


def _each(work: Callable[[str], None], names: list[str]) -> None:
    """`work` on each of `names`, in RENAMERS threads when there are many: a rename over a
    file, or an unlink, frees the file's blocks, and where the file system discards them as
    it goes (ext4 mounted with `discard`) about one in seven waits milliseconds for the
    disk; in threads, these waits overlap (docs/performance.md)."""
    if len(names) < RENAMERS:
        for name in names:
            work(name)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(RENAMERS) as pool:
        for _ in pool.map(work, names):  # the first error is raised, once every rename ended
            pass


def _new_folders(staging: Path, directory: Path, moves: list[str]) -> list[str]:
    """The folders of `moves` not in `directory` yet whose staged copy holds only files of
    `moves`: each can move whole (a new site's 35,000 pages in one rename)."""
    folders: dict[str, set[str]] = {}
    for name in moves:
        folder, _, base = name.rpartition("/")
        if folder:
            folders.setdefault(folder, set()).add(base)
    found = []
    for folder, names in sorted(folders.items()):
        source = os.path.join(staging, folder)
        if os.path.lexists(os.path.join(directory, folder)) or not os.path.isdir(source):
            continue
        with os.scandir(source) as entries:
            if all(e.name in names and e.is_file(follow_symlinks=False) for e in entries):
                found.append(folder)
    return found


@contextmanager
def exclusive_lock(target: Path, what: str) -> Iterator[None]:
    """Hold `.<target>.lock` while the block runs; LockedError if another run holds it.

    The lock file stays: removing it would let a third run lock a file no one else sees.
    It holds the pid, start time and `what` of the run that holds it, for the message of
    the run it refuses (a refresh refused by a site build says so). The
    kernel drops the lock when its process ends, killed or not: a dead run never blocks.

    Why flock and not filelock: the lock is ten lines on the kernel's own call, the file
    must stay (filelock 4 unlinks its lock file on release unless told not to) and it must
    name its holder for the message, which filelock does not keep.
    """
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    lock = target.with_name(f".{target.name}.lock")
    with open(lock, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            handle.seek(0)
            holder = (handle.read().splitlines() or [""])[0].split(" ", 2)
            who = f"pid {holder[0]}, started {holder[1]}" if len(holder) >= 2 else "another process"
            doing = holder[2] if len(holder) == 3 else what  # an older osmcams wrote no what
            raise LockedError(f"another osmcams run is {doing} ({who}; {lock} is locked)") from e
        from datetime import datetime, timezone

        handle.truncate(0)
        handle.write(f"{os.getpid()} {datetime.now(timezone.utc):%Y-%m-%dT%H:%M:%SZ} {what}\n")
        handle.flush()
        yield
