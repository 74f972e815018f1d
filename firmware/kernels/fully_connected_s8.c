/* FULLY_CONNECTED, int8, weights [out_depth, in_depth], per-tensor or per-channel scales.
 * With symmetric weights (filter_offset 0, TFLite's int8 rule) the input offset is folded into
 * the bias and four output rows share every input load (weights in a td_matmul.h layout: int8 or
 * pre-widened blocks, or plain rows for Helium). With pre-widened weights the input row is widened
 * once into the scratch where the memory plan left room for it (p->wide_input). */
#include "td_kernels.h"
#include "td_matmul.h"
#include "td_quant.h"

static inline int8_t fc_out(const td_fc_params *p, int32_t acc, int32_t o) {
    const int32_t q = p->per_channel ? o : 0;
    const int32_t v = p->rq ? td_requant_fc(p->rq + 3 * q, acc)
                      : (p->double_rounding ? td_mbqm(acc, p->mult[q], p->shift[q])
                                            : td_mbqm_single(acc, p->mult[q], p->shift[q]))
                        + p->output_offset;
    return (int8_t)td_clamp(v, p->act_min, p->act_max);
}

/* The last n < 4 values of four rows: the tail group of the blocked layout. */
static void fc_tail(const void *w, int layout, const int8_t *x, int32_t n, int32_t acc[4]) {
    static const int8_t pos_wide[4] = {0, 2, 1, 3};  /* value j of a group sits at pos_wide[j] */
    for (int r = 0; r < 4; ++r)
        for (int32_t j = 0; j < n; ++j)
            acc[r] += x[j] * (layout == TD_W16 ? ((const int16_t *)w)[4 * r + pos_wide[j]]
                                               : ((const int8_t *)w)[4 * r + j]);
}

/* Scratch: where wide_input was granted, the input row widened (2 bytes per value of its whole
 * groups of four). */
int32_t td_fully_connected_s8_scratch(const td_fc_params *p) {
    return p->wide_input ? 2 * (p->in_depth & ~3) : 0;
}

void td_fully_connected_s8(const td_fc_params *p, const int8_t *in, const void *w,
                           const int32_t *bias, int8_t *restrict out, int8_t *scratch) {
    const int32_t n = p->in_depth, k4 = (n + 3) & ~3, groups = n >> 2;
    const int32_t *rq = p->rq, lo = p->act_min, hi = p->act_max, sat8 = lo == -128 && hi == 127;
    const int layout = p->layout, per_channel = p->per_channel;
    const int wide_input = p->wide_input && layout == TD_W16 && groups;
    int16_t *xw = (int16_t *)(void *)scratch;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *row = in + b * n;
        int8_t *ob = out + b * p->out_depth;
        if (wide_input) td_widen_groups(row, groups, xw);
        if (p->bias_folded) {
            for (int32_t o = 0; o < p->out_depth; o += 4) {
                int32_t acc[4] = {p->bias_folded[o], p->bias_folded[o + 1], p->bias_folded[o + 2],
                                  p->bias_folded[o + 3]};
                const int16_t *w16 = (const int16_t *)w + o * k4;
                const int8_t *w8 = (const int8_t *)w + o * k4;
                if (layout == TD_ROWS) {
                    td_dot_rows_4x1(w8, k4, row, n, acc);
                } else {
                    if (wide_input)
                        td_mm_4x1_w16x(w16, xw, groups, acc);
                    else if (groups && layout == TD_W16)
                        td_mm_4x1_w16(w16, row, groups, acc);
                    else if (groups)
                        td_mm_4x1_w8(w8, row, groups, acc);
                    if (n & 3)
                        fc_tail(layout == TD_W16 ? (const void *)(w16 + 16 * groups)
                                                 : (const void *)(w8 + 16 * groups),
                                layout, row + 4 * groups, n & 3, acc);
                }
                if (rq && o + 4 <= p->out_depth) {  /* fast records, a whole block */
                    const int32_t *r0 = rq + (per_channel ? 3 * o : 0), step = per_channel ? 3 : 0;
                    if (sat8)
                        for (int j = 0; j < 4; ++j, r0 += step)
                            ob[o + j] = (int8_t)td_sat8(td_requant_fc(r0, acc[j]));
                    else
                        for (int j = 0; j < 4; ++j, r0 += step)
                            ob[o + j] = (int8_t)td_clamp(td_requant_fc(r0, acc[j]), lo, hi);
                } else {
                    for (int32_t j = 0; j < 4 && o + j < p->out_depth; ++j)
                        ob[o + j] = fc_out(p, acc[j], o + j);
                }
            }
            continue;
        }
        for (int32_t o = 0; o < p->out_depth; ++o) {
            const int8_t *wr = (const int8_t *)w + o * n;
            int32_t acc = bias ? bias[o] : 0;
            for (int32_t d = 0; d < n; ++d)
                acc += ((int32_t)wr[d] + p->filter_offset) * ((int32_t)row[d] + p->input_offset);
            ob[o] = fc_out(p, acc, o);
        }
    }
}
