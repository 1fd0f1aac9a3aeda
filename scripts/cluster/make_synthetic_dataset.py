#!/usr/bin/env python3
"""Writes a small synthetic dataset for cluster tests: DIR/support.png, DIR/support-mask.png and
DIR/queries/*.png (N query images, one unreadable file so errors.jsonl is exercised too).
Pure standard library (zlib PNG writer): runs on a bare node."""
import os, struct, sys, zlib

def png(path, width, height, channels, pixel):
    rows = b"".join(b"\x00" + bytes(v for x in range(width) for v in pixel(x, y)) for y in range(height))
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)
    color = {1: 0, 3: 2}[channels]
    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, color, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)

def main():
    out, count = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 8
    size = 40
    png(f"{out}/support.png", size, size, 3, lambda x, y: ((x * 7 + y * 3) % 251, (x * y) % 241, (y * 5) % 239))
    png(f"{out}/support-mask.png", size, size, 1, lambda x, y: (255 if 8 <= x < 28 and 6 <= y < 26 else 0,))
    for q in range(count):
        sub = "a/" if q % 3 == 0 else ""
        png(f"{out}/queries/{sub}q{q:02d}.png", size, size, 3,
            lambda x, y, q=q: ((x * 7 + y * 3 + 61 * q) % 251, (x * y + 17 * q) % 241, (y * 5 + x * q) % 239))
    with open(f"{out}/queries/broken.jpg", "wb") as f:
        f.write(b"not a jpeg")

if __name__ == "__main__":
    main()
