/* FULLY_CONNECTED, int8, weights [out_depth, in_depth], per-tensor or per-channel scales.
 * With symmetric weights (filter_offset 0, TFLite's int8 rule) the input offset is folded into
 * the bias and two output rows share every input load. */
#include "td_kernels.h"
#include "td_quant.h"
#include "td_simd.h"

static inline int8_t requant(const td_fc_params *p, int32_t acc, int32_t o) {
    const int q = p->per_channel ? o : 0;
    acc = td_mbqm_single(acc, p->mult[q], p->shift[q]) + p->output_offset;
    return (int8_t)td_clamp(acc, p->act_min, p->act_max);
}

void td_fully_connected_s8(const td_fc_params *p, const int8_t *in, const int8_t *w,
                           const int32_t *bias, int8_t *out) {
    const int32_t n = p->in_depth;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *row = in + b * n;
        int8_t *ob = out + b * p->out_depth;
        if (p->bias_folded) {
            int32_t o = 0;
            for (; o + 2 <= p->out_depth; o += 2) {
                int32_t acc[2] = {p->bias_folded[o], p->bias_folded[o + 1]};
                td_dot_2x1_s8(w + o * n, w + (o + 1) * n, row, n, acc);
                ob[o] = requant(p, acc[0], o);
                ob[o + 1] = requant(p, acc[1], o + 1);
            }
            for (; o < p->out_depth; ++o)
                ob[o] = requant(p, td_dot_s8(p->bias_folded[o], w + o * n, row, n), o);
            continue;
        }
        for (int32_t o = 0; o < p->out_depth; ++o) {
            const int8_t *wr = w + o * n;
            int32_t acc = bias ? bias[o] : 0;
            for (int32_t d = 0; d < n; ++d)
                acc += ((int32_t)wr[d] + p->filter_offset) * ((int32_t)row[d] + p->input_offset);
            ob[o] = requant(p, acc, o);
        }
    }
}
