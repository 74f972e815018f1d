/* gemmlowp-style fixed-point exp and reciprocal, as TFLite's reference int8 softmax uses them.
 * A value with I integer bits is an int32 raw r meaning r / 2^(31 - I). */
#ifndef TD_FIXEDPOINT_H
#define TD_FIXEDPOINT_H
#include <stdint.h>
#include "td_quant.h"

/* x * 2^exponent, saturating, for exponent > 0; a rounding right shift for exponent <= 0. */
static inline int32_t td_sat_mul_pot(int32_t x, int exponent) {
    if (exponent <= 0) return td_rdbpot(x, -exponent);
    const int32_t threshold = (int32_t)(((int64_t)1 << (31 - exponent)) - 1);
    if (x > threshold) return INT32_MAX;
    if (x < -threshold) return INT32_MIN;
    return (int32_t)((uint32_t)x << exponent);
}

/* exp(a) for a in [-1/4, 0), Q0.31 in and out: Taylor series around -1/8. */
static inline int32_t td_exp_quarter(int32_t a) {
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

/* exp(a) for a <= 0 with `integer_bits` integer bits (1..6); result in Q0.31. */
static inline int32_t td_exp_negative(int32_t a, int integer_bits) {
    static const int32_t multipliers[7] = {  /* exp(-2^k), k = -2 .. 4 */
        1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
    const int frac = 31 - integer_bits;
    const int32_t quarter = (int32_t)1 << (frac - 2);
    int32_t a_mod = (a & (quarter - 1)) - quarter;
    int32_t result = td_exp_quarter(td_sat_mul_pot(a_mod, integer_bits));
    int32_t remainder = a_mod - a;
    for (int k = -2; k <= 4 && k < integer_bits; ++k) {
        if (remainder & ((int32_t)1 << (frac + k))) result = td_srdhm(result, multipliers[k + 2]);
    }
    if (integer_bits > 5 && a < -((int32_t)1 << (36 - integer_bits))) result = 0;  /* below -32 */
    return a == 0 ? INT32_MAX : result;
}

/* 1 / (1 + x) for x in [0, 1), Q0.31 in and out: three Newton-Raphson steps in Q2.29 on the
 * half denominator (1 + x) / 2, starting from 48/17 - 32/17 d. */
static inline int32_t td_one_over_one_plus_x(int32_t a) {
    const int64_t sum = (int64_t)a + INT32_MAX;
    const int32_t half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
    int32_t x = 1515870810 + td_srdhm(half_denominator, -1010580540);
    for (int i = 0; i < 3; ++i) {
        int32_t one_minus = (1 << 29) - td_srdhm(half_denominator, x);
        x = x + td_sat_mul_pot(td_srdhm(x, one_minus), 2);
    }
    return td_sat_mul_pot(x, 1);
}

#endif
