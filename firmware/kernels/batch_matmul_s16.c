/* BATCH_MATMUL, int16 x int16 -> int16 (zero points 0), as TFLite's reference EvalInt16: per
 * output the int64 sum over the shared dimension of the products, requantized with td_mbqm64 and
 * clamped to int16 (no fused activation). Operands are read in place through strides (adj_x,
 * adj_y and broadcast batch dimensions, whose batch stride is 0). */
#include "td_kernels.h"
#include "td_quant.h"
#include "td_wide.h"

void td_batch_matmul_s16(const td_batch_matmul_params *p, const int16_t *lhs, const int16_t *rhs,
                         int16_t *out) {
    const int32_t a_rs = p->lhs_row_stride, a_ks = p->lhs_depth_stride;
    const int32_t b_ks = p->rhs_depth_stride, b_cs = p->rhs_col_stride;
    for (int32_t b0 = 0; b0 < p->batch[0]; ++b0)
    for (int32_t b1 = 0; b1 < p->batch[1]; ++b1)
    for (int32_t b2 = 0; b2 < p->batch[2]; ++b2) {
        const int16_t *a = lhs + b0 * p->lhs_batch_stride[0] + b1 * p->lhs_batch_stride[1] +
                           b2 * p->lhs_batch_stride[2];
        const int16_t *b = rhs + b0 * p->rhs_batch_stride[0] + b1 * p->rhs_batch_stride[1] +
                           b2 * p->rhs_batch_stride[2];
        for (int32_t i = 0; i < p->rows; ++i) {
            const int16_t *row = a + i * a_rs;
            for (int32_t j = 0; j < p->cols; ++j) {
                const int16_t *col = b + j * b_cs;
                int64_t acc = 0;
                for (int32_t k = 0; k < p->depth; ++k)
                    acc += (int32_t)row[k * a_ks] * col[k * b_ks];
                const int32_t v = td_mbqm64(acc, p->multiplier, p->shift);
                *out++ = (int16_t)td_clamp(v, -32768, 32767);
            }
        }
    }
}
