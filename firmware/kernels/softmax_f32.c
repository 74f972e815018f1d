/* SOFTMAX, float32, as TFLite's reference Softmax: per row the maximum, then
 * exp((x - max) * beta) with the C library's expf, summed in order from 0 (the exps kept in the
 * output row), then each exp divided by the sum. */
#include <float.h>
#include <math.h>
#include "td_kernels.h"

void td_softmax_f32(const td_softmax_f32_params *p, const float *in, float *out) {
    const int32_t depth = p->depth;
    const float beta = p->beta;
    for (int32_t i = 0; i < p->outer; ++i) {
        const float *row = in + i * depth;
        float *orow = out + i * depth;
        float max_v = -FLT_MAX;
        for (int32_t c = 0; c < depth; ++c) max_v = max_v < row[c] ? row[c] : max_v;
        float sum = 0.0f;
        for (int32_t c = 0; c < depth; ++c) {
            const float e = expf((row[c] - max_v) * beta);
            orow[c] = e;
            sum += e;
        }
        for (int32_t c = 0; c < depth; ++c) orow[c] = orow[c] / sum;
    }
}
