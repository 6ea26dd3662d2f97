"""Dalal-Triggs HOG block features computed like OpenCV's ``HOGDescriptor`` defaults, in numpy + OpenCV core.

Defaults reproduced (so OpenCV's trained people SVM applies unchanged): 64x128 window, 16x16 blocks with 8x8
stride, 8x8 cells, 9 unsigned orientation bins, sqrt gamma correction, [-1, 0, 1] gradients taking the colour
channel of largest magnitude, bilinear orientation + trilinear spatial voting with a Gaussian block window
(sigma 4), L2-Hys block normalisation (clip 0.2). Descriptor order as OpenCV: blocks column-major (x outer),
cells inside a block column-major, then bins.
"""
from __future__ import annotations

import cv2
import numpy as np

CELL = 8
NBINS = 9
BLOCK_CELLS = 2
WIN_BLOCKS_X, WIN_BLOCKS_Y = 7, 15  # a 64x128 window at block stride 8
L2HYS_CLIP = 0.2
_GAMMA = np.sqrt(np.arange(256, dtype=np.float32))


def _block_weights() -> np.ndarray:
    """``(64, 16)`` voting weights: pixel of a 8x8 quadrant -> (cell c, quadrant q) as ``c * 4 + q``.

    A block is 16x16 px = 2x2 quadrants; each pixel votes into the (up to) 4 cells around it with bilinear
    spatial weights, times the Gaussian block window. Cells and quadrants are indexed ``x * 2 + y``.
    """
    sigma = (CELL * BLOCK_CELLS * 2) / 8.0
    scale = 1.0 / (2.0 * sigma * sigma)
    size = CELL * BLOCK_CELLS
    out = np.zeros((CELL, CELL, 4, 4), np.float32)  # (py, px, cell, quadrant)
    for i in range(size):          # y inside the block
        for j in range(size):      # x inside the block
            g = np.exp(-((i - size * 0.5) ** 2 + (j - size * 0.5) ** 2) * scale)
            cy, cx = (i + 0.5) / CELL - 0.5, (j + 0.5) / CELL - 0.5
            y0, x0 = int(np.floor(cy)), int(np.floor(cx))
            fy, fx = cy - y0, cx - x0
            q = (j // CELL) * 2 + (i // CELL)
            for yy, wy in ((y0, 1.0 - fy), (y0 + 1, fy)):
                for xx, wx in ((x0, 1.0 - fx), (x0 + 1, fx)):
                    if 0 <= yy < BLOCK_CELLS and 0 <= xx < BLOCK_CELLS:
                        out[i % CELL, j % CELL, xx * 2 + yy, q] += g * wy * wx
    return out.reshape(CELL * CELL, 16)


_WEIGHTS = _block_weights()


def gradient_votes(img: np.ndarray) -> np.ndarray:
    """Orientation votes per pixel: ``img (H, W, 3) uint8`` (already padded) -> ``(H, W, 9) float32``.

    The outermost pixel ring uses reflect-101 neighbours, as OpenCV's computeGradient does.
    """
    g = cv2.LUT(img, _GAMMA)
    p = cv2.copyMakeBorder(g, 1, 1, 1, 1, cv2.BORDER_REFLECT_101)
    dx = p[1:-1, 2:] - p[1:-1, :-2]
    dy = p[2:, 1:-1] - p[:-2, 1:-1]
    mag2 = dx * dx + dy * dy
    c1 = mag2[..., 1] > mag2[..., 0]
    gx = np.where(c1, dx[..., 1], dx[..., 0])
    gy = np.where(c1, dy[..., 1], dy[..., 0])
    m = np.maximum(mag2[..., 1], mag2[..., 0])
    c2 = mag2[..., 2] > m
    gx = np.where(c2, dx[..., 2], gx)
    gy = np.where(c2, dy[..., 2], gy)
    mag, ang = cv2.cartToPolar(np.ascontiguousarray(gx), np.ascontiguousarray(gy))
    ang = ang * np.float32(NBINS / np.pi) - np.float32(0.5)
    b0f = np.floor(ang)
    w1 = mag * (ang - b0f)
    w0 = mag - w1
    b0 = b0f.astype(np.int64) % NBINS
    base = np.arange(b0.size, dtype=np.int64).reshape(b0.shape) * NBINS
    votes = np.zeros(img.shape[:2] + (NBINS,), np.float32)
    flat = votes.reshape(-1)
    flat[(base + b0).reshape(-1)] = w0.reshape(-1)
    flat[(base + (b0 + 1) % NBINS).reshape(-1)] = w1.reshape(-1)  # never the same bin as b0
    return votes


def block_features(img: np.ndarray) -> np.ndarray:
    """Normalised HOG blocks of a padded image ``(H, W, 3) uint8`` -> ``(By, Bx, 36) float32``.

    Block ``(by, bx)`` covers pixels ``[8 by, 8 by + 16) x [8 bx, 8 bx + 16)``; ``By = H // 8 - 1``.
    """
    h, w = (img.shape[0] // CELL) * CELL, (img.shape[1] // CELL) * CELL
    votes = gradient_votes(img)[:h, :w]
    ny, nx = h // CELL, w // CELL
    # (ny, 8, nx, 8, 9) -> (ny, nx, 9, 64) @ (64, 16) -> per 8x8 quadrant, its weighted votes for (cell, quadrant)
    v = votes.reshape(ny, CELL, nx, CELL, NBINS).transpose(0, 2, 4, 1, 3).reshape(ny, nx, NBINS, CELL * CELL)
    q = (v @ _WEIGHTS).reshape(ny, nx, NBINS, 4, 4)  # (..., bin, cell, quadrant)
    by, bx = ny - 1, nx - 1
    blocks = np.zeros((by, bx, 4, NBINS), np.float32)
    for qx in range(2):
        for qy in range(2):
            part = q[qy:qy + by, qx:qx + bx, :, :, qx * 2 + qy]  # (by, bx, bin, cell)
            blocks += part.transpose(0, 1, 3, 2)
    blocks = blocks.reshape(by, bx, 4 * NBINS)
    n = np.sqrt((blocks ** 2).sum(-1, keepdims=True)) + 0.1 * blocks.shape[-1]
    blocks = np.minimum(blocks / n, L2HYS_CLIP)
    return blocks / (np.sqrt((blocks ** 2).sum(-1, keepdims=True)) + 1e-3)


def window_scores(blocks: np.ndarray, svm: np.ndarray) -> np.ndarray:
    """Linear SVM score of every 64x128 window at a stride of one cell: ``(By, Bx, 36)`` -> ``(Wy, Wx)``.

    ``svm (3781,)`` is in OpenCV's descriptor order (block x outer, block y inner) with the bias last.
    """
    by, bx = blocks.shape[:2]
    wy, wx = by - WIN_BLOCKS_Y + 1, bx - WIN_BLOCKS_X + 1
    if wy < 1 or wx < 1:
        return np.zeros((max(wy, 0), max(wx, 0)), np.float32)
    coef = svm[:-1].reshape(WIN_BLOCKS_X, WIN_BLOCKS_Y, 4 * NBINS)
    s = np.full((wy, wx), svm[-1], np.float32)
    for j in range(WIN_BLOCKS_X):
        for i in range(WIN_BLOCKS_Y):
            s += blocks[i:i + wy, j:j + wx] @ coef[j, i]
    return s


def window_descriptor(win: np.ndarray) -> np.ndarray:
    """The 3780-long descriptor of one 64x128 window ``(128, 64, 3) uint8`` in OpenCV's order (for checks)."""
    b = block_features(win)
    return b[:WIN_BLOCKS_Y, :WIN_BLOCKS_X].transpose(1, 0, 2).reshape(-1)
