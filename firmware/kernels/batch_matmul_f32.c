/* BATCH_MATMUL, float32, as TFLite's reference: per output the products over the shared
 * dimension summed from 0 in order (no bias, no activation). Operands are read in place through
 * strides (adj_x, adj_y and broadcast batch dimensions, whose batch stride is 0). */
#include "td_kernels.h"

void td_batch_matmul_f32(const td_batch_matmul_params *p, const float *lhs, const float *rhs,
                         float *out) {
    const int32_t a_rs = p->lhs_row_stride, a_ks = p->lhs_depth_stride;
    const int32_t b_ks = p->rhs_depth_stride, b_cs = p->rhs_col_stride;
    for (int32_t b0 = 0; b0 < p->batch[0]; ++b0)
    for (int32_t b1 = 0; b1 < p->batch[1]; ++b1)
    for (int32_t b2 = 0; b2 < p->batch[2]; ++b2) {
        const float *a = lhs + b0 * p->lhs_batch_stride[0] + b1 * p->lhs_batch_stride[1] +
                         b2 * p->lhs_batch_stride[2];
        const float *b = rhs + b0 * p->rhs_batch_stride[0] + b1 * p->rhs_batch_stride[1] +
                         b2 * p->rhs_batch_stride[2];
        for (int32_t i = 0; i < p->rows; ++i) {
            const float *row = a + i * a_rs;
            for (int32_t j = 0; j < p->cols; ++j) {
                const float *col = b + j * b_cs;
                float total = 0.0f;
                for (int32_t k = 0; k < p->depth; ++k) total += row[k * a_ks] * col[k * b_ks];
                *out++ = total;
            }
        }
    }
}
