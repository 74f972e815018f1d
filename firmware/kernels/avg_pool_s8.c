/* AVERAGE_POOL_2D, int8: the mean over the window's valid (unpadded) cells, rounded half away.
 * With the DSP extension four channels are summed at once, as two pairs of int16 halves (SXTB16
 * then SADD16), wherever a window has at most 256 cells, so that no sum can leave int16. */
#include "td_kernels.h"
#include "td_matmul.h"
#include "td_quant.h"

/* acc / count rounded half away from zero (count > 0). */
static inline int32_t rounded_mean(int32_t acc, int32_t count) {
    return acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
}

void td_avg_pool_s8(const td_pool_params *p, const int8_t *in, int8_t *out) {
    const int32_t c_n = p->c;
    for (int oy = 0; oy < p->out_h; ++oy) {
        const int y0 = oy * p->stride_h - p->pad_h;
        const int fy0 = y0 < 0 ? -y0 : 0;
        const int fy1 = p->in_h - y0 < p->f_h ? p->in_h - y0 : p->f_h;
        for (int ox = 0; ox < p->out_w; ++ox) {
            const int x0 = ox * p->stride_w - p->pad_w;
            const int fx0 = x0 < 0 ? -x0 : 0;
            const int fx1 = p->in_w - x0 < p->f_w ? p->in_w - x0 : p->f_w;
            const int32_t count = (fy1 - fy0) * (fx1 - fx0);
            int8_t *o = out + ((int32_t)oy * p->out_w + ox) * c_n;
            int c = 0;
#ifdef TD_DSP
            for (; count > 0 && count <= 256 && c + 4 <= c_n; c += 4) {
                int32_t even = 0, odd = 0;  /* channels (c, c + 2) and (c + 1, c + 3) */
                for (int fy = fy0; fy < fy1; ++fy) {
                    const int8_t *px = in + ((int32_t)(y0 + fy) * p->in_w + x0 + fx0) * c_n + c;
                    for (int fx = fx0; fx < fx1; ++fx, px += c_n) {
                        const int32_t v = td_ld32(px);
                        even = __sadd16(even, __sxtb16(v));
                        odd = __sadd16(odd, td_sxtb16_hi(v));
                    }
                }
                const int32_t sums[4] = {(int16_t)even, (int16_t)odd, even >> 16, odd >> 16};
                for (int j = 0; j < 4; ++j)
                    o[c + j] = (int8_t)td_clamp(rounded_mean(sums[j], count), p->act_min, p->act_max);
            }
#endif
            for (; c < c_n; ++c) {
                int32_t acc = 0;
                for (int fy = fy0; fy < fy1; ++fy)
                    for (int fx = fx0; fx < fx1; ++fx)
                        acc += in[((int32_t)(y0 + fy) * p->in_w + (x0 + fx)) * c_n + c];
                o[c] = (int8_t)td_clamp(count ? rounded_mean(acc, count) : 0, p->act_min, p->act_max);
            }
        }
    }
}
