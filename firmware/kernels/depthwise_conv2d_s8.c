/* DEPTHWISE_CONV_2D, int8, weights [1, KH, KW, C*M], output channel = in_channel * M + m.
 * The input offset is folded into the bias; a padded tap reads the input zero point, which then
 * contributes exactly nothing, so border pixels take the same path as the interior. With the DSP
 * extension four output channels advance together with halfword multiply-accumulates.
 * With a ring of output rows (stride 1, multiplier 1) the output may overwrite the input. */
#include <string.h>
#include "td_kernels.h"
#include "td_quant.h"
#include "td_simd.h"

/* All channels of output pixel (oy, ox), written to op. */
static void dw_pixel(const td_conv_params *p, const int8_t *in, const int8_t *w, int oy, int ox,
                     int8_t *op) {
    const int m_count = p->depth_multiplier;
    const int8_t zp = (int8_t)(-p->input_offset);
    const int iy0 = oy * p->stride_h - p->pad_h, ix0 = ox * p->stride_w - p->pad_w;
    int oc = 0;
#ifdef TD_DSP
    const int32_t zp4 = (int32_t)((uint32_t)(uint8_t)zp * 0x01010101u);
    for (; oc + 4 <= p->out_c && (m_count == 1 || m_count % 4 == 0); oc += 4) {
        const int ic = oc / m_count;
        int32_t a0 = p->bias_folded[oc], a1 = p->bias_folded[oc + 1];
        int32_t a2 = p->bias_folded[oc + 2], a3 = p->bias_folded[oc + 3];
        const int8_t *wp = w + oc;
        for (int ky = 0; ky < p->k_h; ++ky) {
            const int iy = iy0 + ky * p->dil_h;
            for (int kx = 0; kx < p->k_w; ++kx, wp += p->out_c) {
                const int ix = ix0 + kx * p->dil_w;
                const int valid = iy >= 0 && iy < p->in_h && ix >= 0 && ix < p->in_w;
                const int32_t at = ((int32_t)iy * p->in_w + ix) * p->in_c + ic;
                /* four channels of one pixel, or one channel feeding four outputs */
                const int32_t x = !valid ? zp4 : m_count == 1 ? td_load4(in + at)
                                  : (int32_t)((uint32_t)(uint8_t)in[at] * 0x01010101u);
                const int32_t k = td_load4(wp);
                const int32_t xe = __sxtb16(x), xo = td_sxtb16_hi(x);
                const int32_t ke = __sxtb16(k), ko = td_sxtb16_hi(k);
                a0 = __smlabb(xe, ke, a0);
                a2 = __smlatt(xe, ke, a2);
                a1 = __smlabb(xo, ko, a1);
                a3 = __smlatt(xo, ko, a3);
            }
        }
        op[oc] = td_conv_requant(p, a0, oc);
        op[oc + 1] = td_conv_requant(p, a1, oc + 1);
        op[oc + 2] = td_conv_requant(p, a2, oc + 2);
        op[oc + 3] = td_conv_requant(p, a3, oc + 3);
    }
#endif
    for (; oc < p->out_c; ++oc) {
        const int ic = oc / m_count;
        int32_t acc = p->bias_folded[oc];
        const int8_t *wp = w + oc;
        for (int ky = 0; ky < p->k_h; ++ky) {
            const int iy = iy0 + ky * p->dil_h;
            for (int kx = 0; kx < p->k_w; ++kx, wp += p->out_c) {
                const int ix = ix0 + kx * p->dil_w;
                const int valid = iy >= 0 && iy < p->in_h && ix >= 0 && ix < p->in_w;
                acc += (int32_t)*wp * (valid ? in[((int32_t)iy * p->in_w + ix) * p->in_c + ic] : zp);
            }
        }
        op[oc] = td_conv_requant(p, acc, oc);
    }
}

void td_depthwise_conv2d_s8(const td_conv_params *p, const int8_t *in, const int8_t *w,
                            const int32_t *bias, int8_t *out) {
    (void)bias;
    const int32_t row = (int32_t)p->out_w * p->out_c;
    if (!p->ring_rows) {
        for (int oy = 0; oy < p->out_h; ++oy)
            for (int ox = 0; ox < p->out_w; ++ox)
                dw_pixel(p, in, w, oy, ox, out + oy * row + (int32_t)ox * p->out_c);
        return;
    }
    /* output rows wait in a ring of pad_h + 1 rows; row r is written back once output row
     * r + pad_h, the last reader of input row r, is done */
    const int ring = p->ring_rows;
    for (int oy = 0; oy < p->out_h + p->pad_h; ++oy) {
        if (oy < p->out_h) {
            int8_t *dst = p->scratch + (oy % ring) * row;
            for (int ox = 0; ox < p->out_w; ++ox)
                dw_pixel(p, in, w, oy, ox, dst + (int32_t)ox * p->out_c);
        }
        const int done = oy - p->pad_h;
        if (done >= 0 && done < p->out_h)
            memcpy(out + done * row, p->scratch + (done % ring) * row, (size_t)row);
    }
}
