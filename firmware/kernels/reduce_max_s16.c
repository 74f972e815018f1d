/* REDUCE_MAX, int16 (16x8 models): the largest stored value of each output's reduced elements
 * (input and output share scale and zero point). Geometry: td_reduce_params. */
#include "td_kernels.h"

void td_reduce_max_s16(const td_reduce_params *p, const int16_t *in, int16_t *out) {
    const int32_t *kn = p->kept, *ks = p->kept_stride, *rn = p->red, *rs = p->red_stride;
    int32_t o = 0;
    for (int32_t a = 0; a < kn[0]; ++a)
    for (int32_t b = 0; b < kn[1]; ++b)
    for (int32_t c = 0; c < kn[2]; ++c) {
        const int16_t *base = in + a * ks[0] + b * ks[1] + c * ks[2];
        int32_t m = -32768;
        for (int32_t i = 0; i < rn[0]; ++i)
        for (int32_t j = 0; j < rn[1]; ++j)
        for (int32_t k = 0; k < rn[2]; ++k) {
            const int32_t v = base[i * rs[0] + j * rs[1] + k * rs[2]];
            if (v > m) m = v;
        }
        out[o++] = (int16_t)m;
    }
}
