/* SVDF, int8, as TFLite's reference EvalIntegerSVDF: the int16 activation state (one row of
 * `n_memory` values per filter and batch) shifts left by one value, each filter's new value is
 * its feature dot product requantized to int16, then every unit sums its `rank` filters'
 * state . weights_time products, adds its bias and requantizes to int8. The model says RELU; the
 * reference's integer kernel clamps to int8 only, and so does this one. int32 sums wrap as the
 * reference's do (they are computed here in uint32). */
#include <string.h>
#include "td_kernels.h"
#include "td_quant.h"

void td_svdf_s8(const td_svdf_params *p, const int8_t *in, const int8_t *weights_feature,
                const int16_t *weights_time, const int32_t *bias, int16_t *state, int8_t *out) {
    const int32_t n_filter = p->n_filter, n_memory = p->n_memory, n_input = p->n_input;
    const int32_t total = p->n_batch * n_memory * n_filter;
    if (total > 1) memmove(state, state + 1, (size_t)(total - 1) * sizeof *state);
    for (int32_t b = 0; b < p->n_batch; ++b) {
        const int8_t *x = in + b * n_input;
        int16_t *rows = state + b * n_memory * n_filter;
        for (int32_t f = 0; f < n_filter; ++f) {
            const int8_t *w = weights_feature + f * n_input;
            int32_t acc = 0;
            for (int32_t c = 0; c < n_input; ++c) acc += (int32_t)w[c] * (x[c] - p->input_zp);
            const int32_t v = td_mbqm(acc, p->feature_mult, p->feature_shift);
            rows[f * n_memory + n_memory - 1] = (int16_t)td_clamp(v, -32768, 32767);
        }
        for (int32_t u = 0; u < p->n_unit; ++u) {
            uint32_t acc = bias ? (uint32_t)bias[u] : 0u;
            for (int32_t f = u * p->rank; f < (u + 1) * p->rank; ++f) {
                const int16_t *s = rows + f * n_memory, *w = weights_time + f * n_memory;
                uint32_t dot = 0;
                for (int32_t m = 0; m < n_memory; ++m) dot += (uint32_t)((int32_t)w[m] * s[m]);
                acc += dot;
            }
            const int32_t v = td_mbqm((int32_t)acc, p->output_mult, p->output_shift);
            out[b * p->n_unit + u] = (int8_t)td_clamp(v + p->output_zp, -128, 127);
        }
    }
}
