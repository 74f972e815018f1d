/* ADD, int8, with 4-D broadcasting: both inputs rescaled to a shared scale, summed, requantized.
 * The rescaling of an input depends on its int8 value alone, so the compiler tabulates it (256
 * entries per input, TFLite's exact arithmetic); the kernel looks both up and requantizes the sum. */
#include "td_kernels.h"
#include "td_quant.h"

void td_add_s8(const td_binary_params *p, const int8_t *in1, const int8_t *in2,
               int8_t *out) {
    const int32_t *t1 = p->table1, *t2 = p->table2, *rq = p->out_rq;
    const int32_t lo = p->act_min, hi = p->act_max, n = p->out_dims[3];
    const int32_t s1 = p->in1_strides[3], s2 = p->in2_strides[3];
    for (int32_t a = 0; a < p->out_dims[0]; ++a)
    for (int32_t b = 0; b < p->out_dims[1]; ++b)
    for (int32_t c = 0; c < p->out_dims[2]; ++c) {
        const int8_t *x1 = in1 + a * p->in1_strides[0] + b * p->in1_strides[1] + c * p->in1_strides[2];
        const int8_t *x2 = in2 + a * p->in2_strides[0] + b * p->in2_strides[1] + c * p->in2_strides[2];
        if (rq) {
            const int32_t m = rq[0], e = rq[1], k = rq[2];
            for (int32_t d = 0; d < n; ++d, x1 += s1, x2 += s2)
                *out++ = (int8_t)td_clamp(td_requant(m, e, k, t1[(uint8_t)*x1] + t2[(uint8_t)*x2]), lo, hi);
        } else {
            for (int32_t d = 0; d < n; ++d, x1 += s1, x2 += s2) {
                const int32_t sum = t1[(uint8_t)*x1] + t2[(uint8_t)*x2];
                *out++ = (int8_t)td_clamp(td_mbqm(sum, p->output_multiplier, p->output_shift)
                                          + p->output_offset, lo, hi);
            }
        }
    }
}
