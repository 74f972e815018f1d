/* BATCH_MATMUL, int8, as TFLite's reference EvalInt8Int8: per output the int32 sum over the shared
 * dimension of (lhs + lhs_offset) * (rhs + rhs_offset), requantized with td_mbqm, plus the output
 * zero point, clamped to int8. Operands are read in place through strides (adj_x, adj_y and
 * broadcast batch dimensions, whose batch stride is 0). */
#include "td_kernels.h"
#include "td_quant.h"

void td_batch_matmul_s8(const td_batch_matmul_params *p, const int8_t *lhs, const int8_t *rhs,
                        int8_t *out) {
    const int32_t a_off = p->lhs_offset, b_off = p->rhs_offset;
    const int32_t a_rs = p->lhs_row_stride, a_ks = p->lhs_depth_stride;
    const int32_t b_ks = p->rhs_depth_stride, b_cs = p->rhs_col_stride;
    for (int32_t b0 = 0; b0 < p->batch[0]; ++b0)
    for (int32_t b1 = 0; b1 < p->batch[1]; ++b1)
    for (int32_t b2 = 0; b2 < p->batch[2]; ++b2) {
        const int8_t *a = lhs + b0 * p->lhs_batch_stride[0] + b1 * p->lhs_batch_stride[1] +
                          b2 * p->lhs_batch_stride[2];
        const int8_t *b = rhs + b0 * p->rhs_batch_stride[0] + b1 * p->rhs_batch_stride[1] +
                          b2 * p->rhs_batch_stride[2];
        for (int32_t i = 0; i < p->rows; ++i) {
            const int8_t *row = a + i * a_rs;
            for (int32_t j = 0; j < p->cols; ++j) {
                const int8_t *col = b + j * b_cs;
                int32_t acc = 0;
                for (int32_t k = 0; k < p->depth; ++k)
                    acc += (row[k * a_ks] + a_off) * (col[k * b_ks] + b_off);
                const int32_t v = td_mbqm(acc, p->multiplier, p->shift) + p->output_offset;
                *out++ = (int8_t)td_clamp(v, -128, 127);
            }
        }
    }
}
