/* CONV_2D, int8 activations, per-channel int8 weights (OHWI), int32 bias.
 * The input offset is folded into the bias at compile time; each pair of output pixels is copied
 * into an im2col scratch buffer, padded taps taking the input zero point (which contributes exactly
 * nothing against the folded bias), and multiplied with two filter rows at a time. */
#include <string.h>
#include "td_kernels.h"
#include "td_quant.h"
#include "td_simd.h"

/* The window of output pixel (oy, ox) as one contiguous row of k_h * k_w * in_c values. */
static void im2col(const td_conv_params *p, const int8_t *in, int oy, int ox, int8_t *col) {
    const int iy0 = oy * p->stride_h - p->pad_h, ix0 = ox * p->stride_w - p->pad_w;
    const int8_t zp = (int8_t)(-p->input_offset);
    for (int ky = 0; ky < p->k_h; ++ky) {
        const int iy = iy0 + ky * p->dil_h;
        for (int kx = 0; kx < p->k_w; ++kx, col += p->in_c) {
            const int ix = ix0 + kx * p->dil_w;
            if (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w)
                memset(col, zp, (size_t)p->in_c);
            else
                memcpy(col, in + ((int32_t)iy * p->in_w + ix) * p->in_c, (size_t)p->in_c);
        }
    }
}

void td_conv2d_s8(const td_conv_params *p, const int8_t *in, const int8_t *w,
                  const int32_t *bias, int8_t *out) {
    (void)bias;
    const int32_t k = (int32_t)p->k_h * p->k_w * p->in_c, oc_n = p->out_c;
    const int32_t row = (int32_t)p->out_w * oc_n;
    int8_t *c0 = p->scratch, *c1 = p->scratch + k;
    /* in place: output rows wait in a ring after the im2col windows and are written back once
     * output row r + pad_h, the last reader of input row r, is done */
    int8_t *ring = p->ring_rows ? p->scratch + 2 * k : 0;
    for (int oy = 0; oy < p->out_h + (ring ? p->pad_h : 0); ++oy) {
        if (oy < p->out_h) {
            int8_t *orow = ring ? ring + (oy % p->ring_rows) * row : out + oy * row;
            for (int ox = 0; ox < p->out_w; ox += 2) {
                const int pair = ox + 1 < p->out_w;
                im2col(p, in, oy, ox, c0);
                if (pair) im2col(p, in, oy, ox + 1, c1);
                int8_t *o0 = orow + (int32_t)ox * oc_n, *o1 = o0 + oc_n;
                int oc = 0;
                for (; pair && oc + 2 <= oc_n; oc += 2) {
                    int32_t acc[4] = {p->bias_folded[oc], p->bias_folded[oc],
                                      p->bias_folded[oc + 1], p->bias_folded[oc + 1]};
                    td_dot_2x2_s8(w + oc * k, w + (oc + 1) * k, c0, c1, k, acc);
                    o0[oc] = td_conv_requant(p, acc[0], oc);
                    o1[oc] = td_conv_requant(p, acc[1], oc);
                    o0[oc + 1] = td_conv_requant(p, acc[2], oc + 1);
                    o1[oc + 1] = td_conv_requant(p, acc[3], oc + 1);
                }
                for (; oc < oc_n; ++oc) {
                    o0[oc] = td_conv_requant(p, td_dot_s8(p->bias_folded[oc], w + oc * k, c0, k), oc);
                    if (pair)
                        o1[oc] = td_conv_requant(p, td_dot_s8(p->bias_folded[oc], w + oc * k, c1, k), oc);
                }
            }
        }
        const int done = oy - p->pad_h;
        if (ring && done >= 0 && done < p->out_h)
            memcpy(out + done * row, ring + (done % p->ring_rows) * row, (size_t)row);
    }
}

/* 1x1 convolution, stride 1, no padding: a matrix product over pixels, two pixels by two output
 * channels at a time so every loaded word feeds two dual multiply-accumulates. With a scratch of
 * two output pixels the output may overwrite the input (in_c == out_c): a pair is written back
 * only after both of its input pixels have been read. */
void td_conv1x1_s8(const td_conv_params *p, const int8_t *in, const int8_t *w,
                   const int32_t *bias, int8_t *out) {
    (void)bias;
    const int32_t pixels = (int32_t)p->out_h * p->out_w, n = p->in_c, oc_n = p->out_c;
    for (int32_t px = 0; px < pixels; px += 2) {
        const int pair = px + 1 < pixels;
        const int8_t *x0 = in + px * n, *x1 = pair ? x0 + n : x0;
        int8_t *o0 = p->scratch ? p->scratch : out + px * oc_n, *o1 = o0 + oc_n;
        int oc = 0;
        for (; oc + 2 <= oc_n; oc += 2) {
            int32_t acc[4] = {p->bias_folded[oc], p->bias_folded[oc], p->bias_folded[oc + 1],
                              p->bias_folded[oc + 1]};
            td_dot_2x2_s8(w + oc * n, w + (oc + 1) * n, x0, x1, n, acc);
            o0[oc] = td_conv_requant(p, acc[0], oc);
            o0[oc + 1] = td_conv_requant(p, acc[2], oc + 1);
            if (pair) {
                o1[oc] = td_conv_requant(p, acc[1], oc);
                o1[oc + 1] = td_conv_requant(p, acc[3], oc + 1);
            }
        }
        for (; oc < oc_n; ++oc) {
            o0[oc] = td_conv_requant(p, td_dot_s8(p->bias_folded[oc], w + oc * n, x0, n), oc);
            if (pair) o1[oc] = td_conv_requant(p, td_dot_s8(p->bias_folded[oc], w + oc * n, x1, n), oc);
        }
        if (p->scratch) memcpy(out + px * oc_n, p->scratch, (size_t)((pair ? 2 : 1) * oc_n));
    }
}
