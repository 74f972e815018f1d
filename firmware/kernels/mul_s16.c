/* MUL, int16 (16x8), with 4-D broadcasting: the product of the inputs (zero points 0) in int32,
 * requantized once (TFLite's MultiplyByQuantizedMultiplier) and clamped to the activation's range. */
#include "td_kernels.h"
#include "td_broadcast.h"
#include "td_quant.h"

void td_mul_s16(const td_binary16_params *p, const int16_t *in1, const int16_t *in2,
                int16_t *out) {
    const int32_t lo = p->act_min, hi = p->act_max;
    TD_BROADCAST2(p->out_dims, p->in1_strides, p->in2_strides, i1, i2) {
        const int32_t prod = (int32_t)in1[i1] * in2[i2];
        *out++ = (int16_t)td_clamp(td_mbqm(prod, p->output_multiplier, p->output_shift), lo, hi);
    }
}
