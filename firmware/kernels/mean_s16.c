/* MEAN, int16 (16x8 models), over any subset of 4 dimensions, as TensorFlow 2.21's
 * QuantizedMeanOrSum: the int32 sum of each output's N values, requantized with the 1/N folded
 * into the multiplier at compile time (td_mbqm(sum - N * zp_in) + zp_out), clamped to int16. */
#include "td_kernels.h"
#include "td_quant.h"

void td_mean_s16(const td_mean_params *p, const int16_t *in, int16_t *out) {
    const int32_t *d = p->dims, *r = p->reduce;
    int32_t st[4];
    st[3] = 1;
    for (int k = 2; k >= 0; --k) st[k] = st[k + 1] * d[k + 1];
    const int32_t offset = -p->count * p->input_zero_point;
    int32_t o = 0;
    for (int32_t a = 0; a < (r[0] ? 1 : d[0]); ++a)
    for (int32_t b = 0; b < (r[1] ? 1 : d[1]); ++b)
    for (int32_t c = 0; c < (r[2] ? 1 : d[2]); ++c)
    for (int32_t e = 0; e < (r[3] ? 1 : d[3]); ++e) {
        int32_t sum = offset;
        for (int32_t i = 0; i < (r[0] ? d[0] : 1); ++i)
        for (int32_t j = 0; j < (r[1] ? d[1] : 1); ++j)
        for (int32_t k = 0; k < (r[2] ? d[2] : 1); ++k)
        for (int32_t l = 0; l < (r[3] ? d[3] : 1); ++l)
            sum += in[(a + i) * st[0] + (b + j) * st[1] + (c + k) * st[2] + (e + l)];
        const int32_t v = td_mbqm(sum, p->multiplier, p->shift) + p->output_zero_point;
        out[o++] = (int16_t)td_clamp(v, -32768, 32767);
    }
}
