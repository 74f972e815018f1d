/* CONV_2D, float32 NHWC, weights [out_c][k_h][k_w][filter_c], as TFLite's reference Conv: per
 * output the products summed from 0 over filter rows, columns and input channels in that order
 * (padded taps skipped), then the bias added and the fused activation's clamp. Grouped: filter_c
 * input channels per filter, group g = oc / (out_c / groups) reading channels from g * filter_c. */
#include "td_kernels.h"
#include "td_wide.h"

void td_conv2d_f32(const td_conv_ref_params *p, const float *in, const float *w,
                   const float *bias, float *out) {
    float lo, hi;
    td_act_bounds_f32(p->activation, &lo, &hi);
    const int32_t in_row = p->in_w * p->in_c, fc = p->filter_c;
    const int32_t per_group = p->out_c / (p->in_c / fc);
    for (int32_t b = 0; b < p->batches; ++b) {
        const float *image = in + b * p->in_h * in_row;
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_h;
            for (int32_t ox = 0; ox < p->out_w; ++ox) {
                const int32_t x0 = ox * p->stride_w - p->pad_w;
                for (int32_t oc = 0; oc < p->out_c; ++oc) {
                    const float *src0 = image + (oc / per_group) * fc;
                    const float *filter = w + oc * p->k_h * p->k_w * fc;
                    float total = 0.0f;
                    for (int32_t ky = 0; ky < p->k_h; ++ky) {
                        const int32_t iy = y0 + ky * p->dil_h;
                        if (iy < 0 || iy >= p->in_h) continue;
                        for (int32_t kx = 0; kx < p->k_w; ++kx) {
                            const int32_t ix = x0 + kx * p->dil_w;
                            if (ix < 0 || ix >= p->in_w) continue;
                            const float *src = src0 + iy * in_row + ix * p->in_c;
                            const float *f = filter + (ky * p->k_w + kx) * fc;
                            for (int32_t c = 0; c < fc; ++c) total += src[c] * f[c];
                        }
                    }
                    *out++ = td_clamp_act_f32(total + (bias ? bias[oc] : 0.0f), lo, hi);
                }
            }
        }
    }
}
