/* Helpers of the element-wise math kernels: 4-D broadcasting loops, TFLite's float activation
 * clamp, and int32 arithmetic that wraps as TFLite's does on its reference machine (x86-64) instead
 * of C's undefined overflow. */
#ifndef TD_BROADCAST_H
#define TD_BROADCAST_H
#include <stdint.h>

/* The head of a loop over a 4-D output in order, with i1 and i2 the matching element offsets of
 * two inputs (strides are 0 along the dimensions an input is broadcast). The statement after it is
 * the body; the output index is the caller's counter. */
#define TD_BROADCAST2(dims, s1, s2, i1, i2)                                                       \
    for (int32_t td_a = 0; td_a < (dims)[0]; ++td_a)                                             \
    for (int32_t td_b = 0; td_b < (dims)[1]; ++td_b)                                             \
    for (int32_t td_c = 0; td_c < (dims)[2]; ++td_c)                                             \
    for (int32_t td_d = 0,                                                                        \
             i1 = td_a * (s1)[0] + td_b * (s1)[1] + td_c * (s1)[2],                               \
             i2 = td_a * (s2)[0] + td_b * (s2)[1] + td_c * (s2)[2];                               \
         td_d < (dims)[3]; ++td_d, i1 += (s1)[3], i2 += (s2)[3])

/* The same with three inputs (SELECT: condition, x, y). */
#define TD_BROADCAST3(dims, s1, s2, s3, i1, i2, i3)                                               \
    for (int32_t td_a = 0; td_a < (dims)[0]; ++td_a)                                             \
    for (int32_t td_b = 0; td_b < (dims)[1]; ++td_b)                                             \
    for (int32_t td_c = 0; td_c < (dims)[2]; ++td_c)                                             \
    for (int32_t td_d = 0,                                                                        \
             i1 = td_a * (s1)[0] + td_b * (s1)[1] + td_c * (s1)[2],                               \
             i2 = td_a * (s2)[0] + td_b * (s2)[1] + td_c * (s2)[2],                               \
             i3 = td_a * (s3)[0] + td_b * (s3)[1] + td_c * (s3)[2];                               \
         td_d < (dims)[3]; ++td_d, i1 += (s1)[3], i2 += (s2)[3], i3 += (s3)[3])

/* TFLite's ActivationFunctionWithMinMax on floats: min(max(x, lo), hi) as std::min/std::max
 * order them, so NaN passes through and infinities become the float range's ends. */
static inline float td_clamp_f32(float x, float lo, float hi) {
    const float v = x < lo ? lo : x;
    return hi < v ? hi : v;
}

/* int32 a + b, a - b, a * b and -a, wrapping modulo 2^32. */
static inline int32_t td_add_wrap(int32_t a, int32_t b) {
    return (int32_t)((uint32_t)a + (uint32_t)b);
}
static inline int32_t td_sub_wrap(int32_t a, int32_t b) {
    return (int32_t)((uint32_t)a - (uint32_t)b);
}
static inline int32_t td_mul_wrap(int32_t a, int32_t b) {
    return (int32_t)((uint32_t)a * (uint32_t)b);
}
static inline int32_t td_neg_wrap(int32_t a) {
    return (int32_t)(0u - (uint32_t)a);
}
#endif
