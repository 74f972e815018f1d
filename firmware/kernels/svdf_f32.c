/* SVDF, float32, as TFLite's reference EvalFloatSVDF: the state (one row of `n_memory` values
 * per filter and batch) shifts left by one value; each filter's new value is its feature dot
 * product; each filter's state . weights_time dot product, the `rank` of them of a unit summed
 * from 0 in order, plus the bias, then the fused activation. Dot products are summed in the
 * order of the reference machine's (td_dot4_f32). The state is a variable tensor: it carries
 * over between invocations. */
#include <string.h>
#include "td_kernels.h"
#include "td_wide.h"

void td_svdf_f32(const td_svdf_f32_params *p, const float *in, const float *weights_feature,
                 const float *weights_time, const float *bias, float *state, float *out) {
    const int32_t n_filter = p->n_filter, n_memory = p->n_memory, n_input = p->n_input;
    const int32_t total = p->n_batch * n_memory * n_filter;
    if (total > 1) memmove(state, state + 1, (size_t)(total - 1) * sizeof *state);
    for (int32_t b = 0; b < p->n_batch; ++b) {
        const float *x = in + b * n_input;
        float *rows = state + b * n_memory * n_filter;
        for (int32_t f = 0; f < n_filter; ++f) {
            const float *w = weights_feature + f * n_input;
            rows[f * n_memory + n_memory - 1] = 0.0f + td_dot4_f32(w, x, n_input);
        }
        for (int32_t u = 0; u < p->n_unit; ++u) {
            float sum = 0.0f;
            for (int32_t f = u * p->rank; f < (u + 1) * p->rank; ++f) {
                sum += td_dot4_f32(weights_time + f * n_memory, rows + f * n_memory, n_memory);
            }
            if (bias) sum += bias[u];
            out[b * p->n_unit + u] = td_activation_f32(p->activation, sum);
        }
    }
}
