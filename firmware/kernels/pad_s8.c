/* PAD, int8, 4-D: the output is filled with the pad value (the zero point), then the input copied in. */
#include "td_kernels.h"

void td_pad_s8(const td_pad_params *p, const int8_t *in, int8_t *out) {
    const int32_t *od = p->out_dims, *id = p->in_dims, *bf = p->before;
    const int8_t fill = (int8_t)p->pad_value;
    int32_t total = od[0] * od[1] * od[2] * od[3];
    for (int32_t i = 0; i < total; ++i) out[i] = fill;
    for (int32_t a = 0; a < id[0]; ++a)
    for (int32_t b = 0; b < id[1]; ++b)
    for (int32_t c = 0; c < id[2]; ++c) {
        const int8_t *src = in + ((a * id[1] + b) * id[2] + c) * id[3];
        int8_t *dst = out + (((a + bf[0]) * od[1] + (b + bf[1])) * od[2] + (c + bf[2])) * od[3] + bf[3];
        for (int32_t d = 0; d < id[3]; ++d) dst[d] = src[d];
    }
}
