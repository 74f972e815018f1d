/* REDUCE_PROD, int8, as TFLite's QuantizedReduceProd: the first reduced element less the zero
 * point, then each product with the next (element - zero point) rescaled through TFLite's int64
 * MultiplyByQuantizedMultiplier (16-bit multiplier p->multiplier, right shift p->shift, one
 * rounding), in the input's row-major order; the same rescale once more, the output zero point,
 * and the int8 clamp. */
#include "td_kernels.h"
#include "td_quant.h"

/* x * multiplier / 2^shift rounded half up; the int32 result wraps as TFLite's cast does. */
static int32_t rescale64(int64_t x, int32_t multiplier, int32_t shift) {
    const int64_t r = x * multiplier + ((int64_t)1 << (shift - 1));
    return (int32_t)(uint32_t)(uint64_t)(r >> shift);
}

void td_reduce_prod_s8(const td_reduce_params *p, const int8_t *in, int8_t *out) {
    const int32_t *kn = p->kept, *ks = p->kept_stride, *rn = p->red, *rs = p->red_stride;
    const int32_t zp = p->input_zero_point;
    int32_t o = 0;
    for (int32_t a = 0; a < kn[0]; ++a)
    for (int32_t b = 0; b < kn[1]; ++b)
    for (int32_t c = 0; c < kn[2]; ++c) {
        const int8_t *base = in + a * ks[0] + b * ks[1] + c * ks[2];
        int32_t prod = base[0] - zp;
        int first = 1;
        for (int32_t i = 0; i < rn[0]; ++i)
        for (int32_t j = 0; j < rn[1]; ++j)
        for (int32_t k = 0; k < rn[2]; ++k) {
            if (first) {
                first = 0;
                continue;
            }
            const int32_t v = base[i * rs[0] + j * rs[1] + k * rs[2]] - zp;
            prod = rescale64((int64_t)prod * v, p->multiplier, p->shift);
        }
        const int32_t v = rescale64(prod, p->multiplier, p->shift) + p->output_zero_point;
        out[o++] = (int8_t)td_clamp(v, -128, 127);
    }
}
