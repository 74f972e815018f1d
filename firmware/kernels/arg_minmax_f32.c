/* ARG_MAX and ARG_MIN, float32 input, over the middle dimension of [outer, axis_size, inner]: the
 * index of the first largest (smallest) value, as LiteRT's ArgMinMax finds it: from the lowest
 * (largest) float with index 0, each value compared strictly with the best so far, so a tie keeps
 * the first index and a NaN never wins (nor blocks a later value). */
#include <float.h>
#include "td_kernels.h"

/* The winning index for the row at in (stride inner between its values). */
static int32_t arg_index(const float *in, int32_t size, int32_t inner, int32_t is_max) {
    float best = is_max ? -FLT_MAX : FLT_MAX;
    int32_t index = 0;
    for (int32_t i = 0; i < size; ++i) {
        const float v = in[i * inner];
        if (is_max ? v > best : v < best) {
            best = v;
            index = i;
        }
    }
    return index;
}

void td_arg_minmax_f32_i32(const td_arg_minmax_params *p, const float *in, int32_t *out) {
    for (int32_t o = 0; o < p->outer; ++o)
        for (int32_t i = 0; i < p->inner; ++i)
            out[o * p->inner + i] =
                arg_index(in + o * p->axis_size * p->inner + i, p->axis_size, p->inner, p->is_max);
}

void td_arg_minmax_f32_i64(const td_arg_minmax_params *p, const float *in, int64_t *out) {
    for (int32_t o = 0; o < p->outer; ++o)
        for (int32_t i = 0; i < p->inner; ++i)
            out[o * p->inner + i] =
                arg_index(in + o * p->axis_size * p->inner + i, p->axis_size, p->inner, p->is_max);
}
