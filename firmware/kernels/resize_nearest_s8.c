/* RESIZE_NEAREST_NEIGHBOR, int8, NHWC: each output pixel copies the channels of its source pixel;
 * the source row and column of every output row and column are precomputed (TFLite's float32
 * GetNearestNeighbor, evaluated at compile time). */
#include "td_kernels.h"

void td_resize_nearest_s8(const td_resize_params *p, const int8_t *in, int8_t *out) {
    const int32_t c = p->c;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *image = in + b * p->in_h * p->in_w * c;
        for (int32_t y = 0; y < p->out_h; ++y) {
            const int8_t *row = image + p->rows[y] * p->in_w * c;
            for (int32_t x = 0; x < p->out_w; ++x) {
                const int8_t *src = row + p->cols[x] * c;
                for (int32_t k = 0; k < c; ++k) *out++ = src[k];
            }
        }
    }
}
