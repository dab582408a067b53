#!/usr/bin/env python3
"""DDF fixture regions: dump the DDF metadata of a disk (anchor, primary and
secondary copies) into a small run-length-encoded file, or check one.

File format (all little-endian): b"DDFR", u32 region count, then per region
u64 disk byte offset, u32 length, u32 encoded length, encoded bytes. The
encoding is a sequence of (u8 tag, u32 n): tag 0 is followed by n literal
bytes, tag 1 by one byte repeated n times.

usage: ddf_regions.py dump DEVICE OUT.rle
"""
import struct
import sys

SECTOR = 512


def rle(data):
    out = bytearray()
    i = 0
    lit = bytearray()

    def flush():
        if lit:
            out.extend(struct.pack("<BI", 0, len(lit)))
            out.extend(lit)
            lit.clear()

    while i < len(data):
        j = i
        while j < len(data) and data[j] == data[i] and j - i < 0xFFFFFFFF:
            j += 1
        if j - i >= 8:
            flush()
            out.extend(struct.pack("<BIB", 1, j - i, data[i]))
        else:
            lit.extend(data[i:j])
        i = j
    flush()
    return bytes(out)


def copy_len(hdr):
    # Sectors from the header to the end of its last section.
    end = 1
    for off in range(0xC0, 0x100, 8):
        o, n = struct.unpack(">II", hdr[off:off + 8])
        if o != 0xFFFFFFFF and n:
            end = max(end, o + n)
    return end


def dump(dev, out):
    with open(dev, "rb") as f:
        f.seek(0, 2)
        size = f.tell()
        f.seek(size - SECTOR)
        anchor = f.read(SECTOR)
        if anchor[:4] != b"\xde\x11\xde\x11":
            sys.exit(f"{dev}: no DDF anchor")
        regions = [(size - SECTOR, anchor)]
        for off in (0x60, 0x68):
            (lba,) = struct.unpack(">Q", anchor[off:off + 8])
            if lba == 0xFFFFFFFFFFFFFFFF:
                continue
            f.seek(lba * SECTOR)
            hdr = f.read(SECTOR)
            n = copy_len(hdr)
            f.seek(lba * SECTOR)
            regions.append((lba * SECTOR, f.read(n * SECTOR)))
    with open(out, "wb") as o:
        o.write(b"DDFR" + struct.pack("<I", len(regions)))
        for off, data in sorted(regions):
            enc = rle(data)
            o.write(struct.pack("<QII", off, len(data), len(enc)))
            o.write(enc)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "dump":
        dump(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
