/* RESIZE_BILINEAR, int16 (16x8 models), NHWC, as TFLite's ResizeBilinearInteger<int16_t>: per
 * output row and column the two source indices and the fraction f (in 1/1024) towards the second
 * are precomputed; the four values are weighed in 2^20 in int64 (an int16 value times 2^20 leaves
 * int32) and the sum divided by 2^20 rounding half away from zero, then cast to int16 as the
 * reference casts (no clamp). */
#include "td_kernels.h"

void td_resize_bilinear_s16(const td_resize_params *p, const int16_t *in, int16_t *out) {
    const int32_t c = p->c, line = p->in_w * c;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int16_t *image = in + b * p->in_h * line;
        for (int32_t y = 0; y < p->out_h; ++y) {
            const int32_t *ry = p->rows + 3 * y;
            const int16_t *row0 = image + ry[0] * line, *row1 = image + ry[1] * line;
            const int32_t fy = ry[2];
            for (int32_t x = 0; x < p->out_w; ++x) {
                const int32_t *rx = p->cols + 3 * x;
                const int32_t x0 = rx[0] * c, x1 = rx[1] * c, fx = rx[2];
                const int64_t w00 = (int64_t)(1024 - fy) * (1024 - fx);
                const int64_t w10 = (int64_t)fy * (1024 - fx);
                const int64_t w01 = (int64_t)(1024 - fy) * fx, w11 = (int64_t)fy * fx;
                for (int32_t k = 0; k < c; ++k) {
                    const int64_t v = row0[x0 + k] * w00 + row1[x0 + k] * w10 +
                                      row0[x1 + k] * w01 + row1[x1 + k] * w11;
                    const int64_t r = v > 0 ? (1 << 19) : -(1 << 19);
                    *out++ = (int16_t)(uint16_t)(uint64_t)((v + r) / (1 << 20));
                }
            }
        }
    }
}
