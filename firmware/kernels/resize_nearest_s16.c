/* RESIZE_NEAREST_NEIGHBOR, int16 (16x8 models), NHWC: each output pixel copies the channels of its
 * source pixel (source rows and columns precomputed, as for int8). */
#include "td_kernels.h"

void td_resize_nearest_s16(const td_resize_params *p, const int16_t *in, int16_t *out) {
    const int32_t c = p->c;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int16_t *image = in + b * p->in_h * p->in_w * c;
        for (int32_t y = 0; y < p->out_h; ++y) {
            const int16_t *row = image + p->rows[y] * p->in_w * c;
            for (int32_t x = 0; x < p->out_w; ++x) {
                const int16_t *src = row + p->cols[x] * c;
                for (int32_t k = 0; k < c; ++k) *out++ = src[k];
            }
        }
    }
}
