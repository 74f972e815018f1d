/* REDUCE_MAX, REDUCE_MIN, SUM, REDUCE_PROD and MEAN on float32, as TFLite's generic reference
 * Reduce: each output takes its reduced values in the input's row-major order, starting from the
 * operation's identity (0, 1, the lowest or the largest float) or, where the model's axes name
 * every dimension (TFLite's ReduceAllDims), from its first value. The reducers are TFLite's
 * lambdas: in + acc, in * acc, in > acc ? in : acc and in < acc ? in : acc (a NaN never replaces
 * the running maximum or minimum). MEAN divides the sum from 0 by (float)N. */
#include <float.h>
#include "td_kernels.h"

void td_reduce_f32(const td_reduce_f32_params *p, const float *in, float *out) {
    const int32_t *kn = p->kept, *ks = p->kept_stride, *rn = p->red, *rs = p->red_stride;
    const int32_t op = p->op;
    const float init = op == TD_REDUCE_MAX ? -FLT_MAX
                     : op == TD_REDUCE_MIN ? FLT_MAX
                     : op == TD_REDUCE_PROD ? 1.0f : 0.0f;
    const float count = (float)(rn[0] * rn[1] * rn[2]);
    int32_t o = 0;
    for (int32_t a = 0; a < kn[0]; ++a)
    for (int32_t b = 0; b < kn[1]; ++b)
    for (int32_t c = 0; c < kn[2]; ++c) {
        const float *base = in + a * ks[0] + b * ks[1] + c * ks[2];
        float acc = init;
        int32_t skip = p->from_first;  /* the first value already taken */
        if (skip) acc = base[0];
        for (int32_t i = 0; i < rn[0]; ++i)
        for (int32_t j = 0; j < rn[1]; ++j)
        for (int32_t k = 0; k < rn[2]; ++k) {
            if (skip) {
                skip = 0;
                continue;
            }
            const float v = base[i * rs[0] + j * rs[1] + k * rs[2]];
            if (op == TD_REDUCE_MAX) acc = v > acc ? v : acc;
            else if (op == TD_REDUCE_MIN) acc = v < acc ? v : acc;
            else if (op == TD_REDUCE_PROD) acc = v * acc;
            else acc = v + acc;
        }
        out[o++] = op == TD_REDUCE_MEAN ? acc / count : acc;
    }
}
