"""Weights reordered at compile time into the order the kernels read them (firmware/kernels/td_matmul.h).

Within a group of four values along the reduction axis the int16 order is (0, 2, 1, 3): what SXTB16
and SXTB16-ROR-8 make of four int8 values, so the kernels pair weights and inputs with SMLAD and no
shuffling. "Wide" weights are stored already widened to int16 in that order (twice the flash, one
load less per pair of multiply-accumulates); narrow ones stay int8 in natural order. On Helium
(Cortex-M55) whole int8 rows feed 16-lane dot products instead.
"""

from __future__ import annotations

import numpy as np

GROUP_ORDER = [0, 2, 1, 3]

# "int16": pre-widened (DSP cores, twice the flash); "int8": int8 in the same blocks; "rows": int8
# rows one after another, each padded to a multiple of 4, for Helium's whole-vector dot products
LAYOUTS = ("int16", "int8", "rows")
LAYOUT_CODES = {"int8": 0, "int16": 1, "rows": 2}  # td_kernels.h: p->layout


def _pad_to(a: np.ndarray, rows: int, cols: int) -> np.ndarray:
    out = np.zeros((rows, cols), dtype=np.int64)
    out[:a.shape[0], :a.shape[1]] = a
    return out


def _blocked(w: np.ndarray, block: int, wide: bool) -> np.ndarray:
    """[rows, k] -> [rows/block][k/4][block][4], rows and k padded with zeros."""
    rows = -(-w.shape[0] // block) * block
    k4 = -(-w.shape[1] // 4) * 4
    a = _pad_to(w, rows, k4).reshape(rows // block, block, k4 // 4, 4).transpose(0, 2, 1, 3)
    if wide:
        return np.ascontiguousarray(a[..., GROUP_ORDER]).astype(np.int16).reshape(-1)
    return np.ascontiguousarray(a).astype(np.int8).reshape(-1)


def pad_kernel_rows(w: np.ndarray, k_h: int) -> np.ndarray:
    """Convolution filters [out_c, k_h * row] with each kernel row padded to a multiple of 4
    values, the order in which td_conv2d_s8 widens its windows."""
    rows = w.reshape(w.shape[0], k_h, -1)
    row4 = -(-rows.shape[2] // 4) * 4
    out = np.zeros((w.shape[0], k_h, row4), dtype=np.int64)
    out[:, :, :rows.shape[2]] = rows
    return out.reshape(w.shape[0], -1)


def _plain_rows(w: np.ndarray, block: int) -> np.ndarray:
    """[rows, k] -> int8 rows padded to a multiple of 4 values, row count to a multiple of block."""
    rows = -(-w.shape[0] // block) * block
    return _pad_to(w, rows, -(-w.shape[1] // 4) * 4).astype(np.int8).reshape(-1)


def conv_rows(w: np.ndarray, layout: str) -> np.ndarray:
    """Convolution filters [out_c, k] in pairs of rows (td_mm_2x2_*). Wide, each group holds the
    words (row 0: w0,w2) (row 1: w0,w2) (row 0: w1,w3) (row 1: w1,w3), the pixel pair buffer's
    order, so one LDRD fetches the same half of both rows."""
    if layout == "rows":
        return _plain_rows(w, 2)
    if layout == "int8":
        return _blocked(w, 2, False)
    a = _blocked(w, 2, True).reshape(-1, 2, 2, 2)  # [pair * group][row][half][2]
    return np.ascontiguousarray(a.transpose(0, 2, 1, 3)).reshape(-1)


def conv_pair_blocks(w: np.ndarray, bias_folded: np.ndarray, records: np.ndarray) -> np.ndarray:
    """Wide convolution filters [out_c, k] with fast records as int32 words, one block per pair
    of output channels (TD_W16B, td_conv2d_s8's assembly loop reads each with one pointer): the
    folded biases (b0, b0, b1, b1), one per accumulator, then the pair's rows as conv_rows lays
    them out wide, then both records {m, e, k}. Weights and biases are stored doubled so that
    the kernels accumulate the doubled sum td_requant2 takes; a channel whose record is constant
    (m = 0) ignores its sum and gets zero weights and bias (its doubled sum could leave int32).
    An odd last channel is paired with zeros."""
    out_c = w.shape[0]
    pairs = -(-out_c // 2)
    rec = np.zeros((2 * pairs, 3), np.int64)
    rec[:out_c] = np.asarray(records, np.int64).reshape(-1, 3)[:out_c]  # one record: every channel's
    live = rec[:out_c, 0] != 0
    rows = conv_rows(np.asarray(w, np.int64) * 2 * live[:, None], "int16")
    words = _halves(rows[0::2], rows[1::2]).reshape(pairs, -1)
    bias = np.zeros(2 * pairs, np.int64)
    bias[:out_c] = np.where(live, 2 * np.asarray(bias_folded, np.int64), 0)
    head = np.repeat(bias.reshape(pairs, 2), 2, axis=1)  # b0, b0, b1, b1
    return np.concatenate([head, words, rec.reshape(pairs, 6)], axis=1).reshape(-1)


def fc_rows(w: np.ndarray, layout: str) -> np.ndarray:
    """Fully connected weights [out, in] in fours of rows (td_mm_4x1_*)."""
    return _plain_rows(w, 4) if layout == "rows" else _blocked(w, 4, layout == "int16")


def depthwise_groups(w: np.ndarray) -> np.ndarray:
    """Depthwise filters [taps, C] -> int16 [C/4][taps][4] with channels in group order."""
    taps, c = w.shape
    c4 = -(-c // 4) * 4
    a = _pad_to(w, taps, c4).reshape(taps, c4 // 4, 4).transpose(1, 0, 2)
    return np.ascontiguousarray(a[..., GROUP_ORDER]).astype(np.int16).reshape(-1)


def padded(values: np.ndarray, multiple: int) -> np.ndarray:
    """Per-channel constants padded with zeros to a whole number of blocks."""
    n = -(-len(values) // multiple) * multiple
    out = np.zeros(n, dtype=np.int64)
    out[:len(values)] = values
    return out


def _halves(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Two int16 values as one int32 word, lo in the bottom half (what SMLAD pairs)."""
    return ((lo.astype(np.int64) & 0xFFFF) | (hi.astype(np.int64) << 16)).astype(np.int32)


def depthwise_3x3_blocks(w: np.ndarray, bias_folded: np.ndarray, records: np.ndarray) -> np.ndarray:
    """A 3x3 depthwise layer as int32 words [C][10], one block per channel for
    td_depthwise_conv3x3_s8: the requantization record {m, e, k}, then per kernel column the
    weight words E = (w0, w1) and F = (w1, w2) down the column, then the folded bias. Weights and bias
    are stored doubled (int16 holds 2 * int8) so that the kernel accumulates the doubled
    accumulator td_requant2 takes.

    The kernel's input holds vertical pixel pairs P_i = (x[2i], x[2i+1]) of rows; output row 2i is
    P_i . E + bottom(P_i+1) * top(F) and output row 2i + 1 is top(P_i) * bottom(E) + P_i+1 . F:
    per kernel column two SMLADs and two halfword multiplies for six taps, from two words."""
    taps, c = w.shape
    assert taps == 9 and c % 2 == 0
    k = 2 * w.reshape(3, 3, c).astype(np.int64).transpose(2, 1, 0)  # [channel][column][row]
    kernel = np.stack([_halves(k[:, :, 0], k[:, :, 1]), _halves(k[:, :, 1], k[:, :, 2])],
                      axis=2).reshape(c, 6)                          # [channel][column][E, F]
    rec = np.asarray(records, np.int64).reshape(c, 3)
    # a constant record (multiplier 0) ignores its accumulator: its bias, which may lie far
    # outside the range where doubling is safe, becomes 0
    bias2 = np.where(rec[:, 0] == 0, 0, 2 * np.asarray(bias_folded, np.int64))
    return np.concatenate([rec, kernel, bias2[:, None]], axis=1).astype(np.int64).reshape(-1)
