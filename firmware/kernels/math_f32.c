/* LOGISTIC, TANH, EXP, LOG, ELU, GELU, COS and SIN on float32, in the order TFLite's reference
 * kernels evaluate them, with the target's C library (expf, tanhf, logf, expm1f, erfcf, cosf,
 * sinf): the results agree with TFLite's within compare.py's tolerance, not bit for bit, since
 * each libm rounds its last bit its own way. LOGISTIC clamps its input to [-100, 100] first, as
 * TFLite's does. */
#include <math.h>
#include "td_kernels.h"

#define TD_SQRT1_2 0.70710678118654752440f
#define TD_SQRT_2_OVER_PI 0.79788456080286535588f

void td_math_f32(const td_unary_params *p, const float *in, float *out) {
    const int32_t op = p->op;
    for (int32_t i = 0; i < p->size; ++i) {
        const float x = in[i];
        float v;
        if (op == TD_UNARY_LOGISTIC) {
            const float c = x != x ? x : (x > 100.0f ? 100.0f : (x < -100.0f ? -100.0f : x));
            v = 1.0f / (1.0f + expf(-c));
        } else if (op == TD_UNARY_TANH) {
            v = tanhf(x);
        } else if (op == TD_UNARY_EXP) {
            v = expf(x);
        } else if (op == TD_UNARY_LOG) {
            v = logf(x);
        } else if (op == TD_UNARY_ELU) {
            v = x < 0.0f ? expm1f(x) : x;
        } else if (op == TD_UNARY_COS) {
            v = cosf(x);
        } else if (op == TD_UNARY_SIN) {
            v = sinf(x);
        } else if (op == TD_UNARY_GELU) {
            v = 0.5f * x * erfcf(x * -TD_SQRT1_2);
        } else {  /* GELU_TANH: 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))) */
            v = 0.5f * x * (1.0f + tanhf(TD_SQRT_2_OVER_PI * (x + 0.044715f * (x * x * x))));
        }
        out[i] = v;
    }
}
