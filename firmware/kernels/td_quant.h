/* Fixed-point helpers shared by the int8 kernels.
 * They reproduce TFLite's reference arithmetic (gemmlowp's rounding rules) exactly, which is what
 * makes our outputs bit-identical to the TFLite reference interpreter. */
#ifndef TD_QUANT_H
#define TD_QUANT_H
#include <stdint.h>
#include "td_kernels.h"

/* (a * b * 2) >> 32 rounded to nearest, saturating the single overflow case INT32_MIN^2. */
static inline int32_t td_srdhm(int32_t a, int32_t b) {
    if (a == b && a == INT32_MIN) return INT32_MAX;
    int64_t ab = (int64_t)a * (int64_t)b;
    int64_t nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

/* x / 2^exponent rounded to nearest, ties away from zero. */
static inline int32_t td_rdbpot(int32_t x, int exponent) {
    int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
    int32_t remainder = x & mask;
    int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* x * multiplier * 2^shift, TFLite's MultiplyByQuantizedMultiplier (double rounding: a rounding
 * doubling high multiply, then a rounding shift). Used by conv, depthwise, add and the rest. */
static inline int32_t td_mbqm(int32_t x, int32_t multiplier, int shift) {
    int left = shift > 0 ? shift : 0;
    int right = shift > 0 ? 0 : -shift;
    return td_rdbpot(td_srdhm((int32_t)((uint32_t)x << left), multiplier), right);
}

/* x * multiplier * 2^(shift - 31) with one rounding (half up). TFLite's reference int8
 * FULLY_CONNECTED requantizes this way (TensorFlow 2.21, measured against the interpreter);
 * TFLite Micro's reference kernels use td_mbqm for it instead. */
static inline int32_t td_mbqm_single(int32_t x, int32_t multiplier, int shift) {
    const int total_shift = 31 - shift;
    const int64_t round = (int64_t)1 << (total_shift - 1);
    return (int32_t)(((int64_t)x * multiplier + round) >> total_shift);
}

static inline int32_t td_clamp(int32_t v, int32_t lo, int32_t hi) {
    return v < lo ? lo : (v > hi ? hi : v);
}

/* A convolution accumulator to its int8 output, per output channel. */
static inline int8_t td_conv_requant(const td_conv_params *p, int32_t acc, int oc) {
    acc = td_mbqm(acc, p->mult[oc], p->shift[oc]) + p->output_offset;
    return (int8_t)td_clamp(acc, p->act_min, p->act_max);
}
#endif
