"""Exact word layouts the kernels read weights in (tinydeploy/weight_layout.py)."""

import numpy as np

from tinydeploy import weight_layout as wl


def _word(lo: int, hi: int) -> int:
    """The int32 whose bottom halfword is lo and top halfword hi (both int16)."""
    return int(np.int32(np.uint32(((hi & 0xFFFF) << 16) | (lo & 0xFFFF))))


def test_depthwise_3x3_blocks_layout():
    """Per channel pair: per kernel column the words A, C, B, D for both channels, with the taps
    doubled; then both doubled biases and both records. A record with multiplier 0 (constant
    output) gets bias 0, whatever the bias, so that doubling cannot overflow."""
    c = 4
    w = np.arange(9 * c, dtype=np.int64).reshape(9, c) - 18  # taps [ky * 3 + kx][channel]
    w[0, 1] = -128
    bias = np.array([10, -20, 2**31 - 5, 7])
    records = np.array([[1 << 30, 3, 4], [5 << 27, 2, -6], [0, 1, 9], [1 << 29, 4, 8]]).reshape(-1)
    blocks = wl.depthwise_3x3_blocks(w, bias, records).reshape(c // 2, 32)

    def tap(ky, kx, ch):
        return 2 * int(w[ky * 3 + kx, ch])

    for pair in range(c // 2):
        b = blocks[pair]
        for kx in range(3):
            words = b[8 * kx: 8 * kx + 8]
            for j, ch in enumerate((2 * pair, 2 * pair + 1)):
                assert words[0 + j] == _word(tap(0, kx, ch), tap(1, kx, ch))  # A
                assert words[2 + j] == _word(0, tap(0, kx, ch))                # C
                assert words[4 + j] == _word(tap(2, kx, ch), 0)                # B
                assert words[6 + j] == _word(tap(1, kx, ch), tap(2, kx, ch))   # D
        assert list(b[26:32]) == list(records[6 * pair: 6 * pair + 6])
    assert list(blocks[0, 24:26]) == [20, -40]
    assert list(blocks[1, 24:26]) == [0, 14]  # channel 2's record is constant
    assert blocks[0, 1] == _word(-256, tap(1, 0, 1))  # -128 doubled still fits int16
