/* DEPTHWISE_CONV_2D, float32 NHWC, weights [k_h][k_w][out_c], any depth multiplier (output
 * channel oc reads input channel oc / depth_multiplier), as TFLite's reference DepthwiseConv: per
 * output the products summed from 0 over filter rows then columns (padded taps skipped), then the
 * bias added and the fused activation's clamp. */
#include "td_kernels.h"
#include "td_wide.h"

void td_depthwise_conv2d_f32(const td_conv_ref_params *p, const float *in, const float *w,
                             const float *bias, float *out) {
    float lo, hi;
    td_act_bounds_f32(p->activation, &lo, &hi);
    const int32_t in_row = p->in_w * p->in_c, out_c = p->out_c, dm = p->depth_multiplier;
    for (int32_t b = 0; b < p->batches; ++b) {
        const float *image = in + b * p->in_h * in_row;
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_h;
            for (int32_t ox = 0; ox < p->out_w; ++ox) {
                const int32_t x0 = ox * p->stride_w - p->pad_w;
                for (int32_t oc = 0; oc < out_c; ++oc) {
                    const float *src0 = image + oc / dm;
                    float total = 0.0f;
                    for (int32_t ky = 0; ky < p->k_h; ++ky) {
                        const int32_t iy = y0 + ky * p->dil_h;
                        if (iy < 0 || iy >= p->in_h) continue;
                        for (int32_t kx = 0; kx < p->k_w; ++kx) {
                            const int32_t ix = x0 + kx * p->dil_w;
                            if (ix < 0 || ix >= p->in_w) continue;
                            total += src0[iy * in_row + ix * p->in_c] *
                                     w[(ky * p->k_w + kx) * out_c + oc];
                        }
                    }
                    *out++ = td_clamp_act_f32(total + (bias ? bias[oc] : 0.0f), lo, hi);
                }
            }
        }
    }
}
