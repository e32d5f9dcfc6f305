"""A small drawing surface that writes itself as a PNG: rectangles, thick lines, discs,
and digits in a 5x7 bitmap font. Enough for a bar chart, with the standard library only.

The image is palette-based (PNG colour type 3): one byte per pixel indexing at most 256
colours, so a chart of flat colours compresses to a few kilobytes. The only chunks
written are IHDR, PLTE, IDAT and IEND: no text chunk, no metadata, nothing but pixels.
The font has digits, '-' and space and nothing else, so a label can be a date or a
number and never a word.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

_GLYPH_ROWS = {
    "0": (".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."),
    "1": ("..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."),
    "2": (".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"),
    "3": ("#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."),
    "4": ("...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."),
    "5": ("#####", "#....", "####.", "....#", "....#", "#...#", ".###."),
    "6": ("..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."),
    "7": ("#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."),
    "8": (".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."),
    "9": (".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."),
    "-": (".....", ".....", ".....", ".###.", ".....", ".....", "....."),
    " ": (".....", ".....", ".....", ".....", ".....", ".....", "....."),
}
GLYPH_WIDTH, GLYPH_HEIGHT = 5, 7
# Each glyph as the (column, row) of its set pixels.
_GLYPHS = {
    char: tuple((x, y) for y, row in enumerate(rows) for x, cell in enumerate(row) if cell == "#")
    for char, rows in _GLYPH_ROWS.items()
}
CHARACTERS = frozenset(_GLYPHS)


class Canvas:
    """Pixels as palette indices, row by row. Drawing outside the canvas is clipped."""

    def __init__(self, width: int, height: int, palette: Sequence[tuple[int, int, int]]) -> None:
        if not 0 < width <= 4096 or not 0 < height <= 4096:
            raise ValueError("a canvas is 1 to 4096 pixels each way")
        if not 0 < len(palette) <= 256:
            raise ValueError("a palette has 1 to 256 colours")
        self.width, self.height = width, height
        self.palette = tuple(palette)
        self.pixels = bytearray(width * height)  # colour 0 everywhere: the background

    def rect(self, x0: int, y0: int, x1: int, y1: int, colour: int) -> None:
        """Fill [x0, x1) x [y0, y1)."""
        x0, x1 = max(0, min(x0, x1)), min(self.width, max(x0, x1))
        y0, y1 = max(0, min(y0, y1)), min(self.height, max(y0, y1))
        if x0 >= x1:
            return
        run = bytes([colour]) * (x1 - x0)
        for y in range(y0, y1):
            start = y * self.width + x0
            self.pixels[start : start + len(run)] = run

    def disc(self, cx: int, cy: int, radius: int, colour: int) -> None:
        for dy in range(-radius, radius + 1):
            half = int((radius * radius - dy * dy) ** 0.5)
            self.rect(cx - half, cy + dy, cx + half + 1, cy + dy + 1, colour)

    def line(self, x0: int, y0: int, x1: int, y1: int, colour: int, width: int = 1) -> None:
        """A line `width` pixels thick, round at the ends."""
        steps = max(abs(x1 - x0), abs(y1 - y0), 1)
        radius = max(0, (width - 1) // 2)
        for i in range(steps + 1):
            x = round(x0 + (x1 - x0) * i / steps)
            y = round(y0 + (y1 - y0) * i / steps)
            self.disc(x, y, radius, colour)

    def text(self, x: int, y: int, text: str, colour: int, scale: int = 1) -> None:
        """Digits, '-' and spaces, top-left at (x, y); any other character is refused."""
        for i, char in enumerate(text):
            glyph = _GLYPHS.get(char)
            if glyph is None:
                raise ValueError(f"the chart font has no {char!r}: labels are numbers and dates")
            left = x + i * (GLYPH_WIDTH + 1) * scale
            for gx, gy in glyph:
                self.rect(
                    left + gx * scale,
                    y + gy * scale,
                    left + (gx + 1) * scale,
                    y + (gy + 1) * scale,
                    colour,
                )

    @staticmethod
    def text_width(text: str, scale: int = 1) -> int:
        return max(0, len(text) * (GLYPH_WIDTH + 1) - 1) * scale

    def png(self) -> bytes:
        raw = bytearray()
        for y in range(self.height):
            raw.append(0)  # filter type None: flat colours compress well without one
            raw += self.pixels[y * self.width : (y + 1) * self.width]
        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 3, 0, 0, 0)
        palette = b"".join(bytes(rgb) for rgb in self.palette)
        return b"".join(
            (
                PNG_SIGNATURE,
                _chunk(b"IHDR", header),
                _chunk(b"PLTE", palette),
                _chunk(b"IDAT", zlib.compress(bytes(raw), 9)),
                _chunk(b"IEND", b""),
            )
        )


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )
