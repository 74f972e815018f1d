"""Exact word layouts the kernels read weights in (tinydeploy/weight_layout.py)."""

import numpy as np

from tinydeploy import weight_layout as wl


def _word(lo: int, hi: int) -> int:
    """The int32 whose bottom halfword is lo and top halfword hi (both int16)."""
    return int(np.int32(np.uint32(((hi & 0xFFFF) << 16) | (lo & 0xFFFF))))


def test_depthwise_3x3_blocks_layout():
    """Per channel: the record, then per kernel column the words E = (w0, w1) and F = (w1, w2)
    down the column, with the taps doubled, then the doubled bias. A record with multiplier 0
    (constant output) gets bias 0, whatever the bias, so that doubling cannot overflow."""
    c = 4
    w = np.arange(9 * c, dtype=np.int64).reshape(9, c) - 18  # taps [ky * 3 + kx][channel]
    w[0, 1] = -128
    bias = np.array([10, -20, 2**31 - 5, 7])
    records = np.array([[1 << 30, 3, 4], [5 << 27, 2, -6], [0, 1, 9], [1 << 29, 4, 8]]).reshape(-1)
    blocks = wl.depthwise_3x3_blocks(w, bias, records).reshape(c, 10)

    def tap(ky, kx, ch):
        return 2 * int(w[ky * 3 + kx, ch])

    for ch in range(c):
        b = blocks[ch]
        for kx in range(3):
            assert b[3 + 2 * kx] == _word(tap(0, kx, ch), tap(1, kx, ch))  # E
            assert b[4 + 2 * kx] == _word(tap(1, kx, ch), tap(2, kx, ch))  # F
        assert list(b[0:3]) == list(records[3 * ch: 3 * ch + 3])
    assert list(blocks[:, 9]) == [20, -40, 0, 14]  # channel 2's record is constant
    assert blocks[1, 3] == _word(-256, tap(1, 0, 1))  # -128 doubled still fits int16
