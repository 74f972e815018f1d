/* L2_NORMALIZATION, float32, as TFLite's reference L2Normalization: per row the sum of squares
 * from 0 in order, its square root (sqrtf: IEEE, exact on every core), at least 1e-6 (std::max,
 * so a NaN norm stays NaN), and each value divided by it. */
#include <math.h>
#include "td_kernels.h"

void td_l2_norm_f32(const td_rows_params *p, const float *in, float *out) {
    const int32_t depth = p->depth;
    const float epsilon = 1e-6f;
    for (int32_t i = 0; i < p->outer; ++i) {
        const float *row = in + i * depth;
        float *orow = out + i * depth;
        float squares = 0.0f;
        for (int32_t c = 0; c < depth; ++c) squares += row[c] * row[c];
        float norm = sqrtf(squares);
        norm = norm < epsilon ? epsilon : norm;
        for (int32_t c = 0; c < depth; ++c) orow[c] = row[c] / norm;
    }
}
