/* CONV_2D, int8 activations, per-channel int8 weights (OHWI), int32 bias. */
#include "td_kernels.h"
#include "td_quant.h"

void td_conv2d_s8(const td_conv_params *p, const int8_t *in, const int8_t *w,
                  const int32_t *bias, int8_t *out) {
    for (int oy = 0; oy < p->out_h; ++oy) {
        const int iy0 = oy * p->stride_h - p->pad_h;
        for (int ox = 0; ox < p->out_w; ++ox) {
            const int ix0 = ox * p->stride_w - p->pad_w;
            for (int oc = 0; oc < p->out_c; ++oc) {
                int32_t acc = 0;
                const int8_t *wc = w + (int32_t)oc * p->k_h * p->k_w * p->in_c;
                for (int ky = 0; ky < p->k_h; ++ky) {
                    const int iy = iy0 + ky * p->dil_h;
                    if (iy < 0 || iy >= p->in_h) continue;
                    for (int kx = 0; kx < p->k_w; ++kx) {
                        const int ix = ix0 + kx * p->dil_w;
                        if (ix < 0 || ix >= p->in_w) continue;
                        const int8_t *ip = in + ((int32_t)iy * p->in_w + ix) * p->in_c;
                        const int8_t *wp = wc + ((int32_t)ky * p->k_w + kx) * p->in_c;
                        for (int ic = 0; ic < p->in_c; ++ic)
                            acc += (int32_t)wp[ic] * ((int32_t)ip[ic] + p->input_offset);
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
