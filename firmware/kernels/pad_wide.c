/* PAD and PADV2 on two- and four-byte elements (int16; float32 and int32), 4-D: the output filled
 * with the pad value (the output's zero point, PADV2's constant, or 0.0f as its bit pattern), then
 * the input copied in row by row. */
#include "td_kernels.h"

#define TD_PAD_BODY(type)                                                                        \
    const int32_t *od = p->out_dims, *id = p->in_dims, *bf = p->before;                          \
    const int32_t total = od[0] * od[1] * od[2] * od[3];                                         \
    const type fill = (type)p->pad_value;                                                        \
    for (int32_t i = 0; i < total; ++i) out[i] = fill;                                           \
    for (int32_t a = 0; a < id[0]; ++a)                                                          \
    for (int32_t b = 0; b < id[1]; ++b)                                                          \
    for (int32_t c = 0; c < id[2]; ++c) {                                                        \
        const type *src = in + ((a * id[1] + b) * id[2] + c) * id[3];                            \
        type *dst = out + (((a + bf[0]) * od[1] + (b + bf[1])) * od[2] + (c + bf[2])) * od[3]    \
                    + bf[3];                                                                     \
        for (int32_t d = 0; d < id[3]; ++d) dst[d] = src[d];                                     \
    }

void td_pad_16(const td_pad_params *p, const int16_t *in, int16_t *out) {
    TD_PAD_BODY(int16_t)
}

void td_pad_32(const td_pad_params *p, const uint32_t *in, uint32_t *out) {
    TD_PAD_BODY(uint32_t)
}
