#!/usr/bin/env python3
"""Draws the package icon (icon.png, 128x128 RGBA): nine curve detectors, one arc per orientation.

Pure standard library (zlib + struct); 4x4 supersampling for smooth edges. Run: python3 make_icon.py
"""
import math
import struct
import zlib

SIZE = 128
SS = 4  # supersampling factor
BG = (24, 42, 74)          # deep blue
ARC = [(242, 160, 60), (236, 112, 72), (214, 78, 96)]  # warm arcs, outer to inner
DOT = (250, 244, 230)


def inside_rounded_square(x, y, r=22):
    cx = min(max(x, r), SIZE - r)
    cy = min(max(y, r), SIZE - r)
    return (x - cx) ** 2 + (y - cy) ** 2 <= r * r


def colour_at(x, y):
    """Colour of the point (x, y) in icon pixels, or None for transparent."""
    if not inside_rounded_square(x, y):
        return None
    # A 3x3 grid of curve detectors: each cell holds an arc (a third of a circle) whose orientation turns by 40
    # degrees from cell to cell, as the curve-detector family of InceptionV1's mixed3b does.
    cell = SIZE / 3.0
    col, row = min(int(x // cell), 2), min(int(y // cell), 2)
    k = row * 3 + col
    cx, cy = (col + 0.5) * cell, (row + 0.5) * cell
    facing = math.radians(k * 40.0)
    # the arc's circle centre sits behind the arc, opposite to where it faces
    ox, oy = cx - 9.0 * math.cos(facing), cy + 9.0 * math.sin(facing)
    d = math.hypot(x - ox, y - oy)
    angle = math.atan2(oy - y, x - ox)
    off = (angle - facing + math.pi) % (2 * math.pi) - math.pi
    if abs(off) <= math.radians(62) and abs(d - 16.0) <= 3.2:
        return ARC[k % 3] if k != 4 else DOT
    return BG


def render():
    rows = []
    for py in range(SIZE):
        row = bytearray([0])  # filter type: none
        for px in range(SIZE):
            acc = [0.0, 0.0, 0.0, 0.0]
            for sy in range(SS):
                for sx in range(SS):
                    c = colour_at(px + (sx + 0.5) / SS, py + (sy + 0.5) / SS)
                    if c is not None:
                        acc[0] += c[0]
                        acc[1] += c[1]
                        acc[2] += c[2]
                        acc[3] += 1.0
            n = SS * SS
            alpha = acc[3] / n
            if acc[3] > 0:
                row += bytes(int(round(acc[i] / acc[3])) for i in range(3))
            else:
                row += b"\x00\x00\x00"
            row.append(int(round(alpha * 255)))
        rows.append(bytes(row))
    return b"".join(rows)


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def main():
    header = struct.pack(">IIBBBBB", SIZE, SIZE, 8, 6, 0, 0, 0)  # 8-bit RGBA
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(render(), 9)) + chunk(b"IEND", b"")
    with open("icon.png", "wb") as f:
        f.write(png)


if __name__ == "__main__":
    main()
