/* SOFTMAX, int8 in and out (output scale 1/256, zero point -128), TFLite's reference algorithm:
 * exp() of the (non-positive) differences to the row maximum in Q5.26 fixed point, summed in Q12.19,
 * then scaled by a Newton-Raphson reciprocal of the sum. */
#include "td_kernels.h"
#include "td_quant.h"

/* x * 2^exponent, saturating, for exponent > 0; a rounding right shift for exponent < 0. */
static int32_t sat_mul_pot(int32_t x, int exponent) {
    if (exponent <= 0) return td_rdbpot(x, -exponent);
    const int32_t threshold = (int32_t)(((int64_t)1 << (31 - exponent)) - 1);
    if (x > threshold) return INT32_MAX;
    if (x < -threshold) return INT32_MIN;
    return (int32_t)((uint32_t)x << exponent);
}

/* exp(a) for a in [-1/4, 0), Q0.31 in and out: Taylor series around -1/8. */
static int32_t exp_quarter(int32_t a) {
    const int32_t constant_term = 1895147668;  /* exp(-1/8) */
    const int32_t one_third = 715827883;
    int32_t x = a + (1 << 28);
    int32_t x2 = td_srdhm(x, x);
    int32_t x3 = td_srdhm(x2, x);
    int32_t x4 = td_srdhm(x2, x2);
    int32_t x4_over_4 = td_rdbpot(x4, 2);
    int32_t poly = td_rdbpot(td_srdhm(x4_over_4 + x3, one_third) + x2, 1);
    return constant_term + td_srdhm(constant_term, x + poly);
}

/* exp(a) for a <= 0 given in Q5.26; result in Q0.31. */
static int32_t exp_negative(int32_t a) {
    static const int32_t multipliers[7] = {
        1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
    const int32_t quarter = 1 << 24;
    int32_t a_mod = (a & (quarter - 1)) - quarter;
    int32_t result = exp_quarter(sat_mul_pot(a_mod, 5));
    int32_t remainder = a_mod - a;
    for (int i = 0; i < 7; ++i) {
        /* bit (26 + exponent) of the remainder, exponents -2 .. 4 */
        if (remainder & (1 << (24 + i))) result = td_srdhm(result, multipliers[i]);
    }
    return a == 0 ? INT32_MAX : result;
}

/* 1 / (1 + x) for x in [0, 1), Q0.31 in and out, by three Newton-Raphson steps in Q2.29. */
static int32_t one_over_one_plus_x(int32_t a) {
    int64_t sum = (int64_t)a + INT32_MAX;
    int32_t half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
    int32_t x = 1515870810 + td_srdhm(half_denominator, -1010580540);
    for (int i = 0; i < 3; ++i) {
        int32_t hdx = td_srdhm(half_denominator, x);
        int32_t one_minus = (1 << 29) - hdx;
        x = x + sat_mul_pot(td_srdhm(x, one_minus), 2);
    }
    return sat_mul_pot(x, 1);
}

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
                sum += td_rdbpot(exp_negative(scaled), 12);
            }
        }
        int headroom = clz32((uint32_t)sum);
        int bits_over_unit = 12 - headroom;
        int32_t shifted = (int32_t)(((uint32_t)sum << headroom) - ((uint32_t)1 << 31));
        int32_t scale = one_over_one_plus_x(shifted);
        for (int32_t c = 0; c < p->depth; ++c) {
            int32_t diff = row[c] - max_v;
            if (diff >= p->diff_min) {
                int32_t scaled = td_srdhm((int32_t)((uint32_t)diff << p->input_left_shift),
                                          p->input_multiplier);
                int32_t e = exp_negative(scaled);
                int32_t v = td_rdbpot(td_srdhm(scale, e), bits_over_unit + 31 - 8) - 128;
                orow[c] = (int8_t)td_clamp(v, -128, 127);
            } else {
                orow[c] = -128;
            }
        }
    }
}
