/* ADD, int8, with 4-D broadcasting: both inputs rescaled to a shared scale, summed, requantized. */
#include "td_kernels.h"
#include "td_quant.h"

void td_add_s8(const td_binary_params *p, const int8_t *in1, const int8_t *in2, int8_t *out) {
    int32_t o = 0;
    for (int32_t a = 0; a < p->out_dims[0]; ++a)
    for (int32_t b = 0; b < p->out_dims[1]; ++b)
    for (int32_t c = 0; c < p->out_dims[2]; ++c)
    for (int32_t d = 0; d < p->out_dims[3]; ++d) {
        int32_t i1 = a * p->in1_strides[0] + b * p->in1_strides[1] + c * p->in1_strides[2] + d * p->in1_strides[3];
        int32_t i2 = a * p->in2_strides[0] + b * p->in2_strides[1] + c * p->in2_strides[2] + d * p->in2_strides[3];
        int32_t v1 = (int32_t)((uint32_t)(in1[i1] + p->input1_offset) << p->left_shift);
        int32_t v2 = (int32_t)((uint32_t)(in2[i2] + p->input2_offset) << p->left_shift);
        int32_t s1 = td_mbqm(v1, p->input1_multiplier, p->input1_shift);
        int32_t s2 = td_mbqm(v2, p->input2_multiplier, p->input2_shift);
        int32_t r = td_mbqm(s1 + s2, p->output_multiplier, p->output_shift) + p->output_offset;
        out[o++] = (int8_t)td_clamp(r, p->act_min, p->act_max);
    }
}
