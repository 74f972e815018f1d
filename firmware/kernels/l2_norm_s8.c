/* L2_NORMALIZATION, int8 in, int8 out (scale 1/128, zero point 0), TFLite's reference: per row the
 * int32 sum of squared (x - zero point), its inverse square root as a multiplier and shift
 * (GetInvSqrtQuantizedMultiplierExp), and each output (x - zero point) times that, times 2^7. */
#include "td_kernels.h"
#include "td_quant.h"
#include "td_fixedpoint.h"

static int clz32(uint32_t x) {
    int n = 0;
    if (x == 0) return 32;
    while (!(x & 0x80000000u)) { x <<= 1; ++n; }
    return n;
}

/* 1 / sqrt(sum) as multiplier * 2^shift (shift a td_mbqm shift): the sum normalized into
 * [2^27, 2^29) by powers of four, then five Newton-Raphson steps x = 3/2 x - (sum/2) x^3 in Q3.28
 * from x = 1, times sqrt(1/2). Sums of 0 and 1 give the largest multiplier. */
static void inv_sqrt(int32_t sum, int32_t *multiplier, int32_t *shift) {
    if (sum <= 1) {
        *multiplier = INT32_MAX;
        *shift = 0;
        return;
    }
    int32_t s = 11;
    while (sum >= (1 << 29)) {
        sum /= 4;
        ++s;
    }
    const int pairs = (clz32((uint32_t)sum) - 1) / 2 - 1;
    s -= pairs;
    sum <<= 2 * pairs;
    const int32_t half_input = td_rdbpot(sum >> 1, 1);
    const int32_t half_three = (1 << 28) + (1 << 27);
    int32_t x = 1 << 28;
    for (int i = 0; i < 5; ++i) {
        const int32_t x3 = td_sat_mul_pot(td_srdhm(td_srdhm(x, x), x), 6);
        const int32_t d = (int32_t)((uint32_t)td_srdhm(half_three, x) -
                                    (uint32_t)td_srdhm(half_input, x3));
        x = td_sat_mul_pot(d, 3);
    }
    x = td_srdhm(x, 1518500250);
    if (s < 0) {
        x = (int32_t)((uint32_t)x << -s);
        s = 0;
    }
    *multiplier = x;
    *shift = -s;
}

void td_l2_norm_s8(const td_l2_norm_params *p, const int8_t *in, int8_t *out) {
    const int32_t zp = p->input_zero_point;
    for (int32_t i = 0; i < p->outer; ++i) {
        const int8_t *row = in + i * p->depth;
        int32_t sum = 0;
        for (int32_t c = 0; c < p->depth; ++c) sum += (row[c] - zp) * (row[c] - zp);
        int32_t multiplier, shift;
        inv_sqrt(sum, &multiplier, &shift);
        for (int32_t c = 0; c < p->depth; ++c) {
            const int32_t v = td_mbqm(row[c] - zp, multiplier, shift + 7);
            out[i * p->depth + c] = (int8_t)td_clamp(v, -128, 127);
        }
    }
}
