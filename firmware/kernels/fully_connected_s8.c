/* FULLY_CONNECTED, int8, weights [out_depth, in_depth], per-tensor or per-channel scales. */
#include "td_kernels.h"
#include "td_quant.h"

void td_fully_connected_s8(const td_fc_params *p, const int8_t *in, const int8_t *w,
                           const int32_t *bias, int8_t *out) {
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *row = in + b * p->in_depth;
        for (int32_t o = 0; o < p->out_depth; ++o) {
            const int8_t *wr = w + o * p->in_depth;
            int32_t acc = 0;
            for (int32_t d = 0; d < p->in_depth; ++d)
                acc += ((int32_t)wr[d] + p->filter_offset) * ((int32_t)row[d] + p->input_offset);
            if (bias) acc += bias[o];
            const int q = p->per_channel ? o : 0;
            acc = td_mbqm_single(acc, p->mult[q], p->shift[q]) + p->output_offset;
            out[b * p->out_depth + o] = (int8_t)td_clamp(acc, p->act_min, p->act_max);
        }
    }
}
