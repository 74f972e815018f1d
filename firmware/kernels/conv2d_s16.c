/* CONV_2D, 16x8: int16 NHWC input and output (zero points 0), int8 weights [out_c][k_h][k_w]
 * [filter_c] per output channel, as TFLite's reference ConvPerChannel for int16: the window sums
 * in int64 (padded taps skipped), plus the int64 bias, requantized by td_mbqm64 and clamped.
 * Grouped: filter_c input channels per filter, group g = oc / (out_c / groups) reading channels
 * from g * filter_c. */
#include "td_kernels.h"
#include "td_quant.h"
#include "td_wide.h"

void td_conv2d_s16(const td_conv_ref_params *p, const int16_t *in, const int8_t *w,
                   const int64_t *bias, int16_t *out) {
    const int32_t in_row = p->in_w * p->in_c, fc = p->filter_c;
    const int32_t per_group = p->out_c / (p->in_c / fc);
    for (int32_t b = 0; b < p->batches; ++b) {
        const int16_t *image = in + b * p->in_h * in_row;
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_h;
            for (int32_t ox = 0; ox < p->out_w; ++ox) {
                const int32_t x0 = ox * p->stride_w - p->pad_w;
                for (int32_t oc = 0; oc < p->out_c; ++oc) {
                    const int16_t *src0 = image + (oc / per_group) * fc;
                    const int8_t *filter = w + oc * p->k_h * p->k_w * fc;
                    int64_t acc = 0;
                    for (int32_t ky = 0; ky < p->k_h; ++ky) {
                        const int32_t iy = y0 + ky * p->dil_h;
                        if (iy < 0 || iy >= p->in_h) continue;
                        for (int32_t kx = 0; kx < p->k_w; ++kx) {
                            const int32_t ix = x0 + kx * p->dil_w;
                            if (ix < 0 || ix >= p->in_w) continue;
                            const int16_t *src = src0 + iy * in_row + ix * p->in_c;
                            const int8_t *f = filter + (ky * p->k_w + kx) * fc;
                            for (int32_t c = 0; c < fc; ++c) acc += (int32_t)src[c] * f[c];
                        }
                    }
                    if (bias) acc += bias[oc];
                    const int32_t v = td_mbqm64(acc, p->mult[oc], p->shift[oc]);
                    *out++ = (int16_t)td_clamp(v, p->act_min, p->act_max);
                }
            }
        }
    }
}
