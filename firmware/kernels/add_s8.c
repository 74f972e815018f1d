/* ADD, int8, with 4-D broadcasting: both inputs rescaled to a shared scale, summed, requantized.
 * The rescaling of an input depends on its int8 value alone, so the compiler tabulates it (256
 * entries per input, TFLite's exact arithmetic, doubled where a fast record requantizes); the kernel
 * looks both up and requantizes the sum. */
#include "td_kernels.h"
#include "td_quant.h"

/* Both inputs of the output's shape, without broadcasting (a residual connection), with a record
 * and the int8 range as the clamp: one loop over every value, four a pass. */
static int add_dense_sat8(const td_binary_params *p, const int8_t *x1, const int8_t *x2,
                          int8_t *out) {
    const int32_t *d = p->out_dims, *s1 = p->in1_strides, *s2 = p->in2_strides;
    const int32_t row = d[3], plane = d[2] * row, cube = d[1] * plane;
    if (!p->out_rq || p->act_min != -128 || p->act_max != 127 || s1[3] != 1 || s2[3] != 1
        || s1[2] != row || s2[2] != row || s1[1] != plane || s2[1] != plane
        || (d[0] > 1 && (s1[0] != cube || s2[0] != cube)))
        return 0;
    const int32_t *t1 = p->table1, *t2 = p->table2;
    const int32_t m = p->out_rq[0], e = p->out_rq[1], k = p->out_rq[2];
#define ADD_ONE(i) \
    out[i] = (int8_t)td_sat8(td_requant2(m, e, k, t1[(uint8_t)x1[i]] + t2[(uint8_t)x2[i]]))
    int32_t n = d[0] * cube;
    for (; n & 3; --n, ++out, ++x1, ++x2) ADD_ONE(0);
#ifdef TD_DSP
    if (n) {  /* the same in assembly: post-indexed loads and stores, no pointer arithmetic */
        const int8_t *const end = out + n;
        int32_t a, b;
#define ADD_ASM                                                                                  \
        "ldrb %[a], [%[x1]], #1\n\t"                                                             \
        "ldrb %[b], [%[x2]], #1\n\t"                                                             \
        "ldr %[a], [%[t1], %[a], lsl #2]\n\t"                                                    \
        "ldr %[b], [%[t2], %[b], lsl #2]\n\t"                                                    \
        "add %[a], %[a], %[b]\n\t"                                                               \
        "smmlar %[b], %[a], %[m], %[k]\n\t"                                                      \
        "add %[b], %[b], %[a], asr #31\n\t"                                                      \
        "asr %[b], %[b], %[e]\n\t"                                                               \
        "ssat %[b], #8, %[b]\n\t"                                                                \
        "strb %[b], [%[out]], #1\n\t"
        __asm__ volatile("1:\n\t" ADD_ASM ADD_ASM ADD_ASM ADD_ASM
                "cmp %[out], %[end]\n\t"
                "bne 1b"
                : [a] "=&r"(a), [b] "=&r"(b), [x1] "+r"(x1), [x2] "+r"(x2), [out] "+r"(out)
                : [t1] "r"(t1), [t2] "r"(t2), [m] "r"(m), [e] "r"(e), [k] "r"(k), [end] "r"(end)
                : "cc", "memory");
#undef ADD_ASM
    }
#else
    for (int8_t *const end = out + n; out != end; out += 4, x1 += 4, x2 += 4) {
        ADD_ONE(0);
        ADD_ONE(1);
        ADD_ONE(2);
        ADD_ONE(3);
    }
#endif
#undef ADD_ONE
    return 1;
}

void td_add_s8(const td_binary_params *p, const int8_t *in1, const int8_t *in2,
               int8_t *out) {
    if (add_dense_sat8(p, in1, in2, out)) return;
    const int32_t *t1 = p->table1, *t2 = p->table2, *rq = p->out_rq;
    const int32_t lo = p->act_min, hi = p->act_max, n = p->out_dims[3];
    const int32_t s1 = p->in1_strides[3], s2 = p->in2_strides[3];
    for (int32_t a = 0; a < p->out_dims[0]; ++a)
    for (int32_t b = 0; b < p->out_dims[1]; ++b)
    for (int32_t c = 0; c < p->out_dims[2]; ++c) {
        const int8_t *x1 = in1 + a * p->in1_strides[0] + b * p->in1_strides[1] + c * p->in1_strides[2];
        const int8_t *x2 = in2 + a * p->in2_strides[0] + b * p->in2_strides[1] + c * p->in2_strides[2];
        if (rq) {  /* the tables hold doubled values: their sum is what td_requant2 takes */
            const int32_t m = rq[0], e = rq[1], k = rq[2];
            if (lo == -128 && hi == 127) {
                for (int32_t d = 0; d < n; ++d, x1 += s1, x2 += s2)
                    *out++ = (int8_t)td_sat8(td_requant2(m, e, k, t1[(uint8_t)*x1] + t2[(uint8_t)*x2]));
            } else {
                for (int32_t d = 0; d < n; ++d, x1 += s1, x2 += s2)
                    *out++ = (int8_t)td_clamp(td_requant2(m, e, k, t1[(uint8_t)*x1] + t2[(uint8_t)*x2]),
                                              lo, hi);
            }
        } else {
            for (int32_t d = 0; d < n; ++d, x1 += s1, x2 += s2) {
                const int32_t sum = t1[(uint8_t)*x1] + t2[(uint8_t)*x2];
                *out++ = (int8_t)td_clamp(td_mbqm(sum, p->output_multiplier, p->output_shift)
                                          + p->output_offset, lo, hi);
            }
        }
    }
}
