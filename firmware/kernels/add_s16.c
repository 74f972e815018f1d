/* ADD and SUB, int16 (16x8), with 4-D broadcasting, as TFLite's int16 kernels. The general path
 * (pot == 0) is the int8 arithmetic with a 15-bit headroom: each input shifted left, rescaled to
 * the common scale (a multiplier below one), summed or subtracted, rescaled to the output. The
 * power-of-two path (pot == 1; TFLite's LSTM case, zero points 0 and scales 2^k) shifts the input
 * whose scale is finer right, rounding, and adds (subtracts) the other; the clamp to the fused
 * activation's range is TFLite's int16 saturation too. */
#include "td_kernels.h"
#include "td_broadcast.h"
#include "td_quant.h"

static int32_t rescale_down(int32_t x, int32_t multiplier, int32_t shift) {
    return td_rdbpot(td_srdhm(x, multiplier), -shift);
}

void td_add_s16(const td_binary16_params *p, const int16_t *in1, const int16_t *in2,
                int16_t *out) {
    const int32_t lo = p->act_min, hi = p->act_max, sub = p->subtract;
    if (p->pot) {
        const int32_t s1 = -p->input1_shift, s2 = -p->input2_shift;
        TD_BROADCAST2(p->out_dims, p->in1_strides, p->in2_strides, i1, i2) {
            const int32_t a = td_rdbpot(in1[i1], s1), b = td_rdbpot(in2[i2], s2);
            *out++ = (int16_t)td_clamp(sub ? a - b : a + b, lo, hi);
        }
        return;
    }
    const int32_t ls = p->left_shift;
    TD_BROADCAST2(p->out_dims, p->in1_strides, p->in2_strides, i1, i2) {
        const int32_t a = rescale_down((int32_t)in1[i1] * (1 << ls), p->input1_multiplier,
                                       p->input1_shift);
        const int32_t b = rescale_down((int32_t)in2[i2] * (1 << ls), p->input2_multiplier,
                                       p->input2_shift);
        const int32_t v = rescale_down(sub ? a - b : a + b, p->output_multiplier, p->output_shift);
        *out++ = (int16_t)td_clamp(v, lo, hi);
    }
}
