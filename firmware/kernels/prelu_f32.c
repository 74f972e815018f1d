/* PRELU, float32: x where x >= 0, x * alpha below (alpha broadcast over x). */
#include "td_kernels.h"
#include "td_broadcast.h"

void td_prelu_f32(const td_arith_params *p, const float *in1, const float *in2, float *out) {
    TD_BROADCAST2(p->out_dims, p->in1_strides, p->in2_strides, i1, i2) {
        const float x = in1[i1];
        *out++ = x >= 0.0f ? x : x * in2[i2];
    }
}
