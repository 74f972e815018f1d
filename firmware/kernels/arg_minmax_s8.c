/* ARG_MAX and ARG_MIN, int8 input, over the middle dimension of [outer, axis_size, inner]: the
 * index of the first largest (smallest) value, as TFLite's reference ArgMinMax (strict compare). */
#include "td_kernels.h"

/* The winning index for the row at in (stride inner between its values). */
static int32_t arg_index(const int8_t *in, int32_t size, int32_t inner, int32_t is_max) {
    int32_t best = in[0], index = 0;
    for (int32_t i = 1; i < size; ++i) {
        const int32_t v = in[i * inner];
        if (is_max ? v > best : v < best) {
            best = v;
            index = i;
        }
    }
    return index;
}

void td_arg_minmax_s8_i32(const td_arg_minmax_params *p, const int8_t *in, int32_t *out) {
    for (int32_t o = 0; o < p->outer; ++o)
        for (int32_t i = 0; i < p->inner; ++i)
            out[o * p->inner + i] =
                arg_index(in + o * p->axis_size * p->inner + i, p->axis_size, p->inner, p->is_max);
}

void td_arg_minmax_s8_i64(const td_arg_minmax_params *p, const int8_t *in, int64_t *out) {
    for (int32_t o = 0; o < p->outer; ++o)
        for (int32_t i = 0; i < p->inner; ++i)
            out[o * p->inner + i] =
                arg_index(in + o * p->axis_size * p->inner + i, p->axis_size, p->inner, p->is_max);
}
