/* SOFTMAX, int8 in and out (output scale 1/256, zero point -128), TFLite's reference algorithm:
 * exp() of the (non-positive) differences to the row maximum in Q5.26 fixed point, summed in Q12.19,
 * then scaled by a Newton-Raphson reciprocal of the sum. */
#include "td_kernels.h"
#include "td_quant.h"
#include "td_fixedpoint.h"

static int clz32(uint32_t x) {
    int n = 0;
    if (x == 0) return 32;
    while (!(x & 0x80000000u)) { x <<= 1; ++n; }
    return n;
}

void td_softmax_s8(const td_softmax_params *p, const int8_t *in, int8_t *out) {
    for (int32_t i = 0; i < p->outer; ++i) {
        const int8_t *row = in + i * p->depth;
        int8_t *orow = out + i * p->depth;
        int32_t max_v = -128;
        for (int32_t c = 0; c < p->depth; ++c) if (row[c] > max_v) max_v = row[c];
        int32_t sum = 0;  /* Q12.19 */
        for (int32_t c = 0; c < p->depth; ++c) {
            int32_t diff = row[c] - max_v;
            if (diff >= p->diff_min) {
                int32_t scaled = td_srdhm((int32_t)((uint32_t)diff << p->input_left_shift),
                                          p->input_multiplier);
                sum += td_rdbpot(td_exp_negative(scaled, 5), 12);
            }
        }
        int headroom = clz32((uint32_t)sum);
        int bits_over_unit = 12 - headroom;
        int32_t shifted = (int32_t)(((uint32_t)sum << headroom) - ((uint32_t)1 << 31));
        int32_t scale = td_one_over_one_plus_x(shifted);
        for (int32_t c = 0; c < p->depth; ++c) {
            int32_t diff = row[c] - max_v;
            if (diff >= p->diff_min) {
                int32_t scaled = td_srdhm((int32_t)((uint32_t)diff << p->input_left_shift),
                                          p->input_multiplier);
                int32_t e = td_exp_negative(scaled, 5);
                int32_t v = td_rdbpot(td_srdhm(scale, e), bits_over_unit + 31 - 8) - 128;
                orow[c] = (int8_t)td_clamp(v, -128, 127);
            } else {
                orow[c] = -128;
            }
        }
    }
}
