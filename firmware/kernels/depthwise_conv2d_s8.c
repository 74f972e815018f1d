/* DEPTHWISE_CONV_2D, int8, weights [1, KH, KW, C*M], output channel = in_channel * M + m.
 * Windows wholly inside the input use the folded bias (no offset per tap); with depth multiplier
 * 1 and the DSP extension, four channels advance together with halfword multiply-accumulates. */
#include "td_kernels.h"
#include "td_quant.h"
#include "td_simd.h"

static inline int8_t requant(const td_conv_params *p, int32_t acc, int oc) {
    acc = td_mbqm(acc, p->mult[oc], p->shift[oc]) + p->output_offset;
    return (int8_t)td_clamp(acc, p->act_min, p->act_max);
}

static void pixel_generic(const td_conv_params *p, const int8_t *in, const int8_t *w,
                          const int32_t *bias, int iy0, int ix0, int8_t *op) {
    const int m_count = p->depth_multiplier;
    for (int ic = 0; ic < p->in_c; ++ic) {
        for (int m = 0; m < m_count; ++m) {
            const int oc = ic * m_count + m;
            int32_t acc = bias ? bias[oc] : 0;
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
            op[oc] = requant(p, acc, oc);
        }
    }
}

static void pixel_inside(const td_conv_params *p, const int8_t *in, const int8_t *w,
                         int iy0, int ix0, int8_t *op) {
    const int m_count = p->depth_multiplier;
    const int8_t *base = in + ((int32_t)iy0 * p->in_w + ix0) * p->in_c;
    const int32_t step_y = (int32_t)p->dil_h * p->in_w * p->in_c, step_x = (int32_t)p->dil_w * p->in_c;
    int ic = 0;
#ifdef TD_DSP
    if (m_count == 1) {
        for (; ic + 4 <= p->in_c; ic += 4) {
            int32_t a0 = p->bias_folded[ic], a1 = p->bias_folded[ic + 1];
            int32_t a2 = p->bias_folded[ic + 2], a3 = p->bias_folded[ic + 3];
            const int8_t *wp = w + ic;
            for (int ky = 0; ky < p->k_h; ++ky) {
                const int8_t *ip = base + ky * step_y + ic;
                for (int kx = 0; kx < p->k_w; ++kx, ip += step_x, wp += p->out_c) {
                    const int32_t x = td_load4(ip), k = td_load4(wp);
                    const int32_t xe = __sxtb16(x), xo = td_sxtb16_hi(x);
                    const int32_t ke = __sxtb16(k), ko = td_sxtb16_hi(k);
                    a0 = __smlabb(xe, ke, a0);
                    a2 = __smlatt(xe, ke, a2);
                    a1 = __smlabb(xo, ko, a1);
                    a3 = __smlatt(xo, ko, a3);
                }
            }
            op[ic] = requant(p, a0, ic);
            op[ic + 1] = requant(p, a1, ic + 1);
            op[ic + 2] = requant(p, a2, ic + 2);
            op[ic + 3] = requant(p, a3, ic + 3);
        }
    }
#endif
    for (; ic < p->in_c; ++ic) {
        for (int m = 0; m < m_count; ++m) {
            const int oc = ic * m_count + m;
            int32_t acc = p->bias_folded[oc];
            const int8_t *wp = w + oc;
            for (int ky = 0; ky < p->k_h; ++ky) {
                const int8_t *ip = base + ky * step_y + ic;
                for (int kx = 0; kx < p->k_w; ++kx, ip += step_x, wp += p->out_c)
                    acc += (int32_t)*wp * *ip;
            }
            op[oc] = requant(p, acc, oc);
        }
    }
}

void td_depthwise_conv2d_s8(const td_conv_params *p, const int8_t *in, const int8_t *w,
                            const int32_t *bias, int8_t *out) {
    const int span_h = (p->k_h - 1) * p->dil_h, span_w = (p->k_w - 1) * p->dil_w;
    for (int oy = 0; oy < p->out_h; ++oy) {
        const int iy0 = oy * p->stride_h - p->pad_h;
        const int rows_inside = iy0 >= 0 && iy0 + span_h < p->in_h;
        for (int ox = 0; ox < p->out_w; ++ox) {
            const int ix0 = ox * p->stride_w - p->pad_w;
            int8_t *op = out + ((int32_t)oy * p->out_w + ox) * p->out_c;
            if (rows_inside && ix0 >= 0 && ix0 + span_w < p->in_w)
                pixel_inside(p, in, w, iy0, ix0, op);
            else
                pixel_generic(p, in, w, bias, iy0, ix0, op);
        }
    }
}
