"""A minimal, fast PNG encoder for paletted 8-bit images with transparency.

Tiles are coloured by class, so a tile is a small index image plus a palette:
a colour type 3 PNG (PLTE + tRNS) compresses to a few kB at zlib level 1 in
well under a millisecond, and any PNG reader decodes it to RGBA.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

__all__ = ["encode_palette_png", "PNG_SIGNATURE"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def encode_palette_png(index: np.ndarray, palette: bytes, alpha: bytes, *, level: int = 1) -> bytes:
    """PNG bytes of a 2-D uint8 ``index`` image.

    ``palette`` holds 3 bytes (R, G, B) per entry and ``alpha`` one byte per
    entry (0 transparent .. 255 opaque); every index in the image must have a
    palette entry. Rows are written unfiltered (filter type 0): class images are
    runs of equal bytes, which zlib already compresses well.
    """
    idx = np.asarray(index)
    if idx.ndim != 2 or idx.dtype != np.uint8:
        raise ValueError(f"index must be a 2-D uint8 array, got {idx.dtype} with shape {idx.shape}")
    n = len(palette) // 3
    if len(palette) != 3 * n or not 1 <= n <= 256 or len(alpha) > n:
        raise ValueError(f"palette must hold 1..256 RGB triplets and alpha at most one byte each; got {len(palette)} and {len(alpha)} bytes")
    h, w = idx.shape
    raw = np.zeros((h, w + 1), dtype=np.uint8)  # a leading 0 per row: filter type None
    raw[:, 1:] = idx
    header = struct.pack(">IIBBBBB", w, h, 8, 3, 0, 0, 0)  # 8 bit, colour type 3 (palette)
    return b"".join((
        PNG_SIGNATURE,
        _chunk(b"IHDR", header),
        _chunk(b"PLTE", bytes(palette)),
        _chunk(b"tRNS", bytes(alpha)),
        _chunk(b"IDAT", zlib.compress(raw.tobytes(), level)),
        _chunk(b"IEND", b""),
    ))
