/* REDUCE_PROD, int16 (16x8 models), as TFLite's QuantizedReduceProd<int16_t>: the first reduced
 * element (zero points are 0), then each product with the next element rescaled through TFLite's
 * int64 MultiplyByQuantizedMultiplier (16-bit multiplier p->multiplier, right shift p->shift, one
 * rounding), in the input's row-major order; the same rescale once more, and the int16 clamp. */
#include "td_kernels.h"
#include "td_quant.h"

/* x * multiplier / 2^shift rounded half up; the int32 result wraps as TFLite's cast does. */
static int32_t rescale64(int64_t x, int32_t multiplier, int32_t shift) {
    const int64_t r = x * multiplier + ((int64_t)1 << (shift - 1));
    return (int32_t)(uint32_t)(uint64_t)(r >> shift);
}

void td_reduce_prod_s16(const td_reduce_params *p, const int16_t *in, int16_t *out) {
    const int32_t *kn = p->kept, *ks = p->kept_stride, *rn = p->red, *rs = p->red_stride;
    int32_t o = 0;
    for (int32_t a = 0; a < kn[0]; ++a)
    for (int32_t b = 0; b < kn[1]; ++b)
    for (int32_t c = 0; c < kn[2]; ++c) {
        const int16_t *base = in + a * ks[0] + b * ks[1] + c * ks[2];
        int32_t prod = base[0];
        int first = 1;
        for (int32_t i = 0; i < rn[0]; ++i)
        for (int32_t j = 0; j < rn[1]; ++j)
        for (int32_t k = 0; k < rn[2]; ++k) {
            if (first) {
                first = 0;
                continue;
            }
            prod = rescale64((int64_t)prod * base[i * rs[0] + j * rs[1] + k * rs[2]],
                             p->multiplier, p->shift);
        }
        out[o++] = (int16_t)td_clamp(rescale64(prod, p->multiplier, p->shift), -32768, 32767);
    }
}
