/* DEPTHWISE_CONV_2D, int8, weights [1, KH, KW, C*M], output channel = in_channel * M + m. */
#include "td_kernels.h"
#include "td_quant.h"

void td_depthwise_conv2d_s8(const td_conv_params *p, const int8_t *in, const int8_t *w,
                            const int32_t *bias, int8_t *out) {
    const int m_count = p->depth_multiplier;
    for (int oy = 0; oy < p->out_h; ++oy) {
        const int iy0 = oy * p->stride_h - p->pad_h;
        for (int ox = 0; ox < p->out_w; ++ox) {
            const int ix0 = ox * p->stride_w - p->pad_w;
            for (int ic = 0; ic < p->in_c; ++ic) {
                for (int m = 0; m < m_count; ++m) {
                    const int oc = ic * m_count + m;
                    int32_t acc = 0;
                    for (int ky = 0; ky < p->k_h; ++ky) {
                        const int iy = iy0 + ky * p->dil_h;
                        if (iy < 0 || iy >= p->in_h) continue;
                        for (int kx = 0; kx < p->k_w; ++kx) {
                            const int ix = ix0 + kx * p->dil_w;
                            if (ix < 0 || ix >= p->in_w) continue;
                            int32_t iv = in[((int32_t)iy * p->in_w + ix) * p->in_c + ic];
                            int32_t wv = w[((int32_t)ky * p->k_w + kx) * p->out_c + oc];
                            acc += wv * (iv + p->input_offset);
                        }
                    }
                    if (bias) acc += bias[oc];
                    acc = td_mbqm(acc, p->mult[oc], p->shift[oc]) + p->output_offset;
                    out[((int32_t)oy * p->out_w + ox) * p->out_c + oc] =
                        (int8_t)td_clamp(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}
