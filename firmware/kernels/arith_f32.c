/* ADD, MUL, SUB, MAXIMUM, MINIMUM, SQUARED_DIFFERENCE and DIV on float32 with 4-D broadcasting, as
 * TFLite's reference kernels: ADD, MUL, SUB and DIV clamp to their fused activation's range, whose
 * ends are -FLT_MAX and FLT_MAX without one (an infinite result becomes FLT_MAX); MAXIMUM, MINIMUM
 * and SQUARED_DIFFERENCE do not clamp. */
#include <float.h>
#include "td_kernels.h"
#include "td_broadcast.h"

void td_arith_f32(const td_arith_params *p, const float *in1, const float *in2, float *out) {
    float lo = -FLT_MAX, hi = FLT_MAX;
    if (p->activation == TD_ACT_RELU) lo = 0.0f;
    if (p->activation == TD_ACT_RELU6) lo = 0.0f, hi = 6.0f;
    if (p->activation == TD_ACT_RELU_N1_TO_1) lo = -1.0f, hi = 1.0f;
    const int32_t op = p->op;
    TD_BROADCAST2(p->out_dims, p->in1_strides, p->in2_strides, i1, i2) {
        const float a = in1[i1], b = in2[i2];
        float v;
        if (op == TD_OP_ADD) v = td_clamp_f32(a + b, lo, hi);
        else if (op == TD_OP_MUL) v = td_clamp_f32(a * b, lo, hi);
        else if (op == TD_OP_SUB) v = td_clamp_f32(a - b, lo, hi);
        else if (op == TD_OP_MAXIMUM) v = a > b ? a : b;
        else if (op == TD_OP_MINIMUM) v = a < b ? a : b;
        else if (op == TD_OP_SQUARED_DIFFERENCE) {
            const float d = a - b;
            v = d * d;
        } else v = td_clamp_f32(a / b, lo, hi);
        *out++ = v;
    }
}
