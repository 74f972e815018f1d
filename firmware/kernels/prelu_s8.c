/* PRELU, int8: x where x >= 0, x * alpha below (alpha broadcast over x), each branch with its own
 * requantization, as TFLite's reference. */
#include "td_kernels.h"
#include "td_broadcast.h"
#include "td_quant.h"

void td_prelu_s8(const td_prelu_params *p, const int8_t *in1, const int8_t *in2, int8_t *out) {
    TD_BROADCAST2(p->out_dims, p->in1_strides, p->in2_strides, i1, i2) {
        const int32_t x = in1[i1] + p->input_offset;
        int32_t v;
        if (x >= 0) {
            v = td_mbqm(x, p->multiplier_pos, p->shift_pos);
        } else {
            v = td_mbqm(x * (in2[i2] + p->alpha_offset), p->multiplier_neg, p->shift_neg);
        }
        *out++ = (int8_t)td_clamp(v + p->output_offset, -128, 127);
    }
}
