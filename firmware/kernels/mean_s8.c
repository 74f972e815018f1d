/* MEAN, int8, over any subset of 4 dimensions. As TFLite (2.21) does it: the 1/N of the mean is
 * folded into the requantization multiplier at compile time, so each output is one
 * td_mbqm(sum(x) - N * zp_in) + zp_out. */
#include "td_kernels.h"
#include "td_quant.h"

void td_mean_s8(const td_mean_params *p, const int8_t *in, int8_t *out) {
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
        int32_t v = td_mbqm(sum, p->multiplier, p->shift) + p->output_zero_point;
        out[o++] = (int8_t)td_clamp(v, -128, 127);
    }
}
