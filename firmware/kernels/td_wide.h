/* Helpers of the 16x8 and float32 kernels of the convolution family (conv, depthwise, fully
 * connected, transposed convolution, batch matmul, LSTM, SVDF): TFLite's int64
 * MultiplyByQuantizedMultiplier, which its 16x8 kernels apply to their int64 accumulators, and
 * the clamp bounds of a fused activation on floats. */
#ifndef TD_WIDE_H
#define TD_WIDE_H
#include <float.h>
#include <math.h>
#include <stdint.h>
#include "td_kernels.h"

/* x * multiplier * 2^shift for an int64 x, as TFLite's MultiplyByQuantizedMultiplier(int64_t, ...)
 * (its build without single rounding): the Q31 multiplier is first rounded to Q15 (saturating at
 * 0x7FFF), then one rounding shift by 15 - shift, ties up. x stays within 2^47 and the reduced
 * multiplier below 2^15, so the product fits int64. The result is truncated to int32 as the
 * reference's static_cast does (callers clamp it to their output range). */
static inline int32_t td_mbqm64(int64_t x, int32_t multiplier, int32_t shift) {
    const int64_t reduced = multiplier < 0x7FFF0000 ? (multiplier + (1 << 15)) >> 16 : 0x7FFF;
    const int32_t total_shift = 15 - shift;
    const int64_t round = (int64_t)1 << (total_shift - 1);
    return (int32_t)((x * reduced + round) >> total_shift);
}

/* x * multiplier * 2^shift for an int64 x with one rounding and the whole Q31 multiplier, as
 * LiteRT's 16x8 FULLY_CONNECTED requantizes (measured against its reference kernel):
 * (x * multiplier + 2^(30 - shift)) >> (31 - shift), the product in int64 (wrapping, as the
 * reference's would, where |x| >= 2^32). */
static inline int32_t td_mbqm64_single(int64_t x, int32_t multiplier, int32_t shift) {
    const int32_t total_shift = 31 - shift;
    const uint64_t v = (uint64_t)x * (uint64_t)(int64_t)multiplier +
                       ((uint64_t)1 << (total_shift - 1));
    return (int32_t)((int64_t)v >> total_shift);
}

/* The clamp bounds of a fused activation (TD_ACT_*) on floats, as TFLite's
 * CalculateActivationRange: no activation clamps to the float range's ends. */
static inline void td_act_bounds_f32(int32_t activation, float *lo, float *hi) {
    *lo = -FLT_MAX;
    *hi = FLT_MAX;
    if (activation == TD_ACT_RELU) *lo = 0.0f;
    if (activation == TD_ACT_RELU6) *lo = 0.0f, *hi = 6.0f;
    if (activation == TD_ACT_RELU_N1_TO_1) *lo = -1.0f, *hi = 1.0f;
}

/* min(max(x, lo), hi) with std::max/std::min's comparisons: NaN passes through, infinities
 * become the bounds. */
static inline float td_clamp_act_f32(float x, float lo, float hi) {
    const float v = x < lo ? lo : x;
    return hi < v ? hi : v;
}
/* TFLite's ApplyActivationToVector on one value, as the sequence ops apply it: ReLUs as
 * std::max(0, x) and friends (NaN becomes the lower bound, infinities stay) and tanh (codes
 * TD_ACT_*, TD_ACT_TANH included). */
static inline float td_activation_f32(int32_t activation, float x) {
    if (activation == TD_ACT_RELU) return 0.0f < x ? x : 0.0f;
    if (activation == TD_ACT_RELU6) {
        const float m = 6.0f < x ? 6.0f : x;
        return 0.0f < m ? m : 0.0f;
    }
    if (activation == TD_ACT_RELU_N1_TO_1) {
        const float m = 1.0f < x ? 1.0f : x;
        return -1.0f < m ? m : -1.0f;
    }
    if (activation == TD_ACT_TANH) return tanhf(x);
    return x;
}

/* The dot product of n floats as LiteRT's float MatrixBatchVectorMultiplyAccumulate sums it on
 * its reference machine (x86-64, measured: four lanes of SSE): products added into four partial
 * sums by position mod 4, those summed in lane order, then the last n mod 4 products one by
 * one. The sequence ops' matrix products use it, so that their float results are the
 * reference's. */
static inline float td_dot4_f32(const float *a, const float *b, int32_t n) {
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += a[i] * b[i];
        s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3];
    }
    float s = ((s0 + s1) + s2) + s3;
    for (; i < n; ++i) s += a[i] * b[i];
    return s;
}

/* The logistic function as TFLite's float sigmoid computes it: 1 / (1 + exp(-x)). */
static inline float td_sigmoid_f32(float x) {
    return 1.0f / (1.0f + expf(-x));
}
#endif
