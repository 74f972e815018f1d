/* CONV_2D, int8 activations, per-channel int8 weights (OHWI), int32 bias.
 * Windows wholly inside the input run as row dot products against the folded bias; windows that
 * overlap the padding take the exact generic path. Both are integer-exact. */
#include "td_kernels.h"
#include "td_quant.h"
#include "td_simd.h"

static inline int8_t requant(const td_conv_params *p, int32_t acc, int oc) {
    acc = td_mbqm(acc, p->mult[oc], p->shift[oc]) + p->output_offset;
    return (int8_t)td_clamp(acc, p->act_min, p->act_max);
}

static int32_t window_generic(const td_conv_params *p, const int8_t *in, const int8_t *wc,
                              int iy0, int ix0) {
    int32_t acc = 0;
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
    return acc;
}

static int32_t window_inside(const td_conv_params *p, const int8_t *in, const int8_t *wc,
                             int iy0, int ix0) {
    int32_t acc = 0;
    const int32_t row = (int32_t)p->k_w * p->in_c;
    for (int ky = 0; ky < p->k_h; ++ky) {
        const int8_t *ip = in + ((int32_t)(iy0 + ky * p->dil_h) * p->in_w + ix0) * p->in_c;
        const int8_t *wp = wc + ky * row;
        if (p->dil_w == 1) {
            acc = td_dot_s8(acc, wp, ip, row);   /* the kernel row is contiguous in the input */
        } else {
            for (int kx = 0; kx < p->k_w; ++kx)
                acc = td_dot_s8(acc, wp + kx * p->in_c, ip + (int32_t)kx * p->dil_w * p->in_c,
                                p->in_c);
        }
    }
    return acc;
}

void td_conv2d_s8(const td_conv_params *p, const int8_t *in, const int8_t *w,
                  const int32_t *bias, int8_t *out) {
    const int32_t wsize = (int32_t)p->k_h * p->k_w * p->in_c;
    const int span_h = (p->k_h - 1) * p->dil_h, span_w = (p->k_w - 1) * p->dil_w;
    for (int oy = 0; oy < p->out_h; ++oy) {
        const int iy0 = oy * p->stride_h - p->pad_h;
        const int rows_inside = iy0 >= 0 && iy0 + span_h < p->in_h;
        for (int ox = 0; ox < p->out_w; ++ox) {
            const int ix0 = ox * p->stride_w - p->pad_w;
            const int inside = rows_inside && ix0 >= 0 && ix0 + span_w < p->in_w;
            int8_t *op = out + ((int32_t)oy * p->out_w + ox) * p->out_c;
            for (int oc = 0; oc < p->out_c; ++oc) {
                const int8_t *wc = w + oc * wsize;
                const int32_t acc = inside
                    ? p->bias_folded[oc] + window_inside(p, in, wc, iy0, ix0)
                    : (bias ? bias[oc] : 0) + window_generic(p, in, wc, iy0, ix0);
                op[oc] = requant(p, acc, oc);
            }
        }
    }
}

/* 1x1 convolution, stride 1, no padding: a matrix product over pixels, two pixels by two output
 * channels at a time so every loaded word feeds two dual multiply-accumulates. */
void td_conv1x1_s8(const td_conv_params *p, const int8_t *in, const int8_t *w,
                   const int32_t *bias, int8_t *out) {
    (void)bias;
    const int32_t pixels = (int32_t)p->out_h * p->out_w, n = p->in_c, oc_n = p->out_c;
    int32_t px = 0;
    for (; px + 2 <= pixels; px += 2) {
        const int8_t *x0 = in + px * n, *x1 = x0 + n;
        int8_t *o0 = out + px * oc_n, *o1 = o0 + oc_n;
        int oc = 0;
        for (; oc + 2 <= oc_n; oc += 2) {
            int32_t acc[4] = {p->bias_folded[oc], p->bias_folded[oc], p->bias_folded[oc + 1],
                              p->bias_folded[oc + 1]};
            td_dot_2x2_s8(w + oc * n, w + (oc + 1) * n, x0, x1, n, acc);
            o0[oc] = requant(p, acc[0], oc);
            o1[oc] = requant(p, acc[1], oc);
            o0[oc + 1] = requant(p, acc[2], oc + 1);
            o1[oc + 1] = requant(p, acc[3], oc + 1);
        }
        for (; oc < oc_n; ++oc) {
            o0[oc] = requant(p, td_dot_s8(p->bias_folded[oc], w + oc * n, x0, n), oc);
            o1[oc] = requant(p, td_dot_s8(p->bias_folded[oc], w + oc * n, x1, n), oc);
        }
    }
    for (; px < pixels; ++px) {
        for (int oc = 0; oc < oc_n; ++oc)
            out[px * oc_n + oc] = requant(p, td_dot_s8(p->bias_folded[oc], w + oc * n,
                                                       in + px * n, n), oc);
    }
}
