/* CUMSUM on float32, int32 and int64, as TFLite's reference CumSum: every line along the axis
 * summed in order from 0 (from its last element where reverse), each output the sum up to and
 * including its element, or (exclusive) up to the one before it. Integer sums wrap modulo 2^32
 * or 2^64, as they do on TFLite's x86. */
#include "td_kernels.h"

/* The loop every type shares: `ACC += in[i]` is ADD(acc, in[i]), which wraps for the integers. */
#define TD_CUMSUM(T, ADD)                                                                         \
    for (int32_t o = 0; o < p->outer; ++o)                                                        \
        for (int32_t k = 0; k < p->inner; ++k) {                                                 \
            const int32_t base = o * p->depth * p->inner + k;                                    \
            T acc = 0;                                                                            \
            for (int32_t d = 0; d < p->depth; ++d) {                                             \
                const int32_t i = base + (p->reverse ? p->depth - 1 - d : d) * p->inner;         \
                if (p->exclusive) {                                                               \
                    out[i] = acc;                                                                 \
                    acc = ADD(acc, in[i]);                                                        \
                } else {                                                                          \
                    acc = ADD(acc, in[i]);                                                        \
                    out[i] = acc;                                                                 \
                }                                                                                 \
            }                                                                                     \
        }

static float add_f32(float a, float b) { return a + b; }
static int32_t add_s32(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }
static int64_t add_s64(int64_t a, int64_t b) { return (int64_t)((uint64_t)a + (uint64_t)b); }

void td_cumsum_f32(const td_cumsum_params *p, const float *in, float *out) {
    TD_CUMSUM(float, add_f32)
}

void td_cumsum_s32(const td_cumsum_params *p, const int32_t *in, int32_t *out) {
    TD_CUMSUM(int32_t, add_s32)
}

void td_cumsum_s64(const td_cumsum_params *p, const int64_t *in, int64_t *out) {
    TD_CUMSUM(int64_t, add_s64)
}
