/* LOG_SOFTMAX, float32, as TFLite's reference LogSoftmax: per row the maximum, the sum from 0 of
 * expf(x - max) in order, its logf, and each output (x - max) - log sum. */
#include <float.h>
#include <math.h>
#include "td_kernels.h"

void td_log_softmax_f32(const td_rows_params *p, const float *in, float *out) {
    const int32_t depth = p->depth;
    for (int32_t i = 0; i < p->outer; ++i) {
        const float *row = in + i * depth;
        float *orow = out + i * depth;
        float max_v = -FLT_MAX;
        for (int32_t c = 0; c < depth; ++c) max_v = max_v < row[c] ? row[c] : max_v;
        float sum = 0.0f;
        for (int32_t c = 0; c < depth; ++c) sum += expf(row[c] - max_v);
        const float log_sum = logf(sum);
        for (int32_t c = 0; c < depth; ++c) orow[c] = row[c] - max_v - log_sum;
    }
}
