/* BROADCAST_ARGS of two shapes computed at run time, as TFLite's reference BroadcastArgs: aligned
 * at their last dimension, a missing dimension counts as 1, a 1 takes the other shape's value,
 * otherwise the first shape's (TFLite aborts where neither is 1 and they differ). TFLite reads each
 * value as an int: int64 values are truncated to their low 32 bits, as on its x86. */
#include "td_kernels.h"

#define TD_BROADCAST_ARGS(T)                                                                      \
    for (int32_t i = 0; i < p->out_len; ++i) {                                                    \
        const int32_t a = i < p->len1 ? (int32_t)s1[p->len1 - 1 - i] : 1;                        \
        const int32_t b = i < p->len2 ? (int32_t)s2[p->len2 - 1 - i] : 1;                        \
        out[p->out_len - 1 - i] = (T)(a == 1 ? b : a);                                            \
    }

void td_broadcast_args_s32(const td_broadcast_args_params *p, const int32_t *s1,
                           const int32_t *s2, int32_t *out) {
    TD_BROADCAST_ARGS(int32_t)
}

void td_broadcast_args_s64(const td_broadcast_args_params *p, const int64_t *s1,
                           const int64_t *s2, int64_t *out) {
    TD_BROADCAST_ARGS(int64_t)
}
