/* Fixed-point helpers shared by the int8 kernels.
 * They reproduce TFLite's reference arithmetic (gemmlowp's rounding rules) exactly, which is what
 * makes our outputs bit-identical to the TFLite reference interpreter. */
#ifndef TD_QUANT_H
#define TD_QUANT_H
#include <stdint.h>
#include "td_kernels.h"
#include "td_simd.h"

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

/* Fast requantization from a record per output channel, {multiplier, e, 2^(e-1) + offset * 2^e},
 * which the compiler emits only where it is exact (tinydeploy/quantmath.py, requant_records):
 *
 * convolutions (td_mbqm): with |acc| < 2^30 the doubling high multiply is floor((2 acc m + 2^31) /
 * 2^32) in every case (gemmlowp's nudge rounds negative ties up too), one SMMULR; then rounding half
 * away from zero by e >= 1 bits is (t + 2^(e-1) - [t < 0]) >> e, and adding offset * 2^e before the
 * shift adds the output offset for free. SMMLAR adds that term to the product. [t < 0] may be read
 * as [acc < 0] (multipliers are >= 0): t < 0 only where acc < 0, and where acc < 0 but t = 0 the
 * -1 cannot carry 2^(e-1) + offset * 2^e across a multiple of 2^e. Three instructions in all,
 * from the doubled accumulator acc2 = 2 acc: */
static inline int32_t td_requant2(int32_t multiplier, int32_t e, int32_t round_offset,
                                  int32_t acc2) {
    return (td_smmlar(acc2, multiplier, round_offset) + (acc2 >> 31)) >> e;
}

/* the same from the accumulator itself; kernels whose weights and biases are stored doubled
 * accumulate acc2 = 2 acc directly and call td_requant2 */
static inline int32_t td_requant(int32_t multiplier, int32_t e, int32_t round_offset, int32_t acc) {
    return td_requant2(multiplier, e, round_offset, (int32_t)((uint32_t)acc << 1));
}

static inline int32_t td_requant_conv(const int32_t *rec, int32_t acc) {
    return td_requant(rec[0], rec[1], rec[2], acc);
}

/* fully connected (td_mbqm_single, shift = -1 - e with e >= 1): (acc m + 2^(30+e)) >> (31+e) equals
 * (floor(acc m / 2^32) + 2^(e-1)) >> e, the low word never carrying into the result: one SMMUL. */
static inline int32_t td_requant_fc(const int32_t *rec, int32_t acc) {
    return (td_smmul(acc, rec[0]) + rec[2]) >> rec[1];
}

/* float -> int32 that saturates instead of C's undefined behaviour (where x86 and Arm disagree):
 * NaN gives 0, values beyond the int32 range its nearest end. */
static inline int32_t td_sat_f2i(float v) {
    if (v != v) return 0;
    if (v >= 2147483520.0f) return INT32_MAX;
    if (v <= -2147483648.0f) return INT32_MIN;
    return (int32_t)v;
}

static inline int32_t td_clamp(int32_t v, int32_t lo, int32_t hi) {
    return v < lo ? lo : (v > hi ? hi : v);
}

/* td_clamp(v, -128, 127), the common case (no activation, or ReLU on an output whose zero point
 * is -128): one SSAT. */
static inline int32_t td_sat8(int32_t v) {
#if defined(__ARM_FEATURE_SAT) && __ARM_FEATURE_SAT
    return __ssat(v, 8);
#else
    return td_clamp(v, -128, 127);
#endif
}

/* A convolution accumulator to int8 through its channel's fast record r, clamped to [lo, hi];
 * sat8 (a constant where the kernels use it) says [lo, hi] is all of int8, which SSAT handles. A
 * macro: as an inline function it changes GCC's register allocation in the depthwise 3x3 loop for
 * the worse. */
#define TD_REQUANT_OUT(r, a, lo, hi, sat8)                                                        \
    (int8_t)((sat8) ? td_sat8(td_requant((r)[0], (r)[1], (r)[2], a))                             \
                    : td_clamp(td_requant((r)[0], (r)[1], (r)[2], a), lo, hi))

/* Per-layer requantization constants copied out of the parameter struct: held in registers, they
 * are not reloaded after every int8 store (a char store may alias anything). */
typedef struct {
    const int32_t *rq, *mult, *shift;
    int32_t offset, lo, hi;
} td_requant_ctx;

static inline td_requant_ctx td_conv_ctx(const td_conv_params *p) {
    const td_requant_ctx c = {p->rq, p->mult, p->shift, p->output_offset, p->act_min, p->act_max};
    return c;
}

/* A convolution accumulator to its int8 output, per output channel. */
static inline int8_t td_conv_out(const td_requant_ctx *c, int32_t acc, int oc) {
    const int32_t v = c->rq ? td_requant_conv(c->rq + 3 * oc, acc)
                            : td_mbqm(acc, c->mult[oc], c->shift[oc]) + c->offset;
    return (int8_t)td_clamp(v, c->lo, c->hi);
}
#endif
