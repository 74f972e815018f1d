/* SUM, int16 (16x8 models), as TFLite Micro's reference QuantizedMeanOrSum computes a sum: the
 * int32 sum of each output's N reduced elements, less N times the input zero point (p->offset),
 * requantized by input scale / output scale (td_mbqm), plus the output zero point, clamped to int16
 * (LiteRT 2.3's reference reads the int16 buffer as unsigned bytes instead). */
#include "td_kernels.h"
#include "td_quant.h"

void td_sum_s16(const td_reduce_params *p, const int16_t *in, int16_t *out) {
    const int32_t *kn = p->kept, *ks = p->kept_stride, *rn = p->red, *rs = p->red_stride;
    int32_t o = 0;
    for (int32_t a = 0; a < kn[0]; ++a)
    for (int32_t b = 0; b < kn[1]; ++b)
    for (int32_t c = 0; c < kn[2]; ++c) {
        const int16_t *base = in + a * ks[0] + b * ks[1] + c * ks[2];
        int32_t sum = p->offset;
        for (int32_t i = 0; i < rn[0]; ++i)
        for (int32_t j = 0; j < rn[1]; ++j)
        for (int32_t k = 0; k < rn[2]; ++k)
            sum += base[i * rs[0] + j * rs[1] + k * rs[2]];
        const int32_t v = td_mbqm(sum, p->multiplier, p->shift) + p->output_zero_point;
        out[o++] = (int16_t)td_clamp(v, -32768, 32767);
    }
}
