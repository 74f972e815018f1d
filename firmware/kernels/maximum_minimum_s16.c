/* MAXIMUM and MINIMUM, int16, with 4-D broadcasting: TFLite compares the raw values (the converter
 * gives both inputs the output's scale, requantizing them first where they differ). */
#include "td_kernels.h"
#include "td_broadcast.h"

void td_maximum_minimum_s16(const td_arith_params *p, const int16_t *in1, const int16_t *in2,
                            int16_t *out) {
    const int max = p->op == TD_OP_MAXIMUM;
    TD_BROADCAST2(p->out_dims, p->in1_strides, p->in2_strides, i1, i2) {
        const int16_t a = in1[i1], b = in2[i2];
        *out++ = max ? (a > b ? a : b) : (a < b ? a : b);
    }
}
