/* ABS, NEG, SQUARE, SQRT, RSQRT, RELU_N1_TO_1, RELU_0_TO_1, LEAKY_RELU, RELU, RELU6, HARD_SWISH,
 * FLOOR, CEIL and ROUND on float32, as TFLite's kernels: each a few correctly rounded IEEE
 * operations (floorf and ceilf are exact) in TFLite's order, so any target gives TFLite's bits. */
#include <math.h>
#include "td_kernels.h"

/* TFLite's RoundToNearest: half to even, from floorf and one exact subtraction, so -0.5 gives +0
 * (where rintf gives -0). A tie needs |x| < 2^23, where the floor fits an int. */
static float round_half_even(float x) {
    const float f = floorf(x), diff = x - f;
    if (diff < 0.5f || (diff == 0.5f && (int32_t)f % 2 == 0)) return f;
    return f + 1.0f;
}

void td_unary_f32(const td_unary_params *p, const float *in, float *out) {
    const int32_t op = p->op;
    const float alpha = p->alpha;
    for (int32_t i = 0; i < p->size; ++i) {
        const float x = in[i];
        float v;
        if (op == TD_UNARY_ABS) v = fabsf(x);
        else if (op == TD_UNARY_NEG) v = -x;
        else if (op == TD_UNARY_SQUARE) v = x * x;
        else if (op == TD_UNARY_SQRT) v = sqrtf(x);
        else if (op == TD_UNARY_RSQRT) v = 1.0f / sqrtf(x);
        else if (op == TD_UNARY_RELU_N1_TO_1) v = x > 1.0f ? 1.0f : (x < -1.0f ? -1.0f : x);
        else if (op == TD_UNARY_RELU_0_TO_1) v = x > 1.0f ? 1.0f : (x < 0.0f ? 0.0f : x);
        else if (op == TD_UNARY_RELU) v = x > 0.0f ? x : 0.0f;
        else if (op == TD_UNARY_RELU6) {
            const float m = 0.0f < x ? x : 0.0f;
            v = 6.0f < m ? 6.0f : m;
        } else if (op == TD_UNARY_HARD_SWISH) {  /* x * min(6, max(0, x + 3)) / 6 */
            const float s = x + 3.0f, r = 0.0f < s ? s : 0.0f;
            v = x * (6.0f < r ? 6.0f : r) / 6.0f;
        } else if (op == TD_UNARY_FLOOR) v = floorf(x);
        else if (op == TD_UNARY_CEIL) v = ceilf(x);
        else if (op == TD_UNARY_ROUND) v = round_half_even(x);
        else v = x > 0.0f ? x : x * alpha;  /* LEAKY_RELU */
        out[i] = v;
    }
}
