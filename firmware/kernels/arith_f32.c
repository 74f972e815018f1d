/* ADD, MUL, SUB, MAXIMUM, MINIMUM, SQUARED_DIFFERENCE, DIV, FLOOR_DIV and FLOOR_MOD on float32 with
 * 4-D broadcasting, as TFLite's reference kernels: ADD, MUL, SUB and DIV clamp to their fused
 * activation's range, whose ends are -FLT_MAX and FLT_MAX without one (an infinite result becomes
 * FLT_MAX); the others do not clamp. */
#include <math.h>
#include "td_kernels.h"
#include "td_wide.h"
#include "td_broadcast.h"

/* TFLite's FloorDiv: the quotient in double, floored, rounded to float. */
static float floor_div(float a, float b) {
    return (float)floor((double)a / (double)b);
}

/* TFLite's FloorMod: fmodf (exact), moved into the divisor's sign by one float addition. */
static float floor_mod(float a, float b) {
    const float t = fmodf(a, b);
    return (t != 0.0f && ((b < 0.0f) != (t < 0.0f))) ? t + b : t;
}

void td_arith_f32(const td_arith_params *p, const float *in1, const float *in2, float *out) {
    float lo, hi;
    td_act_bounds_f32(p->activation, &lo, &hi);
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
        } else if (op == TD_OP_FLOOR_DIV) v = floor_div(a, b);
        else if (op == TD_OP_FLOOR_MOD) v = floor_mod(a, b);
        else v = td_clamp_f32(a / b, lo, hi);
        *out++ = v;
    }
}
