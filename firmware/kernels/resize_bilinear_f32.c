/* RESIZE_BILINEAR, float32, NHWC, as TFLite's reference ResizeBilinear: per output row and column
 * the two source indices and the weights 1 - d and d (float32, computed at compile time as the
 * reference computes them), and per value
 * v00 (1 - dy)(1 - dx) + v10 dy (1 - dx) + v01 (1 - dy) dx + v11 dy dx, each product and sum
 * rounded in that order (the reference adds a rounding offset of 0 for floats last). */
#include "td_kernels.h"

void td_resize_bilinear_f32(const td_resize_f32_params *p, const float *in, float *out) {
    const int32_t c = p->c, line = p->in_w * c;
    for (int32_t b = 0; b < p->batches; ++b) {
        const float *image = in + b * p->in_h * line;
        for (int32_t y = 0; y < p->out_h; ++y) {
            const float *row0 = image + p->rows[2 * y] * line;
            const float *row1 = image + p->rows[2 * y + 1] * line;
            const float wy0 = p->row_weights[2 * y], wy1 = p->row_weights[2 * y + 1];
            for (int32_t x = 0; x < p->out_w; ++x) {
                const int32_t x0 = p->cols[2 * x] * c, x1 = p->cols[2 * x + 1] * c;
                const float wx0 = p->col_weights[2 * x], wx1 = p->col_weights[2 * x + 1];
                for (int32_t k = 0; k < c; ++k) {
                    const float v = row0[x0 + k] * wy0 * wx0 + row1[x0 + k] * wy1 * wx0 +
                                    row0[x1 + k] * wy0 * wx1 + row1[x1 + k] * wy1 * wx1;
                    *out++ = v + 0.0f;
                }
            }
        }
    }
}
