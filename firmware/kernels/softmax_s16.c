/* SOFTMAX, int16 in and out (16x8 models; output scale 1/32768, zero point 0), as TFLite's
 * SoftmaxInt16: per row, each difference to the maximum rescaled (td_mbqm) so that -65535 stands
 * for -10, recentred to [-32768, 32767] and looked up in the exp table; the sum of the exps
 * normalized to [1, 2) and looked up in the 1 / (1 + x) table; each exp times that reciprocal,
 * rounded and clamped to [0, 32767]. The exps are kept in the output row between the two passes,
 * as the reference keeps them. Tables: 513 entries each, built by the compiler as TFLite's Prepare
 * builds them. */
#include "td_kernels.h"
#include "td_quant.h"

/* TFLite's int16 table lookup with linear interpolation: entry 256 + (v >> 7), plus the slope to
 * the next entry times the low 7 bits, rounded (the slope is an int16 difference). */
static int32_t lut_lookup(int32_t v, const int16_t *lut) {
    const int32_t index = 256 + (v >> 7);
    const int32_t offset = v & 0x7f;
    const int32_t base = lut[index];
    const int32_t slope = (int16_t)(lut[index + 1] - lut[index]);
    return (int16_t)(base + ((slope * offset + 64) >> 7));
}

static int32_t clz32(uint32_t x) {
    int32_t n = 0;
    if (x == 0) return 32;
    while (!(x & 0x80000000u)) {
        x <<= 1;
        ++n;
    }
    return n;
}

void td_softmax_s16(const td_softmax_s16_params *p, const int16_t *in, int16_t *out) {
    const int32_t depth = p->depth;
    for (int32_t i = 0; i < p->outer; ++i) {
        const int16_t *row = in + i * depth;
        int16_t *orow = out + i * depth;
        int32_t max_v = -32768;
        for (int32_t c = 0; c < depth; ++c) if (row[c] > max_v) max_v = row[c];
        int32_t sum = 0;  /* Q16.15 */
        for (int32_t c = 0; c < depth; ++c) {
            const int32_t scaled = td_mbqm(row[c] - max_v, p->input_multiplier, p->input_shift);
            const int32_t e = lut_lookup(td_clamp(scaled + 32767, -32768, 32767), p->exp_lut);
            orow[c] = (int16_t)e;
            sum += e;
        }
        const int32_t headroom_plus_one = clz32((uint32_t)sum);
        const int32_t shifted_sum =
            (int32_t)((((int64_t)sum << (headroom_plus_one - 1)) + (1 << 13)) >> 14);
        const int32_t x = td_clamp(shifted_sum - ((1 << 15) + (1 << 16)), -32768, 32767);
        const int64_t reciprocal = lut_lookup(x, p->one_over_one_plus_x_lut);
        const int32_t right_shift = 31 - headroom_plus_one;
        const int64_t round = (int64_t)1 << (right_shift - 1);
        for (int32_t c = 0; c < depth; ++c) {
            const int32_t v = (int32_t)((orow[c] * reciprocal + round) >> right_shift);
            orow[c] = (int16_t)td_clamp(v, 0, 32767);
        }
    }
}
