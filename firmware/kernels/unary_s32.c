/* ABS and NEG on int32, wrapping at INT32_MIN as TFLite's std::abs and negation do on x86. */
#include "td_kernels.h"
#include "td_broadcast.h"

void td_unary_s32(const td_unary_params *p, const int32_t *in, int32_t *out) {
    const int abs_op = p->op == TD_UNARY_ABS;
    for (int32_t i = 0; i < p->size; ++i) {
        const int32_t x = in[i];
        out[i] = (abs_op && x >= 0) ? x : td_neg_wrap(x);
    }
}
