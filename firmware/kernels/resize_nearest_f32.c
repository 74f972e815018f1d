/* RESIZE_NEAREST_NEIGHBOR, float32, NHWC: each output pixel copies the channels of its source
 * pixel (source rows and columns precomputed, as for int8); copies, so exact on every core. */
#include "td_kernels.h"

void td_resize_nearest_f32(const td_resize_params *p, const float *in, float *out) {
    const int32_t c = p->c;
    for (int32_t b = 0; b < p->batches; ++b) {
        const float *image = in + b * p->in_h * p->in_w * c;
        for (int32_t y = 0; y < p->out_h; ++y) {
            const float *row = image + p->rows[y] * p->in_w * c;
            for (int32_t x = 0; x < p->out_w; ++x) {
                const float *src = row + p->cols[x] * c;
                for (int32_t k = 0; k < c; ++k) *out++ = src[k];
            }
        }
    }
}
