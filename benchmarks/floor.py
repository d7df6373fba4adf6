"""The inflate floor of a PBF: the least any scan of it must do.

Reads the blob framing, then inflates every zlib blob with ISA-L in a process pool
of os.cpu_count() workers, and parses nothing else. The tag strings are compressed,
so no reader of the file can be faster than this. Prints the seconds it took, from
its start to the last blob; run.py times it as a whole process, as every other task.

Usage: python benchmarks/floor.py FILE.osm.pbf
"""

from __future__ import annotations

import os
import struct
import sys
import time
from concurrent.futures import ProcessPoolExecutor

START = time.perf_counter()
CHUNK = 32  # blobs a worker inflates per task
BLOB_ZLIB = 3  # fileformat.proto: Blob.zlib_data


def varint(data: bytes, pos: int) -> tuple[int, int]:
    """A protobuf varint at `pos`, and the position after it."""
    result = shift = 0
    while True:
        byte = data[pos]
        result |= (byte & 0x7F) << shift
        pos += 1
        if not byte & 0x80:
            return result, pos
        shift += 7


def framing(path: str) -> list[tuple[int, int]]:
    """(offset, size) of every blob of the file, read from the block headers."""
    blobs = []
    with open(path, "rb") as f:
        size_of_file = os.fstat(f.fileno()).st_size
        offset = 0
        while offset < size_of_file:
            f.seek(offset)
            (length,) = struct.unpack(">I", f.read(4))
            header = f.read(length)
            pos, data_size = 0, 0
            while pos < len(header):  # BlobHeader: type (1), indexdata (2), datasize (3)
                key, pos = varint(header, pos)
                if key & 7 == 2:
                    n, pos = varint(header, pos)
                    pos += n
                else:
                    value, pos = varint(header, pos)
                    if key >> 3 == 3:
                        data_size = value
            blobs.append((offset + 4 + length, data_size))
            offset += 4 + length + data_size
    return blobs


def inflate(path: str, blobs: list[tuple[int, int]]) -> int:
    """Inflate each blob of `blobs`; the bytes it gave."""
    from isal import isal_zlib

    total = 0
    fd = os.open(path, os.O_RDONLY)
    try:
        for offset, size in blobs:
            blob = os.pread(fd, size, offset)
            pos = 0
            while pos < len(blob):
                key, pos = varint(blob, pos)
                if key & 7 != 2:
                    _, pos = varint(blob, pos)
                    continue
                n, pos = varint(blob, pos)
                if key >> 3 == BLOB_ZLIB:
                    total += len(isal_zlib.decompress(blob[pos : pos + n]))
                pos += n
    finally:
        os.close(fd)
    return total


def main(path: str) -> float:
    """Inflate every blob of `path` on every core; the seconds it took."""
    blobs = framing(path)
    chunks = [blobs[i : i + CHUNK] for i in range(0, len(blobs), CHUNK)]
    with ProcessPoolExecutor(os.cpu_count()) as pool:
        inflated = sum(pool.map(inflate, [path] * len(chunks), chunks))
    seconds = time.perf_counter() - START
    print(f"{seconds:.3f} s to inflate {len(blobs):,} blobs into {inflated / 1e6:,.0f} MB")
    return seconds


if __name__ == "__main__":
    main(sys.argv[1])
